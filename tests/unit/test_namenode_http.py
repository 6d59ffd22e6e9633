"""The namenode's hot HTTP routes, in process through an ASGI transport: a stat answered by
the fast lane or from a thread gives the same answer, the native write calls answer the
shapes they declare, and the token checks hold on every path (minihadoop.server's
`json_response` and async dependencies, namenode.hotreads' fast lane for GETFILESTATUS)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.datastructures import QueryParams

from minihadoop.config import Settings
from minihadoop.groups import GroupMapping
from minihadoop.models import Block, LocatedBlock, RegisterRequest
from minihadoop.server import json_response
from minihadoop.signing import ClusterAuth
from namenode import hotreads
from namenode.app import create_app
from namenode.namesystem import SUPERUSER, Namesystem

TOKEN = "secret"
AUTH = ClusterAuth(TOKEN)


def make_system(tmp_path: Path, **settings: Any) -> Namesystem:
    system = Namesystem(tmp_path / "name", Settings(token=TOKEN, **settings))
    system.register(
        RegisterRequest(
            datanode_id="dn1", url="http://127.0.0.1:9864", capacity=1 << 40, remaining=1 << 40
        )
    )
    return system


@pytest.fixture
def system(tmp_path: Path) -> Iterator[Namesystem]:
    s = make_system(tmp_path)
    yield s
    s.close()


def call(system: Namesystem, *requests: tuple[str, str, dict[str, Any]]) -> list[httpx.Response]:
    """(method, url, httpx keyword arguments) in order, through the namenode's app."""
    app = create_app(system, system.settings)

    async def run() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport,
            base_url="http://127.0.0.1",
            params={"user.name": SUPERUSER},  # as a client on the namenode's account does
        ) as client:
            return [await client.request(m, u, **kw) for m, u, kw in requests]

    return asyncio.run(run())


def stat(path: str, **kw: Any) -> tuple[str, str, dict[str, Any]]:
    return "GET", f"/webhdfs/v1{path}", {"params": {"op": "GETFILESTATUS"}, **kw}


def write_file(system: Namesystem, path: str) -> list[httpx.Response]:
    """create, add_block, complete (a 10-byte block) as FileSystem calls them."""
    create, add = call(
        system,
        ("POST", "/nn/v1/create", {"json": {"path": path, "client": "c1"}, "auth": AUTH}),
        ("POST", "/nn/v1/add_block", {"json": {"path": path, "client": "c1"}, "auth": AUTH}),
    )
    block = LocatedBlock.model_validate(add.json()).block
    last = Block(block_id=block.block_id, gen=block.gen, length=10).model_dump()
    body = {"path": path, "client": "c1", "last": last}
    (complete,) = call(system, ("POST", "/nn/v1/complete", {"json": body, "auth": AUTH}))
    return [create, add, complete]


def test_the_native_write_calls_answer_what_they_declare(system: Namesystem) -> None:
    create, add, complete = write_file(system, "/d/f")
    assert [r.status_code for r in (create, add, complete)] == [200, 200, 200]
    assert create.json() == {
        "block_size": system.settings.block_size,
        "bytes_per_checksum": system.settings.bytes_per_checksum,
        "file_id": system.ns.lookup("/d/f").id,  # type: ignore[union-attr]
        "lease_soft_limit": system.settings.lease_soft_limit,
    }
    located = LocatedBlock.model_validate(add.json())
    assert [loc.id for loc in located.locations] == ["dn1"]
    assert add.headers["content-type"] == "application/json"
    assert complete.json() == {"boolean": True}
    assert system.status("/d/f").length == 10


def test_the_fast_lane_answers_as_the_route_and_never_waits_for_the_lock(
    system: Namesystem,
) -> None:
    """The lane (namenode.hotreads, below ASGI) gives the route's bytes while the lock is
    free, and hands the stat over while it is held; the route then waits for it."""
    write_file(system, "/d/f")
    lane = create_app(system, system.settings).state.lane
    host = [(b"host", b"127.0.0.1")]
    url = f"/webhdfs/v1/d/f?op=GETFILESTATUS&user.name={SUPERUSER}".encode()
    (free,) = call(system, stat("/d/f"))
    answer = lane.answer(url, host)
    assert answer is not None and answer[1] == free.content
    assert (b"content-type", b"application/json") in answer[0]
    assert lane.answer(url.replace(b"/d/f", b"/nope"), host) is None  # refusals: the route's
    assert lane.answer(url, [(b"host", b"evil.example")]) is None  # the guard refuses that
    for two in ([(b"host", b"evil.example"), *host], [*host, (b"host", b"evil.example")]):
        assert lane.answer(url, two) is None  # two Hosts: the guard's to judge
    assert lane.answer(url, [*host, (b"authorization", b"MH1 x")]) is None  # the guard's

    released_at: list[float] = []
    held = threading.Event()

    def hold_lock() -> None:
        with system.lock:
            held.set()
            time.sleep(0.3)
            released_at.append(time.monotonic())

    holder = threading.Thread(target=hold_lock)
    holder.start()
    held.wait(timeout=10)
    assert lane.answer(url, host) is None  # at once: the event loop never waits for it
    assert not released_at
    (busy,) = call(system, stat("/d/f"))
    answered_at = time.monotonic()
    holder.join()
    assert busy.status_code == 200 and busy.content == free.content
    assert answered_at >= released_at[0]
    assert free.json()["FileStatus"]["length"] == 10
    (missing,) = call(system, stat("/nope"))
    assert missing.status_code == 404
    assert missing.json()["RemoteException"]["exception"] == "FileNotFoundException"


def test_tokens_are_checked_on_every_path(tmp_path: Path) -> None:
    system = make_system(tmp_path, read_policy="token")
    try:
        body = {"path": "/f", "client": "c1"}
        anonymous, bad, ok = call(
            system,
            ("POST", "/nn/v1/create", {"json": body}),
            ("POST", "/nn/v1/create", {"json": body, "auth": ClusterAuth("x")}),
            ("POST", "/nn/v1/create", {"json": body, "auth": AUTH}),
        )
        assert [anonymous.status_code, bad.status_code, ok.status_code] == [401, 401, 200]
        read_anonymous, read_ok = call(system, stat("/"), stat("/", auth=AUTH))
        assert [read_anonymous.status_code, read_ok.status_code] == [401, 200]
    finally:
        system.close()


def test_json_response_encodes_models_and_plain_data_once() -> None:
    model = json_response(Block(block_id=7, gen=1, length=3))
    assert model.body == b'{"block_id":7,"gen":1,"length":3}'
    plain = json_response({"boolean": True, "names": ["a", "é"]})
    assert plain.body == '{"boolean":true,"names":["a","é"]}'.encode()
    assert json_response(model) is model


def test_a_repeated_request_is_answered_once_from_the_session_table(system: Namesystem) -> None:
    """A client's retry of one request — same clientid and seq — gets the first answer and
    is not carried out again: a rename or delete does not turn into "false", an add_block
    does not add a second block."""
    session = {"user.name": SUPERUSER, "clientid": "c-1"}
    rename = {"op": "RENAME", "destination": "/b", **session, "seq": "2"}
    delete = {"op": "DELETE", "recursive": "true", **session, "seq": "3"}
    create = {"path": "/f", "client": "c-1"}
    add = {"path": "/f", "client": "c-1"}
    answers = call(
        system,
        ("PUT", "/webhdfs/v1/a", {"params": {"op": "MKDIRS", **session, "seq": "1"}, "auth": AUTH}),
        ("PUT", "/webhdfs/v1/a", {"params": rename, "auth": AUTH}),
        ("PUT", "/webhdfs/v1/a", {"params": rename, "auth": AUTH}),  # the retry
        ("DELETE", "/webhdfs/v1/b", {"params": delete, "auth": AUTH}),
        ("DELETE", "/webhdfs/v1/b", {"params": delete, "auth": AUTH}),  # the retry
        (
            "POST",
            "/nn/v1/create",
            {"json": create, "params": {**session, "seq": "4"}, "auth": AUTH},
        ),
        (
            "POST",
            "/nn/v1/add_block",
            {"json": add, "params": {**session, "seq": "5"}, "auth": AUTH},
        ),
        (
            "POST",
            "/nn/v1/add_block",
            {"json": add, "params": {**session, "seq": "5"}, "auth": AUTH},
        ),
        # A new request of the same client is a new request: a rename of what is gone fails.
        ("PUT", "/webhdfs/v1/a", {"params": {**rename, "seq": "6"}, "auth": AUTH}),
    )
    assert [r.status_code for r in answers] == [200] * 9, [r.text for r in answers]
    assert [r.json()["boolean"] for r in answers[1:5]] == [True, True, True, True]
    first, again = (LocatedBlock.model_validate(r.json()) for r in answers[6:8])
    assert first.block.block_id == again.block.block_id
    assert len(system.ns.under_construction["/f"].file.blocks) == 1
    assert answers[8].json()["boolean"] is False
    assert system.status_or_none("/a") is None and system.status_or_none("/b") is None


@pytest.mark.parametrize(
    "params",
    [
        {"clientid": "c-1"},
        {"seq": "1"},
        {"clientid": "c-1", "seq": "0"},
        {"clientid": "", "seq": "1"},
        {"clientid": "x" * 201, "seq": "1"},
        {"clientid": "c-1", "seq": "one"},
    ],
)
def test_a_malformed_session_is_refused_and_changes_nothing(
    system: Namesystem, params: dict[str, str]
) -> None:
    (answer,) = call(
        system,
        (
            "PUT",
            "/webhdfs/v1/d",
            {"params": {"op": "MKDIRS", "user.name": "a", **params}, "auth": AUTH},
        ),
    )
    assert answer.status_code == 400, answer.text
    assert answer.json()["RemoteException"]["exception"] == "IllegalArgumentException"
    assert system.status_or_none("/d") is None


def test_a_request_number_reused_for_another_request_is_refused(system: Namesystem) -> None:
    """Someone else's clientid and seq get neither the first request's answer nor a change:
    the numbers name one request, and a repeat must be that request."""
    session = {"user.name": SUPERUSER, "clientid": "victim", "seq": "1"}
    first, other = call(
        system,
        ("PUT", "/webhdfs/v1/kept", {"params": {"op": "MKDIRS", **session}, "auth": AUTH}),
        ("DELETE", "/webhdfs/v1/kept", {"params": {"op": "DELETE", **session}, "auth": AUTH}),
    )
    assert first.status_code == 200
    assert other.status_code == 400, other.text
    assert "already used for another request" in other.json()["RemoteException"]["message"]
    assert system.status_or_none("/kept") is not None


@given(st.text(alphabet="ab=&%+;2F é\x00", max_size=30))
@settings(max_examples=1000, deadline=None)
def test_the_fast_lanes_query_parse_is_starlettes(text: str) -> None:
    query = text.encode("utf-8")
    assert list(hotreads._query(query).multi_items()) == list(QueryParams(query).multi_items())


def test_a_caller_follows_its_groups_as_the_mapping_refreshes_them(system: Namesystem) -> None:
    """Callers are kept between requests, but only while the group mapping's answer is the
    one they were made from: a user added to the superuser group is one at the refresh."""
    groups = {"carol": frozenset({"staff"})}
    now = [0.0]
    system.group_mapping = GroupMapping("", lambda user: groups[user], clock=lambda: now[0])
    first = system.caller("carol")
    assert system.caller("carol") is first and not first.superuser
    groups["carol"] = frozenset({"staff", system.settings.supergroup})
    assert system.caller("carol") is first  # the mapping's cache has not expired
    now[0] = 10_000.0
    assert system.caller("carol").superuser
