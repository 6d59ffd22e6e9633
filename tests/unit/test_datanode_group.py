"""A datanode serving a group of namenodes (HDFS HA's BPOfferService), against fake
namenodes in this process.

Each fake is a small FastAPI app behind the real request guard (so the datanode's signed
calls and its checks of signed answers run as in production), reached through a transport
that routes by URL and can make one namenode refuse connections or never answer (a
partition). The datanode is real: its block store on disk, its actors, its fence.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request

from datanode.app import create_app
from datanode.blockstore import BlockStore, Replica
from datanode.service import DatanodeIdentity, DatanodeService, namenode_urls
from minihadoop.checksum import chunk_checksums
from minihadoop.config import Settings
from minihadoop.delegation import DelegationToken
from minihadoop.errors import AuthenticationError, StandbyError, UnavailableError
from minihadoop.guard import HostNames, install_guard
from minihadoop.models import Block, Command, DatanodeRef, HeartbeatResponse
from minihadoop.server import install_error_handlers
from minihadoop.signing import Keys

pytestmark = pytest.mark.timeout(60)

TOKEN = "group-test-token"
HEARTBEAT = 0.05
BPC = 512
DN_URL = "http://127.0.0.1:19864"


@dataclass
class FakeNamenode:
    """What a namenode's service port answers a datanode, with the reply's `active` and
    `term` and the commands it hands out set by the test. Records every call."""

    url: str
    active: bool = True
    term: int = 0
    # "up", "refuse" (stopped), "hang" (cut off: never answers), "busy" (answers 503)
    mode: str = "up"
    commands: list[Command] = field(default_factory=list)  # for the next reply only
    calls: list[tuple[float, str, dict[str, Any]]] = field(default_factory=list)
    known: set[str] = field(default_factory=set)
    delegation_error: Exception | None = None

    def app(self) -> FastAPI:
        app = FastAPI()
        install_error_handlers(app)

        @app.post("/internal/v1/{endpoint:path}")
        async def internal(endpoint: str, request: Request) -> Any:
            body = await request.json()
            self.calls.append((time.monotonic(), endpoint, body))
            if self.mode == "busy":
                raise UnavailableError("too many requests: try again later")
            match endpoint:
                case "register":
                    self.known.add(body["datanode_id"])
                case "heartbeat" | "block_report":
                    if body["datanode_id"] not in self.known:
                        return self.reply([Command(kind="register")])
                    commands, self.commands = self.commands, []
                    return self.reply(commands)
                case "delegation/check" if self.delegation_error is not None:
                    raise self.delegation_error
            return {"boolean": True}

        port = int(self.url.rsplit(":", 1)[1])
        install_guard(app, Settings(token=TOKEN), HostNames(ports=[port]))
        return app

    def reply(self, commands: list[Command]) -> dict[str, Any]:
        answer = HeartbeatResponse(commands=commands, active=self.active, term=self.term)
        return answer.model_dump(mode="json")

    def bodies(self, endpoint: str) -> list[dict[str, Any]]:
        return [body for _, e, body in self.calls if e == endpoint]

    def times(self, endpoint: str) -> list[float]:
        return [t for t, e, _ in self.calls if e == endpoint]

    def endpoints(self) -> list[str]:
        return [e for _, e, _ in self.calls]


class Network(httpx.AsyncBaseTransport):
    """Routes each request to the fake namenode its URL names."""

    def __init__(self, namenodes: list[FakeNamenode]) -> None:
        self.namenodes = {nn.url: (nn, httpx.ASGITransport(app=nn.app())) for nn in namenodes}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        nn, transport = self.namenodes[f"{request.url.scheme}://{request.url.netloc.decode()}"]
        if nn.mode == "refuse":
            raise httpx.ConnectError("connection refused", request=request)
        while nn.mode == "hang":  # delivered when the link heals, if the caller still waits
            await asyncio.sleep(0.01)
        return await transport.handle_async_request(request)


def store_with(tmp_path: Path, *block_ids: int, gen: int = 1001) -> BlockStore:
    store = BlockStore(tmp_path / "data")
    for block_id in block_ids:
        put(store, block_id, gen=gen)
    return store


def put(store: BlockStore, block_id: int, data: bytes = b"x" * 1000, gen: int = 1001) -> Replica:
    writer = store.begin(block_id, gen, BPC)
    writer.write(data)
    return writer.finish(chunk_checksums(data, BPC), len(data))


Running = tuple[DatanodeService, list[FakeNamenode]]


@asynccontextmanager
async def running(store: BlockStore, *namenodes: FakeNamenode) -> AsyncIterator[Running]:
    settings = Settings(token=TOKEN, heartbeat_interval=HEARTBEAT)
    service = DatanodeService(
        store,
        DatanodeIdentity(url=DN_URL),
        [nn.url for nn in namenodes],
        settings,
        transport=Network(list(namenodes)),
    )
    task = asyncio.create_task(service.run())
    try:
        yield service, list(namenodes)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await service.close()


async def until(condition: Callable[[], Any], timeout: float = 10.0, what: str = "it") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


async def beats(nn: FakeNamenode, count: int = 3) -> None:
    """Wait until `nn` has had `count` more heartbeats (each reply carried out by then)."""
    target = len(nn.times("heartbeat")) + count
    await until(lambda: len(nn.times("heartbeat")) >= target, what=f"heartbeats to {nn.url}")


def deleted_reported(nn: FakeNamenode) -> list[int]:
    return [b for body in nn.bodies("incremental_report") for b in body["deleted"]]


def received_reported(nn: FakeNamenode) -> list[int]:
    return [r["block_id"] for body in nn.bodies("incremental_report") for r in body["received"]]


def counts(nn: FakeNamenode) -> tuple[int, int]:
    """How many registrations and full block reports `nn` has had."""
    return nn.endpoints().count("register"), len(nn.bodies("block_report"))


def delete(block_id: int) -> Command:
    return Command(kind="delete", block=Block(block_id=block_id))


def group(n: int = 2, **first: Any) -> list[FakeNamenode]:
    nns = [FakeNamenode(f"http://127.0.0.{i + 1}:{18021 + i}", active=False) for i in range(n)]
    nns[0].active = True
    for key, value in first.items():
        setattr(nns[0], key, value)
    return nns


def run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(test())


# --- fencing --------------------------------------------------------------------------------


def test_data_commands_from_the_active_namenode_at_the_current_term_are_obeyed(
    tmp_path: Path,
) -> None:
    store = store_with(tmp_path, 7, 8)
    nn1, nn2 = group(term=3)
    nn2.term = 3

    async def test() -> None:
        async with running(store, nn1, nn2) as (service, _):
            await beats(nn1)
            nn1.commands = [delete(7)]
            await until(lambda: not store.has(7), what="block 7 deleted")
            # every namenode hears of the deletion, not only the one that asked for it
            await until(lambda: 7 in deleted_reported(nn1) and 7 in deleted_reported(nn2))
            assert service.leader is not None and service.leader.url == nn1.url
        assert store.has(8)

    run(test)


def test_data_commands_from_a_standby_namenode_are_ignored(tmp_path: Path) -> None:
    store = store_with(tmp_path, 7)
    nn1, nn2 = group(term=3)

    async def test() -> None:
        async with running(store, nn1, nn2):
            await beats(nn2)
            nn2.commands = [
                delete(7),
                Command(
                    kind="replicate",
                    block=Block(block_id=7),
                    targets=[DatanodeRef(id="other", url="http://127.0.0.9:1")],
                ),
            ]
            await until(lambda: not nn2.commands, what="the commands handed out")
            await beats(nn2)
        assert store.has(7)
        assert deleted_reported(nn1) == deleted_reported(nn2) == []

    run(test)


def test_a_deposed_leader_is_ignored_until_elected_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = store_with(tmp_path, 7, 8)
    nn1, nn2 = group(term=5)

    async def test() -> None:
        async with running(store, nn1, nn2) as (service, _):
            await beats(nn1)  # term 5 seen from an active nn1
            nn2.active, nn2.term = True, 4  # nn2 still believes it leads, at term 4
            for _ in range(3):
                nn2.commands = [delete(7)]
                await until(lambda: not nn2.commands, what="the command handed out")
            await beats(nn2)
            assert store.has(7)
            warnings = [r for r in caplog.records if "says it is active at term 4" in r.message]
            assert len(warnings) == 1  # once, not at every reply
            assert service.fence.highest_term == 5

            # nn2 wins a new election: its commands count, and nn1's old term no longer
            nn2.term = 6
            await beats(nn2)
            nn1.commands = [delete(8)]
            await until(lambda: not nn1.commands, what="nn1's command handed out")
            await beats(nn1)
            assert store.has(8)
            nn2.commands = [delete(7)]
            await until(lambda: not store.has(7), what="nn2's delete carried out")
            status = {s["url"]: s for s in service.namenode_status()}
            assert status[nn2.url]["active"] and status[nn2.url]["state"] == "active"
            assert not status[nn1.url]["active"] and status[nn1.url]["state"] == "deposed"

    with caplog.at_level(logging.WARNING, logger="minihadoop.datanode"):
        run(test)


def test_register_and_report_commands_are_obeyed_by_the_actor_they_came_to(
    tmp_path: Path,
) -> None:
    """They concern only the namenode that sent them, active or not."""
    store = store_with(tmp_path, 7)
    nn1, nn2 = group()

    async def test() -> None:
        async with running(store, nn1, nn2):
            await beats(nn1)
            await beats(nn2)
            before = {nn.url: counts(nn) for nn in (nn1, nn2)}
            nn2.commands = [Command(kind="report")]  # nn2 is a standby
            await until(lambda: counts(nn2)[1] > before[nn2.url][1], what="nn2's report")
            nn2.known.clear()  # nn2 restarted: it asks the datanode to register again
            await until(lambda: counts(nn2)[0] > before[nn2.url][0], what="nn2's registration")
            await beats(nn2)
            assert counts(nn1) == before[nn1.url]
            # the report that follows a registration is the whole store
            assert nn2.bodies("block_report")[-1]["replicas"][0]["block_id"] == 7

    run(test)


# --- a namenode away ------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["refuse", "hang"])
def test_a_namenode_away_gets_every_change_in_order_once_back_and_delays_no_other(
    tmp_path: Path, mode: str
) -> None:
    store = store_with(tmp_path)
    nn1, nn2 = group()

    async def test() -> None:
        async with running(store, nn1, nn2) as (service, _):
            await beats(nn1)
            await beats(nn2)
            nn2.mode = mode
            away_since = time.monotonic()
            for block_id in (11, 12, 13):
                started = time.monotonic()
                await service.block_received(put(store, block_id))
                # a write is answered once the leader knows; the namenode away holds it not
                assert time.monotonic() - started < 1.0
            nn1.commands = [delete(12)]
            await until(lambda: 12 in deleted_reported(nn1), what="nn1 told of the delete")
            assert received_reported(nn1) == [11, 12, 13]
            # the actor notices the outage: at once when refused, at its deadline when cut off
            await until(lambda: not service.actors[1].registered, what="the outage noticed")
            await beats(nn1, 5)

            # while nn2 was away nn1 heard a heartbeat every beat or so, never a gap the
            # size of nn2's call deadline
            during = [t for t in nn1.times("heartbeat") if t > away_since]
            gaps = [b - a for a, b in itertools.pairwise(during)]
            assert len(during) >= 5 and max(gaps) < service.actors[1].call_timeout / 2

            heard = len(nn2.calls)
            nn2.mode = "up"
            await until(lambda: deleted_reported(nn2) == [12], what="nn2 catching up")
            assert received_reported(nn2) == [11, 13]  # in order; 12's newest change: gone
            after = [e for e in nn2.endpoints()[heard:] if e != "heartbeat"]
            # registered again, sent what it missed, then the whole store
            assert after[:3] == ["register", "incremental_report", "block_report"]
            await until(lambda: len(service.actors[1].queue) == 0)

    run(test)


def test_a_busy_namenode_is_not_sent_registrations_and_full_reports_again(
    tmp_path: Path,
) -> None:
    """A namenode answering 503 knows the node still: the actor backs off and goes on
    heartbeating, registered, without a registration and a full report that would only add
    to the load (at a thousand datanodes, that fed the overload)."""
    store = store_with(tmp_path)
    nn1, nn2 = group()

    async def test() -> None:
        async with running(store, nn1, nn2) as (service, _):
            await beats(nn2)
            heard = len(nn2.calls)
            nn2.mode = "busy"
            await until(lambda: service.actors[1].failures >= 2, what="two refusals")
            assert service.actors[1].registered
            nn2.mode = "up"
            await beats(nn2, 2)
            after = nn2.endpoints()[heard:]
            assert "register" not in after and "block_report" not in after, after
            assert service.actors[1].failures == 0

    run(test)


def test_a_restarted_namenode_that_forgot_the_node_gets_the_changes_too(tmp_path: Path) -> None:
    """A namenode that comes back empty asks for a registration; the full report after it
    holds the replicas it missed."""
    store = store_with(tmp_path)
    nn1, nn2 = group()

    async def test() -> None:
        async with running(store, nn1, nn2) as (service, _):
            await beats(nn2)
            nn2.mode = "refuse"
            await service.block_received(put(store, 21))
            await until(lambda: not service.actors[1].registered)
            nn2.known.clear()
            nn2.mode = "up"
            await until(lambda: len(service.actors[1].queue) == 0)
            last = nn2.bodies("block_report")[-1]
            assert [r["block_id"] for r in last["replicas"]] == [21]

    run(test)


# --- calls that must reach the right namenode ------------------------------------------------


def test_a_recovery_is_committed_to_the_namenode_that_asked_for_it(tmp_path: Path) -> None:
    store = store_with(tmp_path, 7, gen=1001)
    nn1, nn2 = group()

    async def test() -> None:
        async with running(store, nn1, nn2) as (service, _):
            await beats(nn1)
            me = DatanodeRef(id=service.id, url=DN_URL)
            nn1.commands = [
                Command(kind="recover", block=Block(block_id=7, gen=1002), targets=[me])
            ]
            await until(lambda: nn1.bodies("commit_block_recovery"), what="the commit")
            commit = nn1.bodies("commit_block_recovery")[0]
            assert (commit["gen"], commit["length"], commit["datanode_ids"]) == (
                1002,
                1000,
                [service.id],
            )
            assert nn2.bodies("commit_block_recovery") == []
            # the new stamp reaches both namenodes
            await until(lambda: 7 in received_reported(nn2))
            assert store.get(7).gen == 1002

    run(test)


def test_a_bad_replica_is_reported_to_every_namenode(tmp_path: Path) -> None:
    store = store_with(tmp_path, 7)
    nn1, nn2, nn3 = group(3)

    async def test() -> None:
        async with running(store, nn1, nn2, nn3) as (service, _):
            await beats(nn1)
            nn3.mode = "hang"
            started = time.monotonic()
            await service.report_bad(7, "checksum mismatch")
            assert time.monotonic() - started < 1.0  # the leader's answer only was awaited
            assert [b["block_id"] for b in nn1.bodies("bad_block")] == [7]
            await until(lambda: nn2.bodies("bad_block"), what="nn2 told")

    run(test)


def test_a_delegation_token_is_checked_by_the_leader_else_by_another(tmp_path: Path) -> None:
    store = store_with(tmp_path)
    nn1, nn2 = group()
    token = DelegationToken("t1", "alice", "alice", 0.0, 2e9).encode(Keys.derive(TOKEN).delegation)

    async def test() -> None:
        async with running(store, nn1, nn2) as (service, _):
            await beats(nn1)
            await beats(nn2)
            assert (await service.check_delegation(token, "OPEN", "/f")).user == "alice"
            (asked,) = nn1.bodies("delegation/check")
            assert nn2.bodies("delegation/check") == []
            # The token's body, never the token: whoever holds a namenode's address (a
            # stranger, once it died) gets nothing that opens anything.
            body, _, mac = token.partition(".")
            assert asked["body"] == body and mac not in str(asked)

            nn1.mode = "refuse"  # the leader is away: the other is asked
            await service.check_delegation(token, "OPEN", "/f")
            assert len(nn2.bodies("delegation/check")) == 1

            nn2.delegation_error = StandbyError("not the leader")
            with pytest.raises(UnavailableError):
                await service.check_delegation(token, "OPEN", "/f")

            nn1.mode = "up"  # the leader's own refusal is final: no second opinion
            nn1.delegation_error = AuthenticationError("the delegation token was cancelled")
            nn2.delegation_error = None
            with pytest.raises(AuthenticationError):
                await service.check_delegation(token, "OPEN", "/f")
            assert len(nn2.bodies("delegation/check")) == 2

    run(test)


# --- what the datanode shows -----------------------------------------------------------------


def test_health_shows_each_namenode(tmp_path: Path) -> None:
    store = store_with(tmp_path)
    nn1, nn2 = group(term=2)
    nn2.mode = "refuse"

    async def test() -> None:
        async with running(store, nn1, nn2) as (service, _):
            await beats(nn1)
            app = create_app(service, service.settings, heartbeats=False)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url=DN_URL) as client:
                health = (await client.get("/health")).json()
        assert health["registered"] is True
        one, two = health["namenodes"]
        assert (one["url"], one["registered"], one["active"], one["term"]) == (
            nn1.url,
            True,
            True,
            2,
        )
        assert one["last_contact"] is not None and one["seconds_since_contact"] < 5
        assert (two["url"], two["registered"], two["active"], two["last_contact"]) == (
            nn2.url,
            False,
            False,
            None,
        )

    run(test)


def test_namenode_urls_come_comma_separated_or_one_by_one() -> None:
    assert namenode_urls("http://a:8022") == ["http://a:8022"]
    assert namenode_urls("http://a:8022/, http://b:8022") == ["http://a:8022", "http://b:8022"]
    assert namenode_urls(["http://a:8022,http://b:8022", "http://c:8022", "http://a:8022"]) == [
        "http://a:8022",
        "http://b:8022",
        "http://c:8022",
    ]
    with pytest.raises(Exception, match="at least one namenode"):
        namenode_urls(" , ")


def test_an_unexpected_error_is_logged_once_and_the_actor_carries_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = store_with(tmp_path, 7)
    nn1, nn2 = group()
    failures = {"left": 5}

    async def test() -> None:
        async with running(store, nn1, nn2) as (service, _):
            real = service.block_report_request

            def flaky() -> Any:  # a disk that fails a few reads, on any actor's report
                if failures["left"] > 0:
                    failures["left"] -= 1
                    raise OSError("EIO")
                return real()

            service.block_report_request = flaky  # type: ignore[method-assign]
            await until(lambda: all(a.registered for a in service.actors) and not failures["left"])
            await until(lambda: all(nn.bodies("block_report") for nn in (nn1, nn2)))
            await beats(nn1)
            await beats(nn2)

    with caplog.at_level(logging.WARNING, logger="minihadoop.datanode"):
        run(test)
    traces = [r for r in caplog.records if "unexpected OSError" in r.message]
    assert 1 <= len(traces) <= 2 and all(r.exc_info for r in traces)  # once per actor at most
