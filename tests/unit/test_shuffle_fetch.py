"""A reducer keeps fetched map output only if its seal holds: the bytes are unpickled later."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from mapreduce.task import _fetch, _FetchError, shuffle_context
from minihadoop.signing import Keys, stream_mac

KEY = Keys.derive("token").seal
CONTEXT = shuffle_context("job_1", "attempt_job_1_m_000000_0", 0)
RUN = b"map output " * 50_000  # several pieces of the fetch


def serving(body: bytes) -> httpx.Client:
    return httpx.Client(transport=httpx.MockTransport(lambda _r: httpx.Response(200, content=body)))


def sealed(data: bytes, context: bytes = CONTEXT) -> bytes:
    mac = stream_mac(KEY, context)
    mac.update(data)
    return data + mac.digest()


def test_sealed_output_is_kept(tmp_path: Path) -> None:
    target = tmp_path / "in-0.run"
    with serving(sealed(RUN)) as client:
        assert _fetch(client, "http://w/x", target, KEY, CONTEXT) == len(RUN)
    assert target.read_bytes() == RUN


@pytest.mark.parametrize(
    "body",
    [
        sealed(RUN)[:1000] + b"X" + sealed(RUN)[1001:],  # one byte changed
        sealed(RUN, shuffle_context("job_1", "attempt_job_1_m_000000_0", 1)),  # another's
        RUN,  # no seal at all
        b"",
    ],
    ids=["tampered", "other-partition", "unsealed", "empty"],
)
def test_output_whose_seal_fails_is_refused_and_not_kept(tmp_path: Path, body: bytes) -> None:
    target = tmp_path / "in-0.run"
    with serving(body) as client, pytest.raises(_FetchError, match="not sealed"):
        _fetch(client, "http://w/x", target, KEY, CONTEXT)
    assert not target.exists()
