"""Raft messages on the wire: JSON, bytes in base64. Decoding is strict: anything that is not
exactly a message of this version is refused with `BadMessageError` before the core sees
it (a peer's request has been authenticated by then; this guards against a peer of
another version, or a bug, not against strangers)."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from raft.types import Entry, Message, MessageType, Snapshot, SnapshotMeta

VERSION = 1
MAX_ID = 64
# Terms and indexes are stored as u64: a peer's term near that bound would leave no term
# to elect the next leader in. 2**62 is more than any group will ever count to.
MAX_INT = 1 << 62
# Messages in one batch: a sender sends at most 256 at a time, and answers one batch with
# no more than it was sent, give or take a few.
MAX_MESSAGES = 4096


class BadMessageError(ValueError):
    pass


def encode_batch(messages: list[Message]) -> bytes:
    batch = {"v": VERSION, "messages": [_message(m) for m in messages]}
    return json.dumps(batch, separators=(",", ":")).encode()


def decode_batch(data: bytes) -> list[Message]:
    try:
        batch = json.loads(data)
    except (ValueError, RecursionError) as e:
        raise BadMessageError(f"not JSON: {e}") from None
    if not isinstance(batch, dict) or batch.get("v") != VERSION:
        raise BadMessageError(f"not a batch of version {VERSION}")
    items = batch.get("messages")
    if not isinstance(items, list):
        raise BadMessageError("messages must be a list")
    if len(items) > MAX_MESSAGES:
        raise BadMessageError(f"{len(items)} messages in one batch; at most {MAX_MESSAGES}")
    return [_parse(m) for m in items]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _message(m: Message) -> dict[str, Any]:
    out: dict[str, Any] = {"type": m.type.value, "to": m.to, "frm": m.frm, "term": m.term}
    for name in ("log_term", "index", "commit", "reject_hint"):
        value = getattr(m, name)
        if value:
            out[name] = value
    if m.reject:
        out["reject"] = True
    if m.entries:
        out["entries"] = [[e.term, e.index, _b64(e.data)] for e in m.entries]
    if m.context:
        out["context"] = _b64(m.context)
    if m.snapshot is not None:
        meta = m.snapshot.meta
        out["snapshot"] = [meta.index, meta.term, list(meta.voters), _b64(m.snapshot.data)]
    return out


def _int(raw: dict[str, Any], name: str) -> int:
    value = raw.get(name, 0)
    if type(value) is not int or not 0 <= value < MAX_INT:
        raise BadMessageError(f"{name} must be an integer from 0 to 2**62")
    return value


def _id(value: Any, what: str) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= MAX_ID:
        raise BadMessageError(f"{what} must be a node id")
    return value


def _bytes(value: Any, what: str) -> bytes:
    if not isinstance(value, str):
        raise BadMessageError(f"{what} must be base64")
    try:
        return base64.b64decode(value, validate=True)
    except binascii.Error:
        raise BadMessageError(f"{what} must be base64") from None


def _parse(raw: Any) -> Message:
    if not isinstance(raw, dict):
        raise BadMessageError("a message must be an object")
    try:
        kind = MessageType(str(raw.get("type")))
    except ValueError:
        raise BadMessageError(f"unknown message type {raw.get('type')!r}") from None
    entries = raw.get("entries", [])
    if not isinstance(entries, list):
        raise BadMessageError("entries must be a list")
    parsed = []
    for e in entries:
        if not (isinstance(e, list) and len(e) == 3):
            raise BadMessageError("an entry is [term, index, data]")
        term, index = _int({"t": e[0]}, "t"), _int({"i": e[1]}, "i")
        parsed.append(Entry(term, index, _bytes(e[2], "entry data")))
    snapshot = None
    if "snapshot" in raw:
        s = raw["snapshot"]
        if not (isinstance(s, list) and len(s) == 4 and isinstance(s[2], list)):
            raise BadMessageError("a snapshot is [index, term, voters, data]")
        meta = SnapshotMeta(
            _int({"i": s[0]}, "i"), _int({"t": s[1]}, "t"), tuple(_id(v, "voter") for v in s[2])
        )
        snapshot = Snapshot(meta, _bytes(s[3], "snapshot data"))
    reject = raw.get("reject", False)
    if not isinstance(reject, bool):
        raise BadMessageError("reject must be a boolean")
    return Message(
        type=kind,
        to=_id(raw.get("to"), "to"),
        frm=_id(raw.get("frm"), "frm"),
        term=_int(raw, "term"),
        log_term=_int(raw, "log_term"),
        index=_int(raw, "index"),
        entries=tuple(parsed),
        commit=_int(raw, "commit"),
        reject=reject,
        reject_hint=_int(raw, "reject_hint"),
        snapshot=snapshot,
        context=_bytes(raw["context"], "context") if "context" in raw else b"",
    )
