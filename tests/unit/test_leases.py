"""Leases (namenode.leases, and the namesystem acting on them) with a clock the test moves:
the soft limit, lease recovery from start to commit, and a restart in the middle of one.
The datanodes are played by the test: their reports and heartbeats are calls."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from minihadoop.config import Settings
from minihadoop.errors import (
    AlreadyBeingCreatedError,
    FileAlreadyExistsError,
    FileNotFoundError_,
    LeaseExpiredError,
    RecoveryInProgressError,
)
from minihadoop.models import (
    AddBlockRequest,
    AppendRequest,
    Block,
    BlockRecoveryReport,
    BlockReportRequest,
    Command,
    CompleteRequest,
    CreateRequest,
    HeartbeatRequest,
    IncrementalReportRequest,
    ReplicaReport,
)
from namenode import checkpoint
from namenode.app import create_app
from namenode.leases import RECOVERY_HOLDER, Leases
from namenode.namesystem import Namesystem
from tests.support import Clock, cluster_auth, register_datanodes

SOFT = 10.0
NODES = ("dn1", "dn2")


def start(tmp_path: Path, clock: Clock) -> Namesystem:
    settings = Settings(token="secret", lease_soft_limit=SOFT, replication=2)
    system = Namesystem(tmp_path / "name", settings, clock=clock)
    register_datanodes(system, *NODES)
    return system


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def system(tmp_path: Path, clock: Clock) -> Iterator[Namesystem]:
    s = start(tmp_path, clock)
    yield s
    s.close()


def create(system: Namesystem, path: str, client: str, *, overwrite: bool = False) -> int:
    _, inode = system.create(CreateRequest(path=path, client=client, overwrite=overwrite), "alice")
    return inode


def add_block(system: Namesystem, path: str, client: str, previous: Block | None = None) -> Block:
    located = system.add_block(AddBlockRequest(path=path, client=client, previous=previous), None)
    return located.block


def stored(system: Namesystem, block: Block, length: int, nodes: tuple[str, ...] = NODES) -> None:
    """The pipeline's datanodes report the replica they finalized."""
    for node in nodes:
        replica = ReplicaReport(block_id=block.block_id, gen=block.gen, length=length)
        system.incremental_report(IncrementalReportRequest(datanode_id=node, received=[replica]))


def commands(system: Namesystem, node: str) -> list[Command]:
    return system.heartbeat(HeartbeatRequest(datanode_id=node)).commands


def recover(system: Namesystem, path: str) -> bool:
    """recoverLease: whether the file is closed."""
    return system.recover_lease(path)


def recover_commands(system: Namesystem) -> dict[str, list[Command]]:
    found = {n: [c for c in commands(system, n) if c.kind == "recover"] for n in NODES}
    return {n: cs for n, cs in found.items() if cs}


def half_written(system: Namesystem, path: str = "/f", client: str = "w1") -> tuple[Block, Block]:
    """A file with one committed block of 1 MiB and a last block stored (300 bytes) whose
    length its writer never committed: it died."""
    create(system, path, client)
    first = add_block(system, path, client)
    stored(system, first, 1 << 20)
    last = add_block(system, path, client, first.model_copy(update={"length": 1 << 20}))
    stored(system, last, 300)
    return first, last


# --------------------------------------------------------------------------- the table


def test_the_lease_table_decides_by_the_time_it_is_given() -> None:
    leases = Leases(soft_limit=10, hard_limit=100)
    leases.renew(1, 0)
    assert not leases.soft_expired(1, 10) and leases.soft_expired(1, 10.5)
    assert not leases.hard_expired(1, 100) and leases.hard_expired(1, 101)
    assert not leases.soft_expired(2, 50)  # unseen (a restart): its lease starts now
    assert leases.soft_expired(2, 61)
    # A recovery logged before a restart counts as asked when first seen: the datanodes
    # get a soft limit to report before it is asked again.
    assert not leases.recovery_due(1, 0) and leases.recovery_due(1, 11)
    leases.recovery_asked(1, 200)
    assert not leases.recovery_due(1, 210) and leases.recovery_due(1, 211)
    assert not leases.soft_expired(1, 205)  # asking renews the recovery's own lease
    leases.retain([2])  # file 1 was closed: forgotten, so seen afresh
    assert not leases.soft_expired(1, 300) and not leases.recovery_due(1, 300)


# --------------------------------------------------------------------------- soft limit


def test_a_writers_file_is_its_own_until_the_soft_limit(system: Namesystem, clock: Clock) -> None:
    create(system, "/f", "w1")
    clock.now += SOFT - 1
    with pytest.raises(AlreadyBeingCreatedError):
        create(system, "/f", "w2", overwrite=True)
    with pytest.raises(AlreadyBeingCreatedError):
        create(system, "/f", "w2")
    assert system.renew_lease("w1") == 1
    clock.now += SOFT - 1  # past the soft limit since create, not since the renewal
    with pytest.raises(AlreadyBeingCreatedError):
        create(system, "/f", "w2", overwrite=True)


def test_past_the_soft_limit_an_overwrite_takes_the_path(system: Namesystem, clock: Clock) -> None:
    create(system, "/f", "w1")
    block = add_block(system, "/f", "w1")
    stored(system, block, 10)
    clock.now += SOFT + 1
    create(system, "/f", "w2", overwrite=True)
    assert system.ns.under_construction["/f"].client == "w2"
    # The dead writer's block goes, and so do its replicas.
    assert system.ns.block_record(block.block_id) is None
    kinds = {n: [c.kind for c in commands(system, n)] for n in NODES}
    assert kinds == {n: ["delete"] for n in NODES}
    with pytest.raises(LeaseExpiredError):
        add_block(system, "/f", "w1")


def test_past_the_soft_limit_a_create_recovers_the_file_then_finds_it(
    system: Namesystem, clock: Clock
) -> None:
    create(system, "/f", "w1")  # died before writing a block: nothing to recover
    clock.now += SOFT + 1
    with pytest.raises(FileAlreadyExistsError):
        create(system, "/f", "w2")
    assert system.status("/f").length == 0  # recovered, closed, empty


# --------------------------------------------------------------------------- recovery


def test_an_append_past_the_soft_limit_recovers_the_last_block(
    system: Namesystem, clock: Clock
) -> None:
    _, last = half_written(system)
    clock.now += SOFT + 1
    with pytest.raises(RecoveryInProgressError):
        system.append(AppendRequest(path="/f", client="w2"), None)
    pending = system.ns.under_construction["/f"]
    assert pending.client == RECOVERY_HOLDER
    (primary, (cmd,)), *others = recover_commands(system).items()
    assert not others and primary == "dn1"
    assert cmd.block is not None and cmd.block.block_id == last.block_id
    assert cmd.block.gen > last.gen and [t.id for t in cmd.targets] == list(NODES)
    # Asked again before the recovery's own soft limit: still in progress, not re-sent.
    with pytest.raises(RecoveryInProgressError):
        system.append(AppendRequest(path="/f", client="w2"), None)
    assert recover_commands(system) == {}
    # The primary brought both replicas to 300 bytes under the new stamp.
    report = BlockRecoveryReport(
        block_id=last.block_id, gen=cmd.block.gen, length=300, datanode_ids=list(NODES)
    )
    system.commit_block_recovery(report)
    status, blocks = system.ns.file_blocks("/f")
    assert status.length == (1 << 20) + 300
    assert [(b.block_id, b.gen, b.length) for b in blocks][-1] == (
        last.block_id,
        cmd.block.gen,
        300,
    )
    # The file is closed: the append goes ahead, and the old writer is shut out.
    system.append(AppendRequest(path="/f", client="w2"), None)
    with pytest.raises(LeaseExpiredError):
        system.complete(CompleteRequest(path="/f", client="w1", last=last))


def test_recover_lease_answers_true_once_closed(system: Namesystem, clock: Clock) -> None:
    with pytest.raises(FileNotFoundError_):
        recover(system, "/nope")
    _, last = half_written(system)
    # No waiting for the soft limit: recoverLease is for a writer known to be dead.
    assert recover(system, "/f") is False
    assert recover(system, "/f") is False  # in progress; not asked again
    ((cmd,),) = recover_commands(system).values()
    assert cmd.block is not None
    # Only dn2's replica was brought to the new stamp: dn1's is stale and must go.
    report = BlockRecoveryReport(
        block_id=last.block_id, gen=cmd.block.gen, length=250, datanode_ids=["dn2"]
    )
    system.commit_block_recovery(report)
    assert recover(system, "/f") is True
    assert system.status("/f").length == (1 << 20) + 250
    assert [c.kind for c in commands(system, "dn1")] == ["delete"]
    assert system.blocks.holders(last.block_id) == {"dn2"}


def test_recover_lease_with_no_replica_of_the_last_block_drops_it(
    system: Namesystem, clock: Clock
) -> None:
    create(system, "/f", "w1")
    first = add_block(system, "/f", "w1")
    stored(system, first, 1 << 20)
    add_block(system, "/f", "w1", first.model_copy(update={"length": 1 << 20}))
    # The writer died while sending its second block: no datanode stored it. But a namenode
    # that has just started cannot tell that from replicas not reported yet: it waits.
    assert recover(system, "/f") is False
    assert system.ns.under_construction["/f"].client == RECOVERY_HOLDER
    clock.now += SOFT + 1
    system.tick()
    assert recover(system, "/f") is True
    assert system.status("/f").length == 1 << 20
    assert [b.block_id for b in system.ns.file_blocks("/f")[1]] == [first.block_id]


def test_a_superseded_recovery_is_refused_and_changes_nothing(
    system: Namesystem, clock: Clock
) -> None:
    _, last = half_written(system)
    recover(system, "/f")
    ((old,),) = recover_commands(system).values()
    clock.now += SOFT + 1  # its primary never answered: the monitor asks again
    system.tick()
    ((new,),) = recover_commands(system).values()
    assert old.block is not None and new.block is not None
    assert new.block.gen > old.block.gen
    late = BlockRecoveryReport(
        block_id=last.block_id, gen=old.block.gen, length=300, datanode_ids=list(NODES)
    )
    with pytest.raises(LeaseExpiredError):
        system.commit_block_recovery(late)
    assert "/f" in system.ns.under_construction
    system.commit_block_recovery(late.model_copy(update={"gen": new.block.gen}))
    assert system.status("/f").length == (1 << 20) + 300


def test_a_namenode_restart_mid_recovery_asks_again_and_finishes(
    tmp_path: Path, clock: Clock
) -> None:
    system = start(tmp_path, clock)
    first, last = half_written(system)
    recover(system, "/f")
    ((before,),) = recover_commands(system).values()
    system.close()  # the recovery's answer never came: the namenode went down first

    system = start(tmp_path, clock)
    for node in NODES:  # the datanodes report again; the last replica keeps its old stamp
        replicas = [
            ReplicaReport(block_id=first.block_id, gen=first.gen, length=1 << 20),
            ReplicaReport(block_id=last.block_id, gen=last.gen, length=300),
        ]
        system.block_report(BlockReportRequest(datanode_id=node, replicas=replicas))
    system.tick()
    assert not system.safemode.on
    assert system.ns.under_construction["/f"].client == RECOVERY_HOLDER  # from the log
    clock.now += SOFT + 1
    system.tick()  # the restarted namenode does not know it asked: it asks again
    ((after,),) = recover_commands(system).values()
    assert before.block is not None and after.block is not None
    assert after.block.gen > before.block.gen
    report = BlockRecoveryReport(
        block_id=last.block_id, gen=after.block.gen, length=300, datanode_ids=list(NODES)
    )
    system.commit_block_recovery(report)
    assert recover(system, "/f") is True
    assert system.status("/f").length == (1 << 20) + 300
    system.close()


# --------------------------------------------------------------------------- bad input


def test_bad_lease_requests_get_clear_errors_and_change_nothing(
    system: Namesystem, clock: Clock
) -> None:
    _, last = half_written(system)
    recover(system, "/f")
    ((cmd,),) = recover_commands(system).values()
    assert cmd.block is not None
    app = create_app(system, system.settings)
    auth = cluster_auth("secret")
    good = {"block_id": last.block_id, "gen": cmd.block.gen, "length": 300, "datanode_ids": ["dn1"]}

    async def send() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            commit = "/internal/v1/commit_block_recovery"
            return [
                await client.post("/nn/v1/recover_lease", params={"path": "/nope"}, auth=auth),
                await client.post("/nn/v1/recover_lease", params={"path": "/a/../f"}, auth=auth),
                await client.post("/nn/v1/recover_lease", auth=auth),
                await client.post("/nn/v1/recover_lease", params={"path": "/f"}),  # no token
                await client.post("/nn/v1/renew_lease", auth=auth),
                await client.post(commit, content=b"{not json", auth=auth),
                await client.post(commit, json={**good, "block_id": 0}, auth=auth),
                await client.post(commit, json={**good, "block_id": 999}, auth=auth),
                await client.post(commit, json={**good, "gen": cmd.block.gen - 1}, auth=auth),
                await client.post(commit, json={**good, "length": 1 << 30}, auth=auth),
                await client.post(commit, json={**good, "datanode_ids": []}, auth=auth),
                await client.post(commit, json=good),  # no token
            ]

    before = checkpoint.dump(system.ns, 0)
    answers = asyncio.run(send())
    statuses = [r.status_code for r in answers]
    assert statuses == [404, 400, 400, 401, 400, 400, 400, 403, 403, 400, 400, 401]
    for r in answers:
        assert set(r.json()["RemoteException"]) >= {"exception", "javaClassName", "message"}
    assert answers[7].json()["RemoteException"]["exception"] == "LeaseExpiredException"
    assert checkpoint.dump(system.ns, 0) == before
    assert system.ns.under_construction["/f"].client == RECOVERY_HOLDER
