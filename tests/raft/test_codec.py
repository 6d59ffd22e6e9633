"""Raft messages survive the wire exactly, and anything else is refused before the core."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from raft.codec import BadMessageError, decode_batch, encode_batch
from raft.types import Entry, Message, MessageType, Snapshot, SnapshotMeta

ids = st.sampled_from(["nn1", "nn2", "nn3"])
small = st.integers(0, 2**40)
entries = st.builds(Entry, small, small, st.binary(max_size=64))
snapshots = st.builds(
    Snapshot,
    st.builds(SnapshotMeta, small, small, st.lists(ids, max_size=3).map(tuple)),
    st.binary(max_size=64),
)
messages = st.builds(
    Message,
    type=st.sampled_from(MessageType),
    to=ids,
    frm=ids,
    term=small,
    log_term=small,
    index=small,
    entries=st.lists(entries, max_size=4).map(tuple),
    commit=small,
    reject=st.booleans(),
    reject_hint=small,
    snapshot=st.none() | snapshots,
    context=st.binary(max_size=16),
)


@given(st.lists(messages, max_size=5))
def test_every_message_round_trips(batch: list[Message]) -> None:
    assert decode_batch(encode_batch(batch)) == batch


@pytest.mark.parametrize(
    "body",
    [
        b"\xff not json",
        b"[]",
        json.dumps({"v": 2, "messages": []}).encode(),
        json.dumps({"v": 1, "messages": {}}).encode(),
        json.dumps({"v": 1, "messages": [{"type": "shout", "to": "a", "frm": "b"}]}).encode(),
        json.dumps({"v": 1, "messages": [{"type": "vote", "to": "", "frm": "b"}]}).encode(),
        json.dumps({"v": 1, "messages": [{"type": "vote", "to": "a", "frm": "b", "term": -1}]}),
        json.dumps(
            {"v": 1, "messages": [{"type": "vote", "to": "a", "frm": "b", "term": True}]}
        ).encode(),
        json.dumps(
            {"v": 1, "messages": [{"type": "append", "to": "a", "frm": "b", "entries": [[1, 2]]}]}
        ).encode(),
        json.dumps(
            {
                "v": 1,
                "messages": [
                    {"type": "append", "to": "a", "frm": "b", "entries": [[1, 2, "!!notb64"]]}
                ],
            }
        ).encode(),
    ],
)
def test_anything_else_is_refused(body: bytes | str) -> None:
    with pytest.raises(BadMessageError):
        decode_batch(body.encode() if isinstance(body, str) else body)


def test_terms_and_indexes_past_2_62_are_refused() -> None:
    """A term near the u64 bound would leave the group no term to elect its next leader in
    (the log stores terms as u64): such a message never reaches the core."""
    for field in ("term", "index", "commit", "log_term"):
        message = {"type": "heartbeat", "to": "a", "frm": "b", field: 1 << 62}
        with pytest.raises(BadMessageError, match="2\\*\\*62"):
            decode_batch(json.dumps({"v": 1, "messages": [message]}).encode())
    deep = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(BadMessageError):
        decode_batch(deep)
