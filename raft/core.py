"""The Raft algorithm, pure: driven by `tick()`, `step(message)` and the host's requests, it
hands back what to persist, send and apply as a `Ready`. No sockets, files, clocks or
threads; randomness comes from an injected `random.Random`.

The host's loop, one thread owning the core:

    raft = Raft(config, storage.load(), rng, applied=..., snapshot=storage.snapshot())
    loop:
        raft.step(m) for each message received;  raft.tick() once per tick
        raft.propose(data) / raft.read_index(ctx) as clients ask (leader only)
        if raft.has_ready():
            rd = raft.ready()
            persist rd.hard_state, rd.snapshot, rd.entries; fsync if rd.must_sync
            send rd.messages              -- never before the line above is durable
            restore rd.snapshot, apply rd.committed_entries; serve rd.read_states
            raft.advance(rd)

Between `ready()` and `advance()` the host must call nothing else on the core
(ReadyPendingError): a Ready is one indivisible batch of work.

Extensions beyond the Raft paper, as etcd-io/raft has them:

* PRE-VOTE — before bumping its term a node asks whether it could win; a voter agrees only
  if the candidate's log is up to date and it has not heard from a leader within an
  election timeout. A partitioned node thus cannot inflate terms and depose a healthy leader.
* CHECK-QUORUM — a leader that has not heard from a quorum within an election timeout steps
  down; a node that heard from a leader within one ignores vote requests ("in lease").
* READ-INDEX — linearizable reads without writing to the log (see raft.readindex).
* Leadership transfer by TIMEOUT_NOW.

A request the node cannot serve (a proposal while following, say) raises one of the errors
in raft.config; a read request lost to a change of leader is dropped silently — the host
times it out.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Sequence

from raft.config import (
    Config,
    NotLeaderError,
    PeerStatus,
    ProposalDroppedError,
    ReadyPendingError,
    Status,
)
from raft.log import RaftLog
from raft.progress import Progress, ProgressState
from raft.readindex import ReadIndexQueue
from raft.types import (
    Entry,
    HardState,
    Message,
    MessageType,
    NodeId,
    PersistentState,
    ReadState,
    Ready,
    Role,
    Snapshot,
    SoftState,
)

# A vote request carrying this context comes from a leadership transfer: voters in lease
# answer it anyway, the old leader having asked for it.
TRANSFER_CONTEXT = b"transfer"


class _Poll(enum.Enum):
    PENDING = "pending"
    WON = "won"
    LOST = "lost"


class Raft:
    def __init__(
        self,
        config: Config,
        state: PersistentState,
        rng: random.Random,
        *,
        applied: int = 0,
        snapshot: Snapshot | None = None,
    ) -> None:
        """Build a node from what it finds on stable storage. `applied` is how far the host's
        state machine already is (at least the snapshot's index, once restored from it);
        `snapshot` is the stored snapshot with its data, required when there is one, as a
        leader sends it to followers needing entries it replaced."""
        if state.snapshot.index and (snapshot is None or snapshot.meta != state.snapshot):
            raise ValueError("the stored snapshot's data must be given with its meta")
        self.config = config
        self.id = config.id
        self._peers = tuple(v for v in config.voters if v != config.id)
        self._rng = rng
        hard = state.hard_state
        self.log = RaftLog(
            state.snapshot,
            state.entries,
            committed=hard.commit,
            applied=applied,
            snapshot_data=snapshot if state.snapshot.index else None,
        )
        self.term = hard.term
        self.vote = hard.vote
        self.role = Role.FOLLOWER
        self.lead: NodeId | None = None
        self._election_elapsed = 0
        self._heartbeat_elapsed = 0
        self._randomized_timeout = config.election_tick
        self._votes: dict[NodeId, bool] = {}
        self._progress: dict[NodeId, Progress] = {}
        self._transferee: NodeId | None = None
        self._reads = ReadIndexQueue()
        self._reads_waiting: list[bytes] = []  # until the leader commits in its own term
        self._msgs: list[Message] = []
        self._read_states: list[ReadState] = []
        self._prev_hard = hard
        self._prev_soft = SoftState(None, Role.FOLLOWER)
        self._outstanding: Ready | None = None
        self._reset(self.term)

    # --- the host's calls ----------------------------------------------------------------

    def tick(self) -> None:
        self._idle()
        if self.role is Role.LEADER:
            self._tick_leader()
        else:
            self._election_elapsed += 1
            if self._election_elapsed >= self._randomized_timeout:
                self._election_elapsed = 0
                self._hup(transfer=False)

    def campaign(self) -> None:
        """Start an election now (through pre-vote when configured); a leader ignores it."""
        self._idle()
        self._hup(transfer=False)

    def propose(self, data: bytes) -> int:
        """Append `data` to the log; returns its index. It is committed when it appears in
        a Ready's committed_entries with this index and the term of now."""
        return self.propose_many([data])

    def propose_many(self, batch: Sequence[bytes]) -> int:
        """Append each of `batch` in order, sent to the peers as one append; returns the
        first one's index (the others follow it)."""
        self._idle()
        if self.role is not Role.LEADER:
            raise NotLeaderError(self.lead)
        if self._transferee is not None:
            raise ProposalDroppedError(f"handing leadership to {self._transferee}")
        if not batch:
            raise ValueError("nothing to propose")
        first = self.log.last_index() + 1
        self.log.append([Entry(self.term, first + i, data) for i, data in enumerate(batch)])
        self._bcast_append()
        return first

    def read_index(self, context: bytes) -> None:
        """Ask for a linearizable read point; a ReadState with this context comes in a later
        Ready once this node has proven it still leads. Contexts must be unique."""
        self._idle()
        if self.role is not Role.LEADER:
            raise NotLeaderError(self.lead)
        if self._committed_in_term():
            self._start_read(context)
        elif context not in self._reads_waiting:
            self._reads_waiting.append(context)

    def transfer_leadership(self, to: NodeId) -> None:
        """Hand leadership to `to`: once its log is caught up it is told to campaign at once.
        Proposals are refused meanwhile; the attempt lapses after an election timeout."""
        self._idle()
        if self.role is not Role.LEADER:
            raise NotLeaderError(self.lead)
        if to not in self._peers:
            raise ValueError(f"{to} is not another voter")
        self._transferee = to
        self._election_elapsed = 0
        if self._progress[to].match == self.log.last_index():
            self._send(Message(MessageType.TIMEOUT_NOW, to, self.id, self.term))
        else:
            self._send_append(to)

    def compact(self, snapshot: Snapshot) -> None:
        """The host snapshotted its state machine at snapshot.meta.index (<= applied): drop
        the entries it stands in for and keep it to send to followers that need them."""
        self._idle()
        self.log.compact(snapshot)

    def step(self, msg: Message) -> None:
        self._idle()
        if msg.to != self.id or msg.frm not in self._peers:
            return
        if msg.term > self.term:
            voting = msg.type in (MessageType.VOTE, MessageType.PRE_VOTE)
            if voting and msg.context != TRANSFER_CONTEXT and self._in_lease(msg.type):
                return
            if msg.type is MessageType.PRE_VOTE:
                pass  # asking changes nothing
            elif msg.type is MessageType.PRE_VOTE_RESP and not msg.reject:
                pass  # a grant carries the term we would campaign in, not a newer one
            elif msg.type in (MessageType.APPEND, MessageType.HEARTBEAT, MessageType.SNAPSHOT):
                self._become_follower(msg.term, msg.frm)
            else:
                self._become_follower(msg.term, None)
        elif msg.term < self.term:
            self._step_stale(msg)
            return
        if msg.type in (MessageType.VOTE, MessageType.PRE_VOTE):
            self._handle_vote(msg)
        elif self.role is Role.LEADER:
            self._step_leader(msg)
        elif self.role is Role.FOLLOWER:
            self._step_follower(msg)
        else:
            self._step_candidate(msg)

    # --- Ready ---------------------------------------------------------------------------

    def has_ready(self) -> bool:
        if self._outstanding is not None:
            return False
        log = self.log
        return bool(
            self._soft_state() != self._prev_soft
            or self._hard_state() != self._prev_hard
            or log.stable < log.last_index()
            or log.pending_snapshot is not None
            or log.committed > self._apply_from() - 1
            or self._msgs
            or self._read_states
        )

    def ready(self) -> Ready:
        """The next batch of work; see raft.types.Ready for the order it must be done in."""
        self._idle()
        log = self.log
        soft, hard = self._soft_state(), self._hard_state()
        entries = tuple(log.unstable_entries())
        start = self._apply_from()
        committed = tuple(log.slice(start, log.committed)) if log.committed >= start else ()
        term_or_vote = (hard.term, hard.vote) != (self._prev_hard.term, self._prev_hard.vote)
        rd = Ready(
            soft_state=soft if soft != self._prev_soft else None,
            hard_state=hard if hard != self._prev_hard else None,
            entries=entries,
            snapshot=log.pending_snapshot,
            committed_entries=committed,
            messages=tuple(self._msgs),
            read_states=tuple(self._read_states),
            must_sync=term_or_vote or bool(entries) or log.pending_snapshot is not None,
        )
        self._msgs = []
        self._read_states = []
        self._outstanding = rd
        return rd

    def advance(self, ready: Ready) -> None:
        """The host did everything `ready` asked. The leader's own new entries count toward
        commitment only now, being durable."""
        if ready is not self._outstanding:
            raise ReadyPendingError("advance() takes the Ready that ready() returned last")
        self._outstanding = None
        log = self.log
        if ready.soft_state is not None:
            self._prev_soft = ready.soft_state
        if ready.hard_state is not None:
            self._prev_hard = ready.hard_state
        if ready.snapshot is not None:
            if log.pending_snapshot is ready.snapshot:
                log.pending_snapshot = None
            log.applied_to(ready.snapshot.meta.index)
        if ready.entries:
            log.stable_to(ready.entries[-1].index, ready.entries[-1].term)
        if ready.committed_entries:
            log.applied_to(ready.committed_entries[-1].index)
        if self.role is Role.LEADER and ready.entries and self._maybe_commit():
            self._bcast_commit()

    def status(self) -> Status:
        progress = {
            peer: PeerStatus(pr.match, pr.next, pr.state, pr.recent_active)
            for peer, pr in self._progress.items()
        }
        return Status(
            id=self.id,
            term=self.term,
            vote=self.vote,
            role=self.role,
            leader=self.lead,
            commit=self.log.committed,
            applied=self.log.applied,
            first_index=self.log.first_index(),
            last_index=self.log.last_index(),
            progress=progress,
        )

    def _idle(self) -> None:
        if self._outstanding is not None:
            raise ReadyPendingError("advance() the outstanding Ready first")

    def _soft_state(self) -> SoftState:
        return SoftState(self.lead, self.role)

    def _hard_state(self) -> HardState:
        return HardState(self.term, self.vote, self.log.committed)

    def _apply_from(self) -> int:
        """The first index the host has yet to apply (after a pending snapshot, if any)."""
        pending = self.log.pending_snapshot
        return max(self.log.applied, pending.meta.index if pending else 0) + 1

    # --- roles ---------------------------------------------------------------------------

    def _reset(self, term: int) -> None:
        if term != self.term:
            self.term = term
            self.vote = None
        self.lead = None
        self._election_elapsed = 0
        self._heartbeat_elapsed = 0
        tick = self.config.election_tick
        self._randomized_timeout = tick + self._rng.randrange(tick)
        self._votes = {}
        self._progress = {}
        self._transferee = None
        self._reads = ReadIndexQueue()
        self._reads_waiting = []

    def _become_follower(self, term: int, lead: NodeId | None) -> None:
        self._reset(term)
        self.lead = lead
        self.role = Role.FOLLOWER

    def _become_pre_candidate(self) -> None:
        # Neither the term nor the vote changes: that is the point of a pre-vote.
        self._votes = {}
        self.lead = None
        self.role = Role.PRE_CANDIDATE

    def _become_candidate(self) -> None:
        self._reset(self.term + 1)
        self.vote = self.id
        self.role = Role.CANDIDATE

    def _become_leader(self) -> None:
        self._reset(self.term)
        self.lead = self.id
        self.role = Role.LEADER
        following = self.log.last_index() + 1
        self._progress = {peer: Progress(match=0, next=following) for peer in self._peers}
        # A no-op of this term: committing it commits every earlier entry (Raft §5.4.2),
        # and tells the leader what is committed, which read-index needs.
        self._append(b"")

    def _hup(self, *, transfer: bool) -> None:
        if self.role is Role.LEADER:
            return
        self._campaign(pre=self.config.pre_vote and not transfer, transfer=transfer)

    def _campaign(self, *, pre: bool, transfer: bool) -> None:
        if pre:
            self._become_pre_candidate()
            kind, term = MessageType.PRE_VOTE, self.term + 1
        else:
            self._become_candidate()
            kind, term = MessageType.VOTE, self.term
        if self._poll(self.id, granted=True) is _Poll.WON:
            if pre:
                self._campaign(pre=False, transfer=False)
            else:
                self._become_leader()
            return
        context = TRANSFER_CONTEXT if transfer else b""
        last_index, last_term = self.log.last_index(), self.log.last_term()
        for peer in self._peers:
            self._send(Message(kind, peer, self.id, term, last_term, last_index, context=context))

    def _poll(self, voter: NodeId, *, granted: bool) -> _Poll:
        self._votes.setdefault(voter, granted)
        yes = sum(self._votes.values())
        if yes >= self.config.quorum:
            return _Poll.WON
        if len(self._votes) - yes > len(self.config.voters) - self.config.quorum:
            return _Poll.LOST
        return _Poll.PENDING

    def _in_lease(self, kind: MessageType) -> bool:
        """Heard from a leader within an election timeout: a vote request is then ignored (a
        pre-vote always, a vote under check-quorum), so a node cut off and back cannot
        unseat a leader the rest of the group still follows."""
        if kind is MessageType.VOTE and not self.config.check_quorum:
            return False
        return self.lead is not None and self._election_elapsed < self.config.election_tick

    def _committed_in_term(self) -> bool:
        return self.log.term(self.log.committed) == self.term

    # --- stepping ------------------------------------------------------------------------

    def _step_stale(self, msg: Message) -> None:
        """A message from an older term. A leader cut off long enough to fall behind on
        terms must learn it is deposed: with pre-vote or check-quorum the others' terms may
        never reach it by vote requests, so its appends are answered with the current term."""
        if msg.type in (MessageType.APPEND, MessageType.HEARTBEAT):
            if self.config.check_quorum or self.config.pre_vote:
                self._send(Message(MessageType.APPEND_RESP, msg.frm, self.id, self.term))
        elif msg.type is MessageType.PRE_VOTE:
            self._send(Message(MessageType.PRE_VOTE_RESP, msg.frm, self.id, self.term, reject=True))

    def _handle_vote(self, msg: Message) -> None:
        pre = msg.type is MessageType.PRE_VOTE
        answer = MessageType.PRE_VOTE_RESP if pre else MessageType.VOTE_RESP
        can_vote = (
            self.vote == msg.frm
            or (self.vote is None and self.lead is None)
            or (pre and msg.term > self.term)
        )
        if can_vote and self.log.is_up_to_date(msg.index, msg.log_term):
            # A granted vote is sent only after the Ready holding it is durable.
            self._send(Message(answer, msg.frm, self.id, msg.term))
            if not pre:
                self._election_elapsed = 0
                self.vote = msg.frm
        else:
            self._send(Message(answer, msg.frm, self.id, self.term, reject=True))

    def _step_candidate(self, msg: Message) -> None:
        if msg.type in (MessageType.APPEND, MessageType.HEARTBEAT, MessageType.SNAPSHOT):
            self._become_follower(msg.term, msg.frm)
            self._step_follower(msg)
            return
        mine = (
            MessageType.PRE_VOTE_RESP if self.role is Role.PRE_CANDIDATE else MessageType.VOTE_RESP
        )
        if msg.type is not mine:
            return
        outcome = self._poll(msg.frm, granted=not msg.reject)
        if outcome is _Poll.WON:
            if self.role is Role.PRE_CANDIDATE:
                self._campaign(pre=False, transfer=False)
            else:
                self._become_leader()
                self._bcast_append()
        elif outcome is _Poll.LOST:
            self._become_follower(self.term, None)

    def _step_follower(self, msg: Message) -> None:
        if msg.type is MessageType.TIMEOUT_NOW:
            self._hup(transfer=True)
            return
        if msg.type not in (MessageType.APPEND, MessageType.HEARTBEAT, MessageType.SNAPSHOT):
            return
        self._election_elapsed = 0
        self.lead = msg.frm
        if msg.type is MessageType.APPEND:
            self._handle_append(msg)
        elif msg.type is MessageType.HEARTBEAT:
            self.log.commit_to(msg.commit)
            self._reply(msg, MessageType.HEARTBEAT_RESP, context=msg.context)
        else:
            self._handle_snapshot(msg)

    def _handle_append(self, msg: Message) -> None:
        log = self.log
        if msg.index < log.committed:
            self._reply(msg, MessageType.APPEND_RESP, index=log.committed)
            return
        last_new = log.maybe_append(msg.index, msg.log_term, msg.commit, msg.entries)
        if last_new is not None:
            self._reply(msg, MessageType.APPEND_RESP, index=last_new)
            return
        hint, hint_term = log.find_conflict_by_term(min(msg.index, log.last_index()), msg.log_term)
        self._reply(
            msg,
            MessageType.APPEND_RESP,
            index=msg.index,
            reject=True,
            reject_hint=hint,
            log_term=hint_term,
        )

    def _handle_snapshot(self, msg: Message) -> None:
        log, snapshot = self.log, msg.snapshot
        if snapshot is None:
            return
        meta = snapshot.meta
        if meta.index <= log.committed:
            pass  # already have all it holds
        elif log.match_term(meta.index, meta.term):
            log.commit_to(meta.index)  # the log already holds it: keep what follows
        else:
            log.restore(snapshot)
        self._reply(msg, MessageType.APPEND_RESP, index=log.committed)

    def _step_leader(self, msg: Message) -> None:
        pr = self._progress.get(msg.frm)
        if pr is None:
            return
        if msg.type is MessageType.APPEND_RESP:
            pr.recent_active = True
            self._handle_append_resp(msg, pr)
        elif msg.type is MessageType.HEARTBEAT_RESP:
            pr.recent_active = True
            pr.probe_sent = False
            if pr.state is ProgressState.SNAPSHOT:
                pr.become_probe()  # alive but not answering the snapshot: it may be lost
            if pr.match < self.log.last_index():
                self._send_append(msg.frm)
            if msg.context:
                self._read_states.extend(self._reads.ack(msg.context, msg.frm, self.config.quorum))

    def _handle_append_resp(self, msg: Message, pr: Progress) -> None:
        log = self.log
        if msg.reject:
            hint = msg.reject_hint
            if msg.log_term > 0:
                hint, _ = log.find_conflict_by_term(msg.reject_hint, msg.log_term)
            if pr.maybe_decrease_to(msg.index, hint):
                if pr.state is ProgressState.REPLICATE:
                    pr.become_probe()
                self._send_append(msg.frm)
            return
        was_paused = pr.is_paused()
        if not pr.maybe_update(msg.index):
            return
        caught_up = pr.state is ProgressState.SNAPSHOT and pr.match + 1 >= log.first_index()
        if pr.state is ProgressState.PROBE or caught_up:
            pr.become_replicate()
        if self._maybe_commit():
            self._bcast_commit()
        elif was_paused or pr.next <= log.last_index():
            self._send_append(msg.frm)  # what it lacks, or at least the commit index
        if msg.frm == self._transferee and pr.match == log.last_index():
            self._send(Message(MessageType.TIMEOUT_NOW, msg.frm, self.id, self.term))

    # --- leading -------------------------------------------------------------------------

    def _tick_leader(self) -> None:
        self._heartbeat_elapsed += 1
        self._election_elapsed += 1
        if self._election_elapsed >= self.config.election_tick:
            self._election_elapsed = 0
            if self.config.check_quorum:
                active = 1 + sum(pr.recent_active for pr in self._progress.values())
                if active < self.config.quorum:
                    self._become_follower(self.term, None)
                    return
                for pr in self._progress.values():
                    pr.recent_active = False
            self._transferee = None
        if self._heartbeat_elapsed >= self.config.heartbeat_tick:
            self._heartbeat_elapsed = 0
            self._bcast_heartbeat(self._reads.last_context())

    def _append(self, data: bytes) -> int:
        index = self.log.last_index() + 1
        self.log.append([Entry(self.term, index, data)])
        return index

    def _maybe_commit(self) -> bool:
        """Commit what a quorum holds durably, the leader counting only what it persisted."""
        matches = sorted([self.log.stable, *(pr.match for pr in self._progress.values())])
        index = matches[len(matches) - self.config.quorum]
        if not self.log.maybe_commit(index, self.term):
            return False
        waiting, self._reads_waiting = self._reads_waiting, []
        for context in waiting:
            self._start_read(context)
        return True

    def _start_read(self, context: bytes) -> None:
        if self.config.quorum == 1:
            self._read_states.append(ReadState(self.log.committed, context))
        elif self._reads.add(self.log.committed, context, self.id):
            self._bcast_heartbeat(context)

    def _bcast_append(self) -> None:
        for peer in self._peers:
            self._send_append(peer)

    def _bcast_commit(self) -> None:
        """A new commit index goes out with the entries each peer still lacks. A peer lacking
        none learns it from the next append or heartbeat (a heartbeat tick away) rather than
        from a message of its own: a busy leader would otherwise send every peer two
        messages per batch, the second only to say "committed", and a peer's apply lagging
        a tick behind the leader's costs nothing — only the leader answers."""
        for peer, pr in self._progress.items():
            if pr.next <= self.log.last_index():
                self._send_append(peer)

    def _bcast_heartbeat(self, context: bytes) -> None:
        for peer, pr in self._progress.items():
            commit = min(pr.match, self.log.committed)
            self._send(
                Message(
                    MessageType.HEARTBEAT, peer, self.id, self.term, commit=commit, context=context
                )
            )

    def _send_append(self, to: NodeId) -> None:
        pr = self._progress[to]
        if pr.is_paused():
            return
        log = self.log
        prev = pr.next - 1
        prev_term = log.term(prev)
        entries = log.entries(pr.next, self.config.max_entries_per_message)
        if prev_term is None or entries is None:
            if log.snapshot is None:
                return
            pr.become_snapshot(log.snapshot.meta.index)
            self._send(Message(MessageType.SNAPSHOT, to, self.id, self.term, snapshot=log.snapshot))
            return
        message = Message(
            MessageType.APPEND,
            to,
            self.id,
            self.term,
            prev_term,
            prev,
            tuple(entries),
            log.committed,
        )
        self._send(message)
        pr.sent_entries(prev + len(entries))

    # --- sending -------------------------------------------------------------------------

    def _send(self, msg: Message) -> None:
        self._msgs.append(msg)

    def _reply(
        self,
        msg: Message,
        kind: MessageType,
        *,
        index: int = 0,
        reject: bool = False,
        reject_hint: int = 0,
        log_term: int = 0,
        context: bytes = b"",
    ) -> None:
        self._send(
            Message(
                kind,
                msg.frm,
                self.id,
                self.term,
                log_term=log_term,
                index=index,
                reject=reject,
                reject_hint=reject_hint,
                context=context,
            )
        )
