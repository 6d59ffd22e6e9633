"""A seeded, deterministic simulation of a Raft group under faults, checking Raft's safety
properties after every step. One seed is one run: same seed, same run, same failure.

Each tick every live node, in a random order, receives the messages due to it, ticks, may
be asked to propose or to serve a read, and then carries out its Ready as the contract says
(write, sync if asked, send, apply, advance); it may compact its log behind what it applied.
The network loses, delays (so reorders) and duplicates messages and cuts the group into
partitions; nodes crash — keeping only what their storage synced, sometimes after writing
a Ready but before sending its messages — and restart from that.

After the faulty phase everything heals and the group must elect a leader and commit a new
proposal on every node within a bounded number of ticks (liveness), holding every
proposal a client was told had committed.

Checked after every node's step, against a record of all that has happened ("ghost" state):

* election safety — at most one leader per term, ever;
* log matching — an entry's (index, term) fixes its data and the term before it;
* leader completeness — every committed entry is in the log of every leader of a later term;
* state machine safety — every node applies the same entry at each index;
* commit monotonic — a node's commit index moves back only across a crash;
* read-index — a read point is at or past every index committed when the read was asked.
"""

from __future__ import annotations

import heapq
import random
from collections import defaultdict
from dataclasses import dataclass, field

from raft.config import Config, RaftError
from raft.core import Raft
from raft.types import Entry, Message, Ready, Role, Snapshot, SnapshotMeta
from tests.raft.interaction import fmt_message
from tests.raft.memstore import AppliedList, MemoryStorage


class SafetyViolation(AssertionError):
    pass


@dataclass(frozen=True)
class Faults:
    """How hostile one run is, and how its nodes are set up; drawn from the seed so runs
    differ in kind, not only in order."""

    drop: float
    duplicate: float
    max_delay: int
    partition: float  # chance per tick that a partition starts (when none is on)
    crash: float  # chance per tick that a node crashes
    propose: float
    read: float
    compact_after: int  # applied entries beyond the snapshot that trigger compaction
    max_entries: int  # per append: small values split a new leader's catch-up in steps
    pre_vote: bool
    check_quorum: bool

    @classmethod
    def draw(cls, rng: random.Random) -> Faults:
        return cls(
            drop=rng.choice([0.0, 0.02, 0.1, 0.3]),
            duplicate=rng.choice([0.0, 0.02, 0.1]),
            max_delay=rng.choice([1, 2, 4, 8]),
            partition=rng.choice([0.0, 0.02, 0.05]),
            crash=rng.choice([0.0, 0.005, 0.02]),
            propose=rng.choice([0.1, 0.3, 0.7]),
            read=rng.choice([0.0, 0.1]),
            compact_after=rng.choice([2, 5, 20]),
            max_entries=rng.choice([1, 2, 256]),
            pre_vote=rng.random() < 0.7,
            check_quorum=rng.random() < 0.7,
        )


@dataclass
class SimNode:
    config: Config
    rng: random.Random
    storage: MemoryStorage = field(default_factory=MemoryStorage)
    machine_type: type[AppliedList] = AppliedList
    machine: AppliedList = field(default_factory=AppliedList)
    raft: Raft | None = None  # None while crashed
    down_until: int = 0
    commit: int = 0  # the last commit index seen, for monotonicity
    proposals: dict[tuple[int, int], bytes] = field(default_factory=dict)  # (term, index)

    def start(self) -> None:
        stored = self.storage.synced
        self.machine = self.machine_type.restore(stored.snapshot)
        self.raft = Raft(
            self.config,
            stored.state(),
            self.rng,
            applied=self.machine.index,
            snapshot=stored.snapshot,
        )
        self.commit = self.raft.log.committed
        self.proposals = {}


@dataclass
class Ghost:
    """Everything that ever happened that the invariants are checked against."""

    leaders: dict[int, str] = field(default_factory=dict)  # term -> leader
    entries: dict[tuple[int, int], tuple[bytes, int | None]] = field(default_factory=dict)
    committed: dict[int, int] = field(default_factory=dict)  # index -> term
    applied: dict[int, bytes] = field(default_factory=dict)  # index -> data
    acked: dict[int, bytes] = field(default_factory=dict)  # client was told: committed
    reads: dict[bytes, int] = field(default_factory=dict)  # context -> commit when asked


class Simulation:
    # The nodes' state machine: a subclass may also apply the entries to a real one.
    machine_type: type[AppliedList] = AppliedList

    def __init__(self, seed: int, nodes: int = 3, *, trace: bool = False) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.faults = Faults.draw(self.rng)
        ids = tuple(str(i) for i in range(1, nodes + 1))
        f = self.faults
        self.nodes = {
            i: SimNode(
                Config(
                    i,
                    ids,
                    pre_vote=f.pre_vote,
                    check_quorum=f.check_quorum,
                    max_entries_per_message=f.max_entries,
                ),
                random.Random(seed * 7919 + n),
                machine_type=self.machine_type,
            )
            for n, i in enumerate(ids)
        }
        for node in self.nodes.values():
            node.start()
        self.now = 0
        self.network: list[tuple[int, int, Message]] = []
        self.sent = 0
        self.groups: list[set[str]] = []
        self.heal_at = 0
        self.ghost = Ghost()
        self.proposed = 0
        self.faulty = True
        self.trace = trace
        self._complete_checked: set[int] = set()

    def log(self, text: str) -> None:
        if self.trace:
            print(f"t={self.now} {text}")

    # --- running -------------------------------------------------------------------------

    def run(self, ticks: int = 150, settle: int = 300) -> None:
        for _ in range(ticks):
            self.tick()
        self.faulty = False
        self.groups = []
        for node in self.nodes.values():
            node.down_until = 0
        deadline = self.now + settle
        asked: set[int] = set()  # terms whose leader was given a final proposal
        while self.now < deadline:
            self.tick()
            leader = self.leader()
            if leader is not None:
                raft = self.nodes[leader].raft
                assert raft is not None
                if raft.term not in asked:
                    asked.add(raft.term)
                    self.propose(leader, b"final%d" % raft.term)
            if self.converged():
                self.check_acked_everywhere()
                return
        raise SafetyViolation(f"no progress within {settle} ticks after healing: {self.state()}")

    def tick(self) -> None:
        self.now += 1
        if self.faulty:
            self.inject_faults()
        due: dict[str, list[Message]] = defaultdict(list)
        while self.network and self.network[0][0] <= self.now:
            _, _, msg = heapq.heappop(self.network)
            if self.deliverable(msg):
                due[msg.to].append(msg)
        order = list(self.nodes)
        self.rng.shuffle(order)
        for node_id in order:
            self.step_node(node_id, due.get(node_id, []))

    def inject_faults(self) -> None:
        f, rng = self.faults, self.rng
        if self.groups and self.now >= self.heal_at:
            self.log("heal")
            self.groups = []
        elif not self.groups and rng.random() < f.partition:
            ids = list(self.nodes)
            rng.shuffle(ids)
            cut = rng.randrange(1, len(ids))
            self.groups = [set(ids[:cut]), set(ids[cut:])]
            self.heal_at = self.now + rng.randrange(5, 60)
            self.log(f"partition {self.groups}")
        for node_id, node in self.nodes.items():
            if node.raft is not None and rng.random() < f.crash:
                self.crash(node_id, rng.randrange(1, 40))

    def crash(self, node_id: str, down_for: int) -> None:
        node = self.nodes[node_id]
        self.log(f"crash {node_id}")
        node.storage.crash()
        node.raft = None
        node.down_until = self.now + down_for

    def step_node(self, node_id: str, messages: list[Message]) -> None:
        node = self.nodes[node_id]
        if node.raft is None:
            if self.now < node.down_until:
                return
            self.log(f"restart {node_id}")
            node.start()
            self.check_restart(node_id)
        raft = node.raft
        assert raft is not None
        for msg in messages:
            if self.trace:
                self.log(f"deliver {fmt_message(msg)}")
            raft.step(msg)
        raft.tick()
        f = self.faults
        if self.faulty and raft.role is Role.LEADER:
            if self.rng.random() < f.propose:
                self.propose(node_id, b"p%d" % self.proposed)
            if self.rng.random() < f.read:
                self.read(node_id)
        if raft.has_ready():
            self.handle_ready(node_id, raft.ready())
            if node.raft is None:
                return
        self.check_node(node_id)
        if raft.log.applied - raft.log.offset >= f.compact_after:
            self.compact(node_id)

    # --- the host ------------------------------------------------------------------------

    def propose(self, node_id: str, data: bytes) -> bytes | None:
        node = self.nodes[node_id]
        assert node.raft is not None
        try:
            index = node.raft.propose(data)
        except RaftError:
            return None
        self.proposed += 1
        node.proposals[(node.raft.term, index)] = data
        return data

    def read(self, node_id: str) -> None:
        raft = self.nodes[node_id].raft
        assert raft is not None
        context = b"r%d" % len(self.ghost.reads)
        self.ghost.reads[context] = max(self.ghost.committed, default=0)
        raft.read_index(context)

    def handle_ready(self, node_id: str, rd: Ready) -> None:
        node = self.nodes[node_id]
        raft = node.raft
        assert raft is not None
        self.check_ready_entries(node_id, rd)
        node.storage.write(rd)
        if self.faulty and self.rng.random() < self.faults.crash / 4:
            self.crash(node_id, self.rng.randrange(1, 20))  # written, nothing sent
            return
        for msg in rd.messages:
            self.send(msg)
        if rd.snapshot is not None:
            node.machine = self.machine_type.restore(rd.snapshot)
            self.check_snapshot(rd.snapshot)
        for entry in rd.committed_entries:
            self.apply(node, entry)
        for rs in rd.read_states:
            asked = self.ghost.reads[rs.context]
            if rs.index < asked:
                raise SafetyViolation(f"read {rs.context!r} at {rs.index}: {asked} was committed")
        raft.advance(rd)

    def send(self, msg: Message) -> None:
        f, rng = self.faults, self.rng
        if self.faulty and rng.random() < f.drop:
            return
        copies = 2 if self.faulty and rng.random() < f.duplicate else 1
        for _ in range(copies):
            delay = rng.randint(1, f.max_delay) if self.faulty else 1
            self.sent += 1
            heapq.heappush(self.network, (self.now + delay, self.sent, msg))

    def deliverable(self, msg: Message) -> bool:
        return not self.groups or any(msg.frm in g and msg.to in g for g in self.groups)

    def apply(self, node: SimNode, entry: Entry) -> None:
        node.machine.apply(entry)
        seen = self.ghost.applied.setdefault(entry.index, entry.data)
        if seen != entry.data:
            raise SafetyViolation(f"{node.config.id} applied {entry} where {seen!r} was applied")
        proposed = node.proposals.pop((entry.term, entry.index), None)
        if proposed is not None:
            if proposed != entry.data:
                raise SafetyViolation(f"proposal {proposed!r} committed as {entry}")
            self.ghost.acked[entry.index] = proposed

    def compact(self, node_id: str) -> None:
        node = self.nodes[node_id]
        raft = node.raft
        assert raft is not None
        index = max(raft.log.offset + 1, raft.log.applied - self.rng.randrange(3))
        term = raft.log.term(index)
        assert term is not None
        snapshot = Snapshot(
            SnapshotMeta(index, term, node.config.voters), node.machine.snapshot_data(index)
        )
        raft.compact(snapshot)
        node.storage.compact(snapshot)

    # --- checks --------------------------------------------------------------------------

    def check_ready_entries(self, node_id: str, rd: Ready) -> None:
        """Log matching, as entries are written: one (index, term), one entry."""
        raft = self.nodes[node_id].raft
        assert raft is not None
        for entry in rd.entries:
            key = (entry.index, entry.term)
            found = (entry.data, raft.log.term(entry.index - 1))
            seen = self.ghost.entries.setdefault(key, found)
            if seen != found:
                raise SafetyViolation(f"{node_id} holds {entry} after {found}, others {seen}")

    def check_snapshot(self, snapshot: Snapshot) -> None:
        for index, data in self.machine_type.restore(snapshot).items:
            if self.ghost.applied.get(index, data) != data:
                raise SafetyViolation(f"snapshot has {data!r} at {index}")

    def check_node(self, node_id: str) -> None:
        node = self.nodes[node_id]
        raft = node.raft
        assert raft is not None
        log, ghost = raft.log, self.ghost
        if raft.role is Role.LEADER:
            first = ghost.leaders.setdefault(raft.term, node_id)
            if first != node_id:
                raise SafetyViolation(f"{node_id} and {first} both lead term {raft.term}")
        if log.committed < node.commit:
            raise SafetyViolation(f"{node_id} commit went back {node.commit} -> {log.committed}")
        new = range(max(node.commit, log.offset) + 1, log.committed + 1)
        node.commit = log.committed
        leaders = [n.raft for n in self.nodes.values() if n.raft and n.raft.role is Role.LEADER]
        for index in new:
            term = log.term(index)
            assert term is not None
            if ghost.committed.setdefault(index, term) != term:
                raise SafetyViolation(
                    f"{node_id} committed {term}/{index}: {ghost.committed[index]}"
                )
            for leader in leaders:
                # Committed now, in this node's term at the latest: leaders of later terms
                # must hold it. A stale leader of an earlier term (cut off in a minority)
                # need not: an entry of an old term may be committed after it was elected.
                later = leader.term > raft.term and index > leader.log.offset
                if later and leader.log.term(index) != term:
                    raise SafetyViolation(f"leader {leader.id} lacks committed {term}/{index}")
        if raft.role is Role.LEADER and raft.term not in self._complete_checked:
            self._complete_checked.add(raft.term)
            for index, term in ghost.committed.items():
                if index > log.offset and log.term(index) != term:
                    raise SafetyViolation(f"new leader {node_id} lacks committed {term}/{index}")

    def check_restart(self, node_id: str) -> None:
        raft = self.nodes[node_id].raft
        assert raft is not None
        for entry in raft.log.slice(raft.log.first_index(), raft.log.last_index()):
            if (entry.index, entry.term) not in self.ghost.entries:
                raise SafetyViolation(f"{node_id} restarted holding {entry}, never written")

    def check_acked_everywhere(self) -> None:
        for node_id, node in self.nodes.items():
            applied = dict(node.machine.items)
            for index, data in self.ghost.acked.items():
                if applied.get(index) != data:
                    raise SafetyViolation(f"{node_id} lost acknowledged {data!r} at {index}")

    # --- looking -------------------------------------------------------------------------

    def leader(self) -> str | None:
        leaders = [i for i, n in self.nodes.items() if n.raft and n.raft.role is Role.LEADER]
        return max(leaders, key=lambda i: self.nodes[i].raft.term) if leaders else None  # type: ignore[union-attr]

    def converged(self) -> bool:
        """A final proposal was acknowledged and every node applied all acknowledged ones."""
        acked = self.ghost.acked
        if not any(data.startswith(b"final") for data in acked.values()):
            return False
        return all(n.machine.index >= max(acked) for n in self.nodes.values())

    def state(self) -> str:
        parts = []
        for node_id, node in self.nodes.items():
            if node.raft is None:
                parts.append(f"{node_id}: down")
                continue
            s = node.raft.status()
            parts.append(f"{node_id}: {s.role} t{s.term} commit={s.commit} last={s.last_index}")
        return "; ".join(parts)
