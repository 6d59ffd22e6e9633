"""The Raft host: three real hosts in one process — real threads, real logs on disk, a
network of queues that a test can cut — driving a small state machine.

What the host promises its callers: a proposal returns once committed *and applied*, with
the machine's result, the same on every replica; a follower refuses and names the leader;
a proposal caught by a change of leader is reported in doubt, never as done; a read
barrier never passes on a leader cut off from its quorum; a restarted host comes back with
what it applied, from its snapshot and log; a follower too far behind is sent a snapshot.
"""

from __future__ import annotations

import json
import os
import queue
import random
import signal
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from raft.config import Config, NotLeaderError
from raft.errors import RaftStorageLockedError
from raft.host import OutcomeUnknownError, RaftHost
from raft.machine import Request
from raft.storage import RaftStorage
from raft.types import Message, MessageType, Role, Snapshot, SnapshotMeta
from tests.support import wait_for

IDS = ("a", "b", "c")
TICK = 0.02
WAIT = 20.0


class Log:
    """The state machine: the list of values applied, and a result per entry."""

    def __init__(self) -> None:
        self.values: list[int] = []
        self.lock = threading.RLock()

    def apply(self, index: int, request: Request) -> Any:
        with self.lock:
            self.values.append(int(request.command["value"]))
            return {"ok": len(self.values)}

    def snapshot(self) -> bytes:
        with self.lock:
            return json.dumps(self.values).encode()

    def restore(self, data: bytes) -> None:
        with self.lock:
            self.values = json.loads(data)


class Network:
    """Delivers messages between hosts at once; `cut(x)` drops everything to and from x.

    `answering`: as the namenodes' transport does, a message is delivered with
    `RaftHost.deliver` by a sender thread per pair of hosts, and the receiver's answer comes
    back on it instead of through its own transport."""

    def __init__(self, *, answering: bool = False) -> None:
        self.hosts: dict[str, RaftHost] = {}
        self.cut_off: set[str] = set()
        self.answering = answering
        self._senders: dict[tuple[str, str], queue.SimpleQueue[Message | None]] = {}

    def transport(self, node: str) -> Transport:
        return Transport(self, node)

    def reaches(self, m: Message) -> RaftHost | None:
        return None if {m.frm, m.to} & self.cut_off else self.hosts.get(m.to)

    def post(self, m: Message) -> None:
        pair = (m.frm, m.to)
        if pair not in self._senders:
            self._senders[pair] = queue.SimpleQueue()
            threading.Thread(target=self._sender, args=(self._senders[pair],), daemon=True).start()
        self._senders[pair].put(m)

    def _sender(self, inbox: queue.SimpleQueue[Message | None]) -> None:
        while (m := inbox.get()) is not None:
            host = self.reaches(m)
            if host is None:
                continue
            try:
                answers = host.deliver(m.frm, [m]).result(timeout=WAIT)
            except Exception:  # the receiver stopped: its answer is lost, like a connection
                continue
            for answer in answers:
                back = self.reaches(answer)
                if back is not None:
                    back.receive(answer)

    def close(self) -> None:
        for inbox in self._senders.values():
            inbox.put(None)


class Transport:
    def __init__(self, network: Network, node: str) -> None:
        self.network, self.node = network, node

    def send(self, messages: Sequence[Message]) -> None:
        for m in messages:
            host = self.network.reaches(m)
            if host is None:
                continue
            if self.network.answering:
                self.network.post(m)
            else:
                host.receive(m)


class Group:
    def __init__(
        self,
        root: Path,
        *,
        snapshot_every: int = 10_000,
        answering: bool = False,
        fork: bool = False,
    ) -> None:
        self.root = root
        self.snapshot_every = snapshot_every
        self.fork = fork
        self.network = Network(answering=answering)
        self.machines: dict[str, Log] = {}
        for node in IDS:
            self.start(node)

    def start(self, node: str) -> RaftHost:
        machine = self.machines[node] = Log()
        host = RaftHost(
            Config(id=node, voters=IDS, election_tick=10),
            self.open_store(node),
            machine,
            transport=self.network.transport(node),
            tick_seconds=TICK,
            snapshot_every=self.snapshot_every,
            rng=random.Random(IDS.index(node)),
            fork_lock=machine.lock if self.fork else None,
        )
        self.network.hosts[node] = host
        host.start()
        return host

    def open_store(self, node: str) -> RaftStorage:
        """Open `node`'s store, waiting while another host's snapshot child holds its lock.
        Three hosts share this one process, so a child any of them forks inherits every
        store's lock file until it closes them, its first act; a namenode, alone in its
        process, ends its own child when it stops (`RaftHost.stop`)."""

        def opened() -> RaftStorage | None:
            try:
                return RaftStorage.open(self.root / node)
            except RaftStorageLockedError:
                return None

        store: RaftStorage = wait_for(opened, timeout=WAIT, what=f"{node}'s store free")
        return store

    def stop(self, node: str) -> None:
        host = self.network.hosts.pop(node)
        host.stop()
        host.storage.close()

    def leader(self, among: Sequence[str] = IDS) -> str:
        def one() -> str | None:
            leading = [
                n for n in among
                if n in self.network.hosts and self.network.hosts[n].status.role is Role.LEADER
            ]  # fmt: skip
            return leading[0] if len(leading) == 1 else None

        found: str = wait_for(one, timeout=WAIT, what="one leader")
        return found

    def propose(self, node: str, value: int) -> Any:
        return self.network.hosts[node].propose(Request({"value": value}), timeout=WAIT)

    def close(self) -> None:
        for node in list(self.network.hosts):
            self.stop(node)
        self.network.close()


@pytest.fixture(params=[False, True], ids=["own-requests", "answers-on-the-request"])
def group(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Group]:
    g = Group(tmp_path, answering=request.param)
    yield g
    g.close()


def test_a_proposal_returns_once_applied_everywhere_the_same(group: Group) -> None:
    leader = group.leader()
    results = [group.propose(leader, v) for v in range(10)]
    assert results == [{"ok": i} for i in range(1, 11)]
    assert group.machines[leader].values == list(range(10))  # applied before it answered
    wait_for(
        lambda: all(m.values == list(range(10)) for m in group.machines.values()),
        timeout=WAIT,
        what="every replica to apply the same entries",
    )


def test_a_follower_refuses_and_names_the_leader(group: Group) -> None:
    leader = group.leader()
    follower = next(n for n in IDS if n != leader)
    wait_for(lambda: group.network.hosts[follower].status.leader == leader, what="a known leader")
    with pytest.raises(NotLeaderError) as refused:
        group.propose(follower, 1)
    assert refused.value.leader == leader
    with pytest.raises(NotLeaderError):
        group.network.hosts[follower].read_barrier(timeout=WAIT)
    assert group.machines[follower].values == []


def test_a_cut_off_leader_confirms_no_read_and_reports_its_proposal_in_doubt(
    group: Group,
) -> None:
    old = group.leader()
    group.propose(old, 1)
    group.network.cut_off.add(old)
    host = group.network.hosts[old]
    proposal: list[BaseException | Any] = []
    reading: list[BaseException | None] = []

    def propose() -> None:
        try:
            proposal.append(host.propose(Request({"value": 99}), timeout=WAIT))
        except BaseException as e:
            proposal.append(e)

    def read() -> None:
        try:
            host.read_barrier(timeout=WAIT)
            reading.append(None)
        except BaseException as e:
            reading.append(e)

    threads = [threading.Thread(target=propose), threading.Thread(target=read)]
    for t in threads:
        t.start()
    new = group.leader(among=[n for n in IDS if n != old])
    group.propose(new, 2)
    for t in threads:
        t.join(WAIT)
    # Cut off, the old leader stepped down (check-quorum): its proposal never committed
    # and is said to be in doubt, its read was never confirmed.
    assert len(proposal) == 1 and isinstance(proposal[0], OutcomeUnknownError), proposal
    assert len(reading) == 1 and isinstance(reading[0], NotLeaderError), reading
    group.network.cut_off.clear()
    wait_for(
        lambda: group.machines[old].values == [1, 2],
        timeout=WAIT,
        what="the old leader to take the new leader's log, not its own entry",
    )


@pytest.mark.parametrize("fork", [False, True], ids=["on-the-loop", "by-a-child"])
def test_a_restarted_host_comes_back_from_its_snapshot_and_log(tmp_path: Path, fork: bool) -> None:
    group = Group(tmp_path, snapshot_every=5, fork=fork)
    try:
        leader = group.leader()
        for v in range(12):
            group.propose(leader, v)
        follower = next(n for n in IDS if n != leader)
        wait_for(lambda: len(group.machines[follower].values) == 12, what="the follower")
        host = group.network.hosts[follower]
        wait_for(lambda: host.status.first_index > 1, what="a snapshot taken in")  # (a child's)
        group.stop(follower)
        assert list((tmp_path / follower).glob("snap_*.snap")), "a snapshot was taken"
        group.start(follower)
        wait_for(
            lambda: group.machines[follower].values == list(range(12)),
            what="the restarted follower to rebuild its state",
        )
    finally:
        group.close()


@pytest.mark.parametrize(("answering", "fork"), [(False, False), (True, True)])
def test_a_follower_behind_the_leaders_log_is_sent_a_snapshot(
    tmp_path: Path, answering: bool, fork: bool
) -> None:
    group = Group(tmp_path, snapshot_every=5, answering=answering, fork=fork)
    try:
        leader = group.leader()
        behind = next(n for n in IDS if n != leader)
        group.stop(behind)
        for v in range(30):  # the leader's log is compacted past what `behind` has
            group.propose(leader, v)
        host = group.network.hosts[leader]
        wait_for(lambda: host.status.first_index > 1, what="a snapshot taken in")  # (a child's)
        group.start(behind)
        wait_for(
            lambda: group.machines[behind].values == list(range(30)),
            what="the lagging follower to catch up from a snapshot",
        )
        assert list((tmp_path / behind).glob("snap_*.snap"))
    finally:
        group.close()


def test_a_snapshot_the_machine_cannot_read_stops_the_host_and_is_not_kept(
    tmp_path: Path,
) -> None:
    group = Group(tmp_path)
    try:
        leader = group.leader()
        group.propose(leader, 1)
        follower = next(n for n in IDS if n != leader)
        host = group.network.hosts[follower]
        fatal: list[str] = []
        host.on_fatal = fatal.append
        term = group.network.hosts[leader].status.term
        group.network.cut_off.add(follower)  # only the forged snapshot reaches it
        meta = SnapshotMeta(index=1000, term=term, voters=IDS)
        host.receive(
            Message(
                MessageType.SNAPSHOT, to=follower, frm=leader, term=term,
                snapshot=Snapshot(meta, b"not a snapshot"),
            )
        )  # fmt: skip
        wait_for(lambda: fatal, timeout=WAIT, what="the host to stop")
        group.stop(follower)
        reopened = RaftStorage.open(tmp_path / follower)
        try:
            assert reopened.snapshot() is None
            assert reopened.initial_state().hard_state.commit < 1000
        finally:
            reopened.close()
    finally:
        group.close()


class SlowLog(Log):
    """A machine whose snapshot says it began (a file), then waits for the test to let it
    go (another file): files, because the snapshot is taken in a child process."""

    def __init__(self, folder: Path) -> None:
        super().__init__()
        self.began, self.gate = folder / "began", folder / "gate"

    def snapshot(self) -> bytes:
        self.began.touch()
        wait_for(self.gate.exists, timeout=WAIT, what="the test to let the snapshot go")
        return super().snapshot()


@dataclass
class Forking:
    """A group of one whose snapshots fall due every five entries and are taken by a child
    (`fork_lock`), its machine a `SlowLog`; after ten values, a child waits at the gate."""

    host: RaftHost
    live: SlowLog
    store: Path


@pytest.fixture
def forking(tmp_path: Path) -> Iterator[Forking]:
    store = tmp_path / "store"
    store.mkdir()
    live = SlowLog(tmp_path)
    host = RaftHost(
        Config(id="a", voters=("a",)),
        RaftStorage.open(store),
        live,
        tick_seconds=TICK,
        snapshot_every=5,
        fork_lock=live.lock,
    )
    host.start()
    try:
        host.campaign()
        wait_for(lambda: host.status.role is Role.LEADER, what="a leader of one")
        for v in range(10):
            host.propose(Request({"value": v}), timeout=WAIT)
        wait_for(live.began.exists, what="a snapshot to be begun")
        yield Forking(host, live, store)
    finally:
        live.gate.touch()
        host.stop()
        host.storage.close()


def test_a_snapshot_is_taken_by_a_child_while_proposals_go_on(forking: Forking) -> None:
    """Given the machine's lock, the host forks for a snapshot: the child writes it, and a
    snapshot that takes long holds up no proposal. (Taken by the loop itself, a proposal
    would hang at the gate.)"""
    host, live = forking.host, forking.live
    for v in range(10, 40):  # the child still waits at the gate
        host.propose(Request({"value": v}), timeout=WAIT)
    assert host.status.first_index == 1, "nothing is compacted before the snapshot is in"
    # The child keeps none of the parent's files: not the store's lock, no socket.
    assert sorted(os.listdir(f"/proc/{host.snapshot_child}/fd")) == ["0", "1", "2"]
    live.gate.touch()
    wait_for(lambda: host.status.first_index > 1, what="the snapshot to be taken in")
    snapshot = host.storage.snapshot()
    assert snapshot is not None
    # The state as of its index: the leader's no-op at 1, then one value an entry.
    assert json.loads(snapshot.data) == list(range(snapshot.meta.index - 1))
    assert host.status.first_index == snapshot.meta.index + 1
    assert not host.storage.staging_path(snapshot.meta).exists(), "it was taken in"


class Recording:
    def __init__(self) -> None:
        self.sent: list[Message] = []

    def send(self, messages: Sequence[Message]) -> None:
        self.sent.extend(messages)


def test_answers_nobody_waits_for_any_more_go_the_usual_way(tmp_path: Path) -> None:
    """A peer's request that timed out cancels its delivery: the host must not fail on it
    (it would stop the namenode), and what it had to say goes out through its transport."""
    transport = Recording()
    host = RaftHost(
        Config(id="a", voters=IDS), RaftStorage.open(tmp_path), Log(), transport=transport
    )
    heartbeat = Message(MessageType.HEARTBEAT, "a", "b", 1)
    gave_up = host.deliver("b", [heartbeat])
    assert gave_up.cancel()  # before the loop runs: the asker gave up
    host.start()
    try:
        wait_for(
            lambda: any(m.type is MessageType.HEARTBEAT_RESP for m in transport.sent),
            what="the answer sent through the transport",
        )
        answered = host.deliver("b", [heartbeat]).result(timeout=WAIT)
        assert [m.type for m in answered] == [MessageType.HEARTBEAT_RESP]  # still running
    finally:
        host.stop()
        host.storage.close()


def test_a_snapshot_process_that_dies_is_tried_again_later(
    forking: Forking, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its child killed (as the OOM killer would), the host goes on and snapshots later."""
    monkeypatch.setattr("raft.host.SNAPSHOT_RETRY", 0.2)
    host, live = forking.host, forking.live
    killed = host.snapshot_child
    os.kill(killed, signal.SIGKILL)
    live.began.unlink()
    live.gate.touch()
    for v in range(10, 20):  # proposals go on; a new child is forked after the backoff
        host.propose(Request({"value": v}), timeout=WAIT)
    wait_for(lambda: host.status.first_index > 1, what="a snapshot taken in at last")
    assert host.snapshot_child != killed


def test_stopping_leaves_no_snapshot_process_behind(forking: Forking) -> None:
    """A child still writing a snapshot when the host stops is ended with it: a copy of the
    store's files it had not yet closed would keep the store's lock, and the store could not
    be opened again at once."""
    host = forking.host  # its child waits at the gate
    host.stop()
    host.storage.close()
    with pytest.raises(ChildProcessError):  # ended, and reaped
        os.waitpid(host.snapshot_child, os.WNOHANG)
    RaftStorage.open(forking.store).close()
