"""A group of Raft nodes driven one command at a time, each command answering with a trace.

Nodes are named 1..N. Every node has its own MemoryStorage and AppliedList; messages leave a
node only when its Ready is handled, and wait in one network queue until delivered.
Election timeouts are not random here: a node's timeout is election_tick plus its jitter
(0 unless `set-jitter` says otherwise), so `tick-election` fires a follower's timer.

Commands (ids are node names; `...` means one or more, all nodes when omitted):

    add-nodes N [pre-vote=B] [check-quorum=B] [election=T] [heartbeat=T] [max-entries=K]
    campaign ID                 propose ID DATA             read-index ID CTX
    transfer-leadership ID TO   compact ID INDEX            restart ID (crash, then load)
    tick ID [COUNT]             tick-heartbeat ID...        tick-election ID...
    set-jitter ID K
    process-ready ID...         deliver-msgs ID...          stabilize ID...
    partition A B | C ...       heal                        (cut/restore delivery)
    stash-msgs TO               replay-stash TO             (copy queued messages to TO
                                                             aside / queue them again first)
    drop-msgs TO...
    raft-state                  raft-log ID                 status ID
    applied ID
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from raft.config import Config, RaftError
from raft.core import Raft
from raft.types import Entry, Message, MessageType, Ready, Snapshot, SnapshotMeta
from tests.raft.memstore import AppliedList, MemoryStorage


class FixedJitter(random.Random):
    """Election timeouts of exactly election_tick + jitter."""

    def __init__(self, jitter: int = 0) -> None:
        super().__init__(0)
        self.jitter = jitter

    def randrange(self, start: int, stop: int | None = None, step: int = 1) -> int:
        return self.jitter % start if stop is None else start + self.jitter % (stop - start)


@dataclass
class Node:
    config: Config
    raft: Raft
    storage: MemoryStorage
    machine: AppliedList
    rng: FixedJitter


def fmt_entry(entry: Entry) -> str:
    return f'{entry.term}/{entry.index} "{entry.data.decode()}"'


def fmt_entries(entries: tuple[Entry, ...] | list[Entry]) -> str:
    return ", ".join(fmt_entry(e) for e in entries)


def fmt_message(m: Message) -> str:
    head = f"{m.frm}->{m.to} {m.type} term={m.term}"
    t = MessageType
    if m.type in (t.VOTE, t.PRE_VOTE):
        return f"{head} log={m.log_term}/{m.index}" + (" transfer" if m.context else "")
    if m.type in (t.VOTE_RESP, t.PRE_VOTE_RESP):
        return f"{head} {'rejected' if m.reject else 'granted'}"
    if m.type is t.APPEND:
        tail = f" entries=[{fmt_entries(m.entries)}]" if m.entries else ""
        return f"{head} log={m.log_term}/{m.index} commit={m.commit}{tail}"
    if m.type is t.APPEND_RESP:
        if m.reject:
            return f"{head} rejected index={m.index} hint={m.log_term}/{m.reject_hint}"
        return f"{head} index={m.index}"
    if m.type in (t.HEARTBEAT, t.HEARTBEAT_RESP):
        commit = f" commit={m.commit}" if m.type is t.HEARTBEAT else ""
        return head + commit + (f' ctx="{m.context.decode()}"' if m.context else "")
    if m.type is t.SNAPSHOT and m.snapshot is not None:
        return f"{head} snapshot={m.snapshot.meta.term}/{m.snapshot.meta.index}"
    return head


def fmt_ready(rd: Ready) -> list[str]:
    out = [f"  must_sync={str(rd.must_sync).lower()}"]
    if rd.soft_state:
        out.append(f"  soft: role={rd.soft_state.role} leader={rd.soft_state.leader or '-'}")
    if rd.hard_state:
        hs = rd.hard_state
        out.append(f"  hard: term={hs.term} vote={hs.vote or '-'} commit={hs.commit}")
    if rd.snapshot:
        out.append(f"  snapshot: {rd.snapshot.meta.term}/{rd.snapshot.meta.index}")
    if rd.entries:
        out.append(f"  entries: {fmt_entries(rd.entries)}")
    if rd.committed_entries:
        out.append(f"  committed: {fmt_entries(rd.committed_entries)}")
    out.extend(f"  read_state: index={r.index} ctx={r.context.decode()}" for r in rd.read_states)
    if rd.messages:
        out.append("  messages:")
        out.extend(f"    {fmt_message(m)}" for m in rd.messages)
    return out


@dataclass
class InteractionEnv:
    nodes: dict[str, Node] = field(default_factory=dict)
    queue: list[Message] = field(default_factory=list)
    groups: list[set[str]] = field(default_factory=list)
    stash: dict[str, list[Message]] = field(default_factory=dict)

    def run(self, command: str, args: list[str]) -> str:
        handler: Callable[[list[str]], list[str]] | None = getattr(
            self, "cmd_" + command.replace("-", "_"), None
        )
        if handler is None:
            raise ValueError(f"unknown command {command!r}")
        try:
            return "\n".join(handler(args))
        except RaftError as e:
            return f"error: {type(e).__name__}: {e}"

    def _ids(self, args: list[str]) -> list[str]:
        return args or sorted(self.nodes)

    # --- building ------------------------------------------------------------------------

    def cmd_add_nodes(self, args: list[str]) -> list[str]:
        count, options = int(args[0]), dict(a.split("=") for a in args[1:])
        voters = tuple(str(i) for i in range(1, count + 1))
        for node_id in voters:
            config = Config(
                node_id,
                voters,
                election_tick=int(options.get("election", 10)),
                heartbeat_tick=int(options.get("heartbeat", 1)),
                pre_vote=options.get("pre-vote", "true") == "true",
                check_quorum=options.get("check-quorum", "true") == "true",
                max_entries_per_message=int(options.get("max-entries", 256)),
            )
            storage, rng = MemoryStorage(), FixedJitter()
            raft = Raft(config, storage.synced.state(), rng)
            self.nodes[node_id] = Node(config, raft, storage, AppliedList(), rng)
        return [f"added {', '.join(voters)}"]

    def cmd_restart(self, args: list[str]) -> list[str]:
        node = self.nodes[args[0]]
        node.storage.crash()
        stored = node.storage.synced
        node.machine = AppliedList.restore(stored.snapshot)
        node.raft = Raft(
            node.config,
            stored.state(),
            node.rng,
            applied=node.machine.index,
            snapshot=stored.snapshot,
        )
        hs = stored.hard_state
        last = stored.entries[-1].index if stored.entries else node.machine.index
        vote = hs.vote or "-"
        return [f"{args[0]} restarted: term={hs.term} vote={vote} commit={hs.commit} last={last}"]

    def cmd_set_jitter(self, args: list[str]) -> list[str]:
        self.nodes[args[0]].rng.jitter = int(args[1])
        return []

    # --- the host's calls ----------------------------------------------------------------

    def cmd_campaign(self, args: list[str]) -> list[str]:
        self.nodes[args[0]].raft.campaign()
        return []

    def cmd_propose(self, args: list[str]) -> list[str]:
        return [f"index {self.nodes[args[0]].raft.propose(args[1].encode())}"]

    def cmd_read_index(self, args: list[str]) -> list[str]:
        self.nodes[args[0]].raft.read_index(args[1].encode())
        return []

    def cmd_transfer_leadership(self, args: list[str]) -> list[str]:
        self.nodes[args[0]].raft.transfer_leadership(args[1])
        return []

    def cmd_compact(self, args: list[str]) -> list[str]:
        node, index = self.nodes[args[0]], int(args[1])
        term = node.raft.log.term(index)
        assert term is not None
        meta = SnapshotMeta(index, term, node.config.voters)
        snapshot = Snapshot(meta, node.machine.snapshot_data(index))
        node.raft.compact(snapshot)
        node.storage.compact(snapshot)
        return [f"{args[0]} log now {node.raft.log.first_index()}..{node.raft.log.last_index()}"]

    def cmd_tick(self, args: list[str]) -> list[str]:
        for _ in range(int(args[1]) if len(args) > 1 else 1):
            self.nodes[args[0]].raft.tick()
        return []

    def cmd_tick_heartbeat(self, args: list[str]) -> list[str]:
        for node_id in self._ids(args):
            node = self.nodes[node_id]
            for _ in range(node.config.heartbeat_tick):
                node.raft.tick()
        return []

    def cmd_tick_election(self, args: list[str]) -> list[str]:
        for node_id in self._ids(args):
            node = self.nodes[node_id]
            for _ in range(node.config.election_tick + node.rng.jitter):
                node.raft.tick()
        return []

    # --- moving work ---------------------------------------------------------------------

    def process_ready(self, node_id: str) -> list[str]:
        node = self.nodes[node_id]
        rd = node.raft.ready()
        node.storage.write(rd)
        self.queue.extend(rd.messages)
        if rd.snapshot is not None:
            node.machine = AppliedList.restore(rd.snapshot)
        for entry in rd.committed_entries:
            node.machine.apply(entry)
        node.raft.advance(rd)
        return [f"> {node_id} handling Ready", *fmt_ready(rd)]

    def cmd_process_ready(self, args: list[str]) -> list[str]:
        out: list[str] = []
        for node_id in self._ids(args):
            if self.nodes[node_id].raft.has_ready():
                out += self.process_ready(node_id)
        return out

    def _connected(self, a: str, b: str) -> bool:
        return not self.groups or any(a in g and b in g for g in self.groups)

    def deliver(self, node_id: str) -> list[str]:
        mine = [m for m in self.queue if m.to == node_id]
        if not mine:
            return []
        self.queue = [m for m in self.queue if m.to != node_id]
        out = [f"> {node_id} receiving messages"]
        for m in mine:
            if not self._connected(m.frm, m.to):
                out.append(f"  {fmt_message(m)} DROPPED")
                continue
            out.append(f"  {fmt_message(m)}")
            self.nodes[node_id].raft.step(m)
        return out

    def cmd_deliver_msgs(self, args: list[str]) -> list[str]:
        return [line for node_id in self._ids(args) for line in self.deliver(node_id)]

    def cmd_stabilize(self, args: list[str]) -> list[str]:
        ids, out = self._ids(args), []
        while True:
            progressed = False
            for node_id in ids:
                if self.nodes[node_id].raft.has_ready():
                    out += self.process_ready(node_id)
                    progressed = True
            for node_id in ids:
                lines = self.deliver(node_id)
                out += lines
                progressed = progressed or bool(lines)
            if not progressed:
                return out

    def cmd_partition(self, args: list[str]) -> list[str]:
        self.groups = [set(part.split()) for part in " ".join(args).split("|")]
        return []

    def cmd_heal(self, args: list[str]) -> list[str]:
        self.groups = []
        return []

    def cmd_stash_msgs(self, args: list[str]) -> list[str]:
        stashed = [m for m in self.queue if m.to == args[0]]
        self.stash[args[0]] = stashed
        return [f"stashed {fmt_message(m)}" for m in stashed]

    def cmd_replay_stash(self, args: list[str]) -> list[str]:
        self.queue = self.stash.pop(args[0], []) + self.queue
        return []

    def cmd_drop_msgs(self, args: list[str]) -> list[str]:
        dropped = [m for m in self.queue if m.to in args]
        self.queue = [m for m in self.queue if m.to not in args]
        return [f"dropped {fmt_message(m)}" for m in dropped]

    # --- looking -------------------------------------------------------------------------

    def cmd_raft_state(self, args: list[str]) -> list[str]:
        out = []
        for node_id in self._ids(args):
            r = self.nodes[node_id].raft
            out.append(f"{node_id}: {r.role} term={r.term} leader={r.lead or '-'}")
        return out

    def cmd_raft_log(self, args: list[str]) -> list[str]:
        log = self.nodes[args[0]].raft.log
        out = [f"snapshot {log.offset_term}/{log.offset}"] if log.offset else []
        out += [fmt_entry(e) for e in log.slice(log.first_index(), log.last_index())]
        return [*out, f"commit={log.committed} applied={log.applied}"]

    def cmd_status(self, args: list[str]) -> list[str]:
        s = self.nodes[args[0]].raft.status()
        out = [
            f"{s.id}: {s.role} term={s.term} vote={s.vote or '-'} leader={s.leader or '-'} "
            f"commit={s.commit} applied={s.applied} log={s.first_index}..{s.last_index}"
        ]
        for peer, p in sorted(s.progress.items()):
            active = " active" if p.recent_active else ""
            out.append(f"  {peer}: {p.state} match={p.match} next={p.next}{active}")
        return out

    def cmd_applied(self, args: list[str]) -> list[str]:
        machine = self.nodes[args[0]].machine
        items = " ".join(data.decode() for _, data in machine.items)
        return [f"{args[0]} applied to {machine.index}: {items}"]
