"""A seeded, deterministic simulation of the lock service on the Raft group of
tests/raft/sim.py, under the same faults (lost, late and duplicated messages, partitions,
crashes), checking after every step that a lock is never held by two at once — not in the
replicas' state, not in the clients' heads, not at the resource the lock guards.

Each node applies the committed entries to a `SessionTable(CoordMachine())`, as a namenode
does. The leader runs a `LeaseTracker` on its own monotonic clock (the virtual one) and
proposes the expiries it decides; the log's times are the nodes' wall clocks, which
disagree by up to half a second, and nothing may depend on them.

Clients open sessions and keep them alive through whichever node they think leads
(retrying with the same sequence number after a timeout or a "not leader"), renewing at
random points of the ttl — sometimes only once their own count has run out, so that a
keepalive often races the leader's expiry. They take one or two locks — mostly
exclusive, waiting their turn, polling by asking again — hold them a while and release
them. Each counts its lease with a `ClientLease` from when it sent, and believes it holds a
lock only while that lease is valid. Now and then a client stops renewing, or is paused
(a process SIGSTOPped: nothing it does, its answers wait); a paused client that resumes
first writes with the token it had, without checking anything. A client writes to the
`Resource` only with a token; the resource refuses any token lower than one it accepted.

Checked as it runs:

(a) on every replica, after every entry: at most one exclusive holder per lock, never an
    exclusive holder beside shared ones, and a lock's tokens strictly grow;
(b) at every tick, by the clients' own accounting (their clocks do not drift): no client
    believes it holds a lock exclusively while another believes it holds it at all;
(c) every write the resource accepts carries a token that the replicas granted to the
    session of the client that wrote it, and a token is never granted twice;
(d) the replicas agree: the same result at every index, the same state at the end.

Then everything heals, and every client must be granted each of its locks within a bound.
"""

from __future__ import annotations

import heapq
import json
import random
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

from coord.commands import Mode
from coord.leases import ClientLease, LeaseTracker
from coord.machine import CoordMachine, Effects
from raft.config import RaftError
from raft.machine import Request
from raft.sessions import SessionTable
from raft.types import Entry, Role, Snapshot, SnapshotMeta
from tests.coord.invariants import TokenWatch, check_state
from tests.raft.memstore import AppliedList
from tests.raft.sim import SafetyViolation, SimNode, Simulation

MS = 10  # virtual milliseconds per tick
TTLS = (1_000, 1_500, 2_000)
LOCKS = ("alpha", "beta")
RETRY_MS = 200  # a client resends an unanswered request after this long
SKEW_MS = 500  # the nodes' wall clocks are off by up to this much


class CoordReplica(AppliedList):
    """A node's state machine: the entries applied (for tests/raft/sim.py's checks), and
    the lock service they make. It snapshots only what it has applied, as a real host."""

    def __init__(
        self, items: list[tuple[int, bytes]] | None = None, index: int = 0, state: bytes = b""
    ) -> None:
        super().__init__(items, index)
        self.coord = CoordMachine()
        self.table = SessionTable(self.coord)
        if state:
            self.table.restore(state)
        self.tokens = TokenWatch(self.coord)
        self.result: Any = None
        self.effects = Effects()

    def apply(self, entry: Entry) -> None:
        super().apply(entry)
        self.result, self.effects = None, Effects()
        if entry.data.startswith(b"{"):  # else a leader's no-op
            self.coord.effects = Effects()  # a repeat answered by the table applies nothing
            self.result = self.table.apply(entry.index, Request.decode(entry.data))
            self.effects = self.coord.effects
            check_state(self.coord)
            self.tokens.observe(entry.index, self.effects)

    def snapshot_data(self, upto: int) -> bytes:
        assert upto == self.index, "the lock service snapshots what it has applied"
        return self.table.snapshot().hex().encode() + b"\n" + super().snapshot_data(upto)

    @classmethod
    def restore(cls, snapshot: Snapshot | None) -> CoordReplica:
        if snapshot is None:
            return cls()
        state, _, rest = snapshot.data.partition(b"\n")
        applied = AppliedList.restore(replace(snapshot, data=rest))
        return cls(applied.items, applied.index, bytes.fromhex(state.decode()))


@dataclass
class Call:
    """A request a client waits on; resent with the same seq until answered."""

    seq: int
    command: dict[str, Any]
    first_sent: int  # ms: a lease counts from here, whichever copy was applied
    sent: int
    epoch: int = 0  # acquire: the client's release count for the lock when asked


@dataclass
class Resource:
    """What a lock guards: it refuses a token lower than the highest it has accepted."""

    highest: int = 0

    def write(self, token: int) -> bool:
        if token < self.highest:
            return False
        self.highest = token
        return True


class SimClient:
    def __init__(self, name: str, rng: random.Random, nodes: list[str]) -> None:
        self.name, self.rng, self.nodes = name, rng, nodes
        self.ttl_ms = rng.choice(TTLS)
        self.locks = LOCKS[: rng.choice([1, 2])]
        self.target = rng.choice(nodes)
        self.session: str | None = None
        self.lease = ClientLease()
        self.seq = 0
        self.calls: dict[int, Call] = {}
        self.held: dict[str, tuple[int, Mode]] = {}  # lock -> (token, mode)
        self.release_at: dict[str, int] = {}
        self.epoch = dict.fromkeys(LOCKS, 0)
        self.want: dict[str, Mode] = {}
        self.next_try = dict.fromkeys(LOCKS, 0)
        self.next_renewal = 0
        self.paused_until = 0
        self.was_paused = False
        self.silent_until = 0
        self.inbox: list[tuple[Call, Any]] = []
        self.granted_since: dict[str, int] = {}  # lock -> when last granted

    def believes(self, lock: str, now: int) -> Mode | None:
        held = self.held.get(lock)
        return held[1] if held is not None and self.lease.valid(now) else None

    # --- what it does ------------------------------------------------------------------

    def step(self, sim: CoordSimulation, now: int) -> None:
        if now < self.paused_until:
            return
        if self.was_paused:  # back from a pause: writes first, checks after
            self.was_paused = False
            for lock, (token, _) in self.held.items():
                sim.write(self, lock, token, stale=True)
        for call, result in self.inbox:
            self.answer(sim, call, result, now)
        self.inbox = []
        for call in self.calls.values():
            if now - call.sent >= RETRY_MS:
                self.target = self.rng.choice(self.nodes)
                call.sent = now
                sim.transmit(self, call)
        if self.session is None:
            if not self.calls:
                self.call(sim, {"op": "open", "ttl_ms": self.ttl_ms, "owner": self.name}, now)
            return
        if now >= max(self.silent_until, self.next_renewal):
            # Early, or late — even once its own count has run out, as the leader honours
            # the session a little longer: all within the rules.
            self.next_renewal = now + int(self.ttl_ms * self.rng.uniform(0.2, 1.1))
            self.call(sim, {"op": "keepalive", "session": self.session}, now)
        for lock in self.locks:
            self.use(sim, lock, now)

    def use(self, sim: CoordSimulation, lock: str, now: int) -> None:
        assert self.session is not None
        if lock in self.held:
            token, mode = self.held[lock]
            if self.believes(lock, now) and mode is Mode.EXCLUSIVE and self.rng.random() < 0.3:
                sim.write(self, lock, token, stale=False)
            if now >= self.release_at[lock]:
                # It stops believing as it asks: the answer may never come.
                del self.held[lock]
                self.epoch[lock] += 1
                self.next_try[lock] = now + self.rng.randrange(0, 500)
                self.call(sim, {"op": "release", "session": self.session, "lock": lock}, now)
        elif now >= self.next_try[lock] and not self.asking(lock):
            # Asked again in the same mode until granted: asking again is how it polls.
            mode = self.want.setdefault(lock, self.rng.choice([Mode.EXCLUSIVE] * 6 + [Mode.SHARED]))
            wait = self.rng.random() < 0.9
            command = {"op": "acquire", "session": self.session, "lock": lock, "mode": mode.value}
            self.call(sim, {**command, "wait": wait}, now, epoch=self.epoch[lock])

    def asking(self, lock: str) -> bool:
        return any(c.command.get("lock") == lock for c in self.calls.values())

    def call(self, sim: CoordSimulation, command: dict[str, Any], now: int, epoch: int = 0) -> None:
        self.seq += 1
        call = self.calls[self.seq] = Call(self.seq, command, now, now, epoch)
        sim.transmit(self, call)

    # --- what it hears -----------------------------------------------------------------

    def receive(self, call: Call, result: Any, now: int) -> None:
        if self.calls.pop(call.seq, None) is not None:  # else a duplicate answer
            self.inbox.append((call, result))  # read at its next step, once not paused

    def not_leader(self, call: Call, hint: str | None) -> None:
        if call.seq in self.calls:
            self.target = hint or self.rng.choice(self.nodes)
            call.sent = -RETRY_MS  # resend at once

    def answer(self, sim: CoordSimulation, call: Call, result: Any, now: int) -> None:
        command, op = call.command, call.command["op"]
        if not isinstance(result, dict):
            return  # the session table no longer knows: as if lost
        if op == "open":
            if "ok" in result and self.session is None:
                self.session = result["ok"]["session"]
                self.lease = ClientLease()
                self.lease.acknowledged(call.first_sent, self.ttl_ms)
                self.next_renewal = call.first_sent + self.ttl_ms // 4
            return
        if command["session"] != self.session:
            return  # about a session it has given up
        error = result.get("error", {}).get("RemoteException", {}).get("exception")
        if error == "SessionExpiredException":
            self.session = None
            self.lease.lost()
            self.held.clear()
            self.calls = {s: c for s, c in self.calls.items() if "session" not in c.command}
            self.epoch = {lock: e + 1 for lock, e in self.epoch.items()}
        elif op == "keepalive" and "ok" in result:
            self.lease.acknowledged(call.first_sent, self.ttl_ms)
        elif op == "acquire" and call.epoch == self.epoch[command["lock"]]:
            self.acquired(sim, command, result, now)

    def acquired(
        self, sim: CoordSimulation, command: dict[str, Any], result: Any, now: int
    ) -> None:
        lock = command["lock"]
        ok = result.get("ok", {})
        if ok.get("granted"):
            token = ok["token"]
            sim.check_told(self, lock, token)
            self.held[lock] = (token, self.want.pop(lock))
            self.release_at[lock] = now + self.rng.randrange(100, 1500)
            self.granted_since[lock] = now
        else:  # queued: ask again soon; refused: later
            self.next_try[lock] = now + (50 if "ok" in result else self.rng.randrange(100, 800))


@dataclass(order=True)
class _Delivery:
    at: int
    seq: int
    kind: str = field(compare=False)
    args: tuple[Any, ...] = field(compare=False)


class CoordSimulation(Simulation):
    machine_type = CoordReplica

    def __init__(self, seed: int, nodes: int = 3, *, clients: int = 4, trace: bool = False):
        super().__init__(seed, nodes, trace=trace)
        self.faults = replace(self.faults, propose=0.0)  # the clients make the load
        ids = list(self.nodes)
        rng = self.rng
        self.skew = {n: rng.randrange(-SKEW_MS, SKEW_MS + 1) for n in ids}
        self.trackers = {n: LeaseTracker() for n in ids}
        self.lead_term = dict.fromkeys(ids, 0)
        self.clients = [
            SimClient(f"c{i}", random.Random(seed * 104729 + i), ids) for i in range(clients)
        ]
        self.by_name = {c.name: c for c in self.clients}
        self.wire: list[_Delivery] = []
        self.waiting: dict[str, dict[tuple[int, int], tuple[str, Call]]] = {n: {} for n in ids}
        self.resources = {lock: Resource() for lock in LOCKS}
        self.granted: dict[tuple[str, int], tuple[int, set[str]]] = {}  # (lock, token)
        self.results: dict[int, str] = {}
        self.stats: Counter[str] = Counter()  # what happened, to show a run tested something

    @property
    def ms(self) -> int:
        return self.now * MS

    # --- running -----------------------------------------------------------------------

    def run(self, ticks: int = 800, settle: int = 1_500) -> None:
        for _ in range(ticks):
            self.tick()
        self.heal()
        healed = self.ms
        deadline = self.now + settle
        while self.now < deadline:
            self.tick()
            if all(
                c.granted_since.get(lock, -1) >= healed for c in self.clients for lock in c.locks
            ):
                self.check_replicas_agree()
                return
        starved = [
            c.name
            for c in self.clients
            if any(c.granted_since.get(lk, -1) < healed for lk in c.locks)
        ]
        raise SafetyViolation(
            f"{starved} not granted within {settle} ticks of healing: {self.state()}"
        )

    def heal(self) -> None:
        self.log("heal all")
        self.faulty = False
        self.groups = []
        for node in self.nodes.values():
            node.down_until = 0
        for client in self.clients:
            client.paused_until = min(client.paused_until, self.ms)
            client.silent_until = 0

    def tick(self) -> None:
        super().tick()  # the nodes: messages, ticks, Readies, applying
        self.lead_and_expire()
        self.deliver()
        for client in self.clients:
            if self.faulty:
                self.upset(client)
            client.step(self, self.ms)
        self.check_beliefs()

    def upset(self, client: SimClient) -> None:
        # A holder is paused more often than others: that is the case fencing is for.
        pause = 0.01 if client.held else 0.001
        if client.paused_until <= self.ms and self.rng.random() < pause:
            client.paused_until = self.ms + self.rng.randrange(50, 400) * MS
            client.was_paused = True
            self.stats["pauses"] += 1
            self.log(f"pause {client.name} until {client.paused_until}")
        if self.rng.random() < 0.002:
            client.silent_until = self.ms + self.rng.randrange(50, 300) * MS
            self.log(f"{client.name} stops renewing until {client.silent_until}")

    # --- the nodes' host work ----------------------------------------------------------

    def lead_and_expire(self) -> None:
        for node_id, node in self.nodes.items():
            tracker, raft = self.trackers[node_id], node.raft
            if raft is None or raft.role is not Role.LEADER:
                if tracker.leading:
                    tracker.step_down()
                self.lead_term[node_id] = 0
                continue
            machine = node.machine
            assert isinstance(machine, CoordReplica)
            if self.lead_term[node_id] != raft.term:
                self.lead_term[node_id] = raft.term
                tracker.lead(self.ms, machine.coord.sessions())
            for command in tracker.due(self.ms):
                self.log(f"{node_id} proposes {command}")
                self.propose_request(node_id, Request(command, "", 0, self.wall(node_id)))

    def wall(self, node_id: str) -> int:
        return self.ms + self.skew[node_id]

    def propose_request(self, node_id: str, request: Request) -> int | None:
        raft = self.nodes[node_id].raft
        assert raft is not None
        try:
            index = raft.propose(request.encode())
        except RaftError:
            return None
        return index

    def apply(self, node: SimNode, entry: Entry) -> None:
        super().apply(node, entry)
        replica = node.machine
        assert isinstance(replica, CoordReplica)
        if not entry.data.startswith(b"{"):
            return
        result = json.dumps(replica.result, sort_keys=True, default=repr)
        if self.results.setdefault(entry.index, result) != result:
            raise SafetyViolation(
                f"{node.config.id} answered {result} at {entry.index}: "
                f"{self.results[entry.index]} elsewhere"
            )
        for grant in replica.effects.granted:
            first, sessions = self.granted.setdefault(
                (grant.lock, grant.token), (entry.index, set())
            )
            if first != entry.index:
                raise SafetyViolation(f"token {grant.token} of {grant.lock} granted again: {grant}")
            sessions.add(grant.session)
        if replica.effects.ended:
            self.stats["ended"] += len(replica.effects.ended)
        tracker = self.trackers[node.config.id]
        if tracker.leading:
            tracker.observe(replica.effects, self.ms)
        waiting = self.waiting[node.config.id].pop((entry.term, entry.index), None)
        if waiting is not None:
            self.post(waiting[0], "answer", waiting[1], replica.result)

    def compact(self, node_id: str) -> None:
        """As tests/raft/sim.py does, but at the applied index only."""
        node = self.nodes[node_id]
        raft = node.raft
        assert raft is not None
        index = raft.log.applied
        term = raft.log.term(index)
        assert term is not None
        meta = SnapshotMeta(index, term, node.config.voters)
        snapshot = Snapshot(meta, node.machine.snapshot_data(index))
        raft.compact(snapshot)
        node.storage.compact(snapshot)

    def crash(self, node_id: str, down_for: int) -> None:
        super().crash(node_id, down_for)
        self.trackers[node_id].step_down()
        self.waiting[node_id].clear()

    # --- the clients' network ----------------------------------------------------------

    def post(self, to: str, kind: str, *args: Any) -> None:
        f = self.faults
        if self.faulty and self.rng.random() < f.drop:
            return
        self.sent += 1
        delay = self.rng.randint(1, f.max_delay) if self.faulty else 1
        heapq.heappush(self.wire, _Delivery(self.now + delay, self.sent, kind, (to, *args)))

    def transmit(self, client: SimClient, call: Call) -> None:
        self.post(client.target, "request", client.name, call)

    def write(self, client: SimClient, lock: str, token: int, *, stale: bool) -> None:
        self.post(lock, "write", client.name, client.session, token, stale)

    def deliver(self) -> None:
        while self.wire and self.wire[0].at <= self.now:
            d = heapq.heappop(self.wire)
            to, *args = d.args
            if d.kind == "request":
                self.request(to, *args)
            elif d.kind == "answer":
                self.by_name[to].receive(args[0], args[1], self.ms)
            elif d.kind == "not leader":
                self.by_name[to].not_leader(*args)
            else:
                self.resource_write(to, *args)

    def request(self, node_id: str, client: str, call: Call) -> None:
        raft = self.nodes[node_id].raft
        if raft is None:
            return
        if raft.role is not Role.LEADER:
            self.post(client, "not leader", call, raft.lead)
            return
        request = Request(call.command, client, call.seq, self.wall(node_id))
        index = self.propose_request(node_id, request)
        if index is not None:
            self.waiting[node_id][(raft.term, index)] = (client, call)

    def resource_write(self, lock: str, client: str, session: str, token: int, stale: bool) -> None:
        accepted = self.resources[lock].write(token)
        kind = "stale" if stale else "fresh"
        self.stats[f"{kind} writes {'accepted' if accepted else 'refused'}"] += 1
        if accepted:
            _, sessions = self.granted.get((lock, token), (0, set()))
            if session not in sessions:
                raise SafetyViolation(
                    f"{lock} took token {token} from {client} ({session}); granted to {sessions}"
                )

    # --- checks ------------------------------------------------------------------------

    def check_told(self, client: SimClient, lock: str, token: int) -> None:
        _, sessions = self.granted.get((lock, token), (0, set()))
        if client.session not in sessions:
            raise SafetyViolation(f"{client.name} told it holds {lock} with {token}: {sessions}")
        self.stats["grants"] += 1

    def check_beliefs(self) -> None:
        for lock in LOCKS:
            believers = [(c.name, m) for c in self.clients if (m := c.believes(lock, self.ms))]
            exclusive = [name for name, mode in believers if mode is Mode.EXCLUSIVE]
            if exclusive and len(believers) > 1:
                raise SafetyViolation(f"at {self.ms} ms {believers} all believe they hold {lock}")

    def check_replicas_agree(self) -> None:
        """Stops the clients and lets the group settle, then compares the replicas."""
        for _ in range(200):
            super().tick()
            indices = {n.machine.index for n in self.nodes.values()}
            commits = {n.raft.log.committed for n in self.nodes.values() if n.raft}
            if len(indices) == 1 and indices == commits:
                break
        else:
            raise SafetyViolation(f"replicas did not settle: {self.state()}")
        states = set()
        for node in self.nodes.values():
            assert isinstance(node.machine, CoordReplica)
            states.add(node.machine.table.snapshot())
        if len(states) != 1:
            raise SafetyViolation(f"replicas differ at index {indices}")
