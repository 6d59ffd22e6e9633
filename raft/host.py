"""The host: one thread that drives a Raft core, its storage, its peers and a state machine.

The core decides; the host carries its decisions out, in the order `raft.types.Ready`
lays down — persist, then send, then apply — so nothing a replica says or does runs ahead
of its disk. Everything reaches the core through one inbox (proposals, peers' messages,
read requests) and leaves it on the loop thread, so the core itself needs no lock.

Callers block on futures: `propose` returns once the entry is committed *and applied*,
with the state machine's result; `read_barrier` returns once this replica has applied
everything committed when it was called, with its leadership confirmed by a quorum
(read-index), so a read made after it is linearizable. A proposal whose entry is lost —
this node lost its leadership before the entry committed, and another leader's entry took
its index — fails with `NotLeaderError`, and the caller may retry elsewhere: the entry was
not applied (when in doubt, as when the host stops, `OutcomeUnknownError` says so).

Group commit comes from batching: every proposal that arrived while the previous batch was
being written goes into the next `Ready`, persisted with one fsync.

Snapshots are taken without stopping the world when the host is given `fork_lock` (the
lock the machine's methods take): the loop forks, holding that lock so the child finds it
its own, and the child — a copy of the process as of the fork, the machine exactly at the
applied index — serialises the machine and writes it to disk on another core, as Redis's
BGSAVE does. The loop goes on at once and only swaps the finished file in. A thread in
the same process would not do: one `json.dumps` of a large state holds the interpreter's
lock from start to end, stopping every other thread as surely as the loop itself. Memory
pages the loop changes meanwhile are copied, so up to twice the state's memory is needed
while a snapshot is taken. Without `fork_lock` (a machine that cannot be forked safely),
the loop takes snapshots itself.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import random
import signal
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn, Protocol

from raft.config import Config, NotLeaderError, ProposalDroppedError, Status
from raft.core import Raft
from raft.machine import Request, StateMachine
from raft.snapshot_file import read_snapshot, snapshot_name
from raft.storage import RaftStorage
from raft.types import Entry, Message, NodeId, Ready, Role, Snapshot, SnapshotMeta

log = logging.getLogger("minihadoop.raft")
# Seconds before a snapshot is tried again after its process failed, doubling up to the max.
SNAPSHOT_RETRY = 10.0
SNAPSHOT_RETRY_MAX = 600.0


class OutcomeUnknownError(Exception):
    """The proposal may or may not be committed (leadership was lost while it was in
    flight, or the host is stopping): a retry with the same session finds out safely."""


class Transport(Protocol):
    def send(self, messages: Sequence[Message]) -> None:
        """Queue `messages` for their peers; never blocks, may drop (Raft retries)."""


@dataclass(slots=True)
class _Proposal:
    request: Request
    future: Future[Any]


@dataclass(slots=True)
class _Read:
    future: Future[None]


@dataclass(slots=True)
class _Delivery:
    frm: NodeId
    messages: Sequence[Message]
    future: Future[list[Message]]


class _Campaign:
    """Start an election now (a group of one elects itself at start-up)."""


@dataclass(slots=True)
class _Built:
    """A snapshot a child process wrote to disk (or why it could not)."""

    snapshot: Snapshot | None  # None: it failed, for `error`
    staged: Path
    error: str = ""


@dataclass(slots=True)
class _Answering:
    """A peer's deliveries waiting for this node's answer, and the answer so far."""

    futures: list[Future[list[Message]]] = field(default_factory=list)
    answers: list[Message] = field(default_factory=list)


_Item = _Proposal | _Read | _Delivery | _Campaign | _Built | Message


@dataclass(slots=True)
class _Waiting:
    term: int
    future: Future[Any]


class RaftHost:
    def __init__(
        self,
        config: Config,
        storage: RaftStorage,
        machine: StateMachine,
        *,
        transport: Transport | None = None,
        tick_seconds: float = 0.1,
        snapshot_every: int = 10_000,
        rng: random.Random | None = None,
        on_fatal: Callable[[str], None] | None = None,
        fork_lock: AbstractContextManager[Any] | None = None,
    ) -> None:
        self.config = config
        self.storage = storage
        self.machine = machine
        self.fork_lock = fork_lock
        self.transport = transport
        self.tick_seconds = tick_seconds
        self.snapshot_every = snapshot_every
        self.on_fatal = on_fatal or _log_fatal
        self._inbox: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._waiting: dict[int, _Waiting] = {}
        self._reads: dict[bytes, _Read] = {}
        self._ready_reads: list[tuple[int, _Read]] = []
        # Peers waiting on a delivery for this node's answer: what it says to them goes
        # back on their request instead of on a request of its own.
        self._answering: dict[NodeId, _Answering] = {}
        self._read_seq = 0
        snapshot = storage.snapshot()
        self.applied = 0
        if snapshot is not None:
            machine.restore(snapshot.data)
            self.applied = snapshot.meta.index
        self._snapshot_index = self.applied
        self._building = False  # a child is writing a snapshot
        self._snapshot_retry_at = 0.0  # after a child failed: not before (monotonic)
        self._snapshot_failures = 0  # in a row
        self.snapshot_child = 0  # the pid of the last child forked to write one
        self._reaper: threading.Thread | None = None  # waits for that child
        self._role = Role.FOLLOWER
        self.raft = Raft(
            config,
            storage.initial_state(),
            rng or random.Random(),
            applied=self.applied,
            snapshot=snapshot,
        )
        self._status: Status = self.raft.status()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"raft-{config.id}", daemon=True)

    # --- what callers use -------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop the loop, and a child still writing a snapshot: until it has closed its copy
        of the store's files it holds the store's lock, and the store could not be opened
        again (the snapshot is not needed: the log still holds everything it would)."""
        self._stopping.set()
        self._inbox.put(None)
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout=10)
        reaper = self._reaper
        if reaper is not None and reaper.is_alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.snapshot_child, signal.SIGKILL)
            reaper.join(timeout=10)

    def propose(self, request: Request, timeout: float | None = None) -> Any:
        """Commit and apply `request`; the state machine's result."""
        future: Future[Any] = Future()
        self._inbox.put(_Proposal(request, future))
        return future.result(timeout)

    def read_barrier(self, timeout: float | None = None) -> None:
        """Return once a read of this replica's state is linearizable (see module doc)."""
        future: Future[None] = Future()
        self._inbox.put(_Read(future))
        future.result(timeout)

    def receive(self, message: Message) -> None:
        self._inbox.put(message)

    def deliver(self, frm: NodeId, messages: Sequence[Message]) -> Future[list[Message]]:
        """Step `messages` from peer `frm`. The future gives every message this node has
        for `frm` once they are handled (persisted first, as always), so the answer to an
        append travels back on the append's own request: half the requests, and no send
        queue between a follower's fsync and its leader."""
        future: Future[list[Message]] = Future()
        self._inbox.put(_Delivery(frm, messages, future))
        return future

    def campaign(self) -> None:
        self._inbox.put(_Campaign())

    @property
    def status(self) -> Status:
        return self._status

    # --- the loop ---------------------------------------------------------------------------

    def _run(self) -> None:
        next_tick = time.monotonic() + self.tick_seconds
        try:
            while not self._stopping.is_set():
                wait = max(0.0, next_tick - time.monotonic())
                try:
                    items = [self._inbox.get(timeout=wait)]
                except queue.Empty:
                    items = []
                while True:
                    try:
                        items.append(self._inbox.get_nowait())
                    except queue.Empty:
                        break
                self._take_all([i for i in items if i is not None])  # None: stop() woke us
                if time.monotonic() >= next_tick:
                    self.raft.tick()
                    next_tick = time.monotonic() + self.tick_seconds
                self._process_ready()
        except Exception as exc:  # a replica that cannot persist or apply must not go on
            log.exception("raft host stopped")
            self.on_fatal(f"raft host failed: {exc}")
        finally:
            self._fail_all(OutcomeUnknownError("the namenode is stopping"))

    def _take_all(self, items: list[_Item]) -> None:
        proposals: list[_Proposal] = []
        for item in items:
            if isinstance(item, _Proposal):
                proposals.append(item)
                continue
            self._propose(proposals)
            proposals = []
            self._take(item)  # after the proposals that came before it: items keep their order
        self._propose(proposals)

    def _propose(self, proposals: list[_Proposal]) -> None:
        """Proposals that arrived together go out as one append."""
        if not proposals:
            return
        try:
            first = self.raft.propose_many([p.request.encode() for p in proposals])
        except (NotLeaderError, ProposalDroppedError):  # not taken: never applied
            # (dropped during a leadership transfer: the caller retries at the new leader)
            for p in proposals:
                p.future.set_exception(NotLeaderError(self.raft.status().leader))
            return
        for i, p in enumerate(proposals):
            self._waiting[first + i] = _Waiting(self.raft.term, p.future)

    def _take(self, item: Message | _Read | _Delivery | _Campaign | _Built) -> None:
        if isinstance(item, Message):
            self.raft.step(item)
        elif isinstance(item, _Delivery):
            for message in item.messages:
                self.raft.step(message)
            self._answering.setdefault(item.frm, _Answering()).futures.append(item.future)
        elif isinstance(item, _Campaign):
            self.raft.campaign()
        elif isinstance(item, _Built):
            self._built(item)
        else:
            self._read_seq += 1
            context = self._read_seq.to_bytes(8, "big")
            try:
                self.raft.read_index(context)
            except NotLeaderError as exc:
                item.future.set_exception(exc)
                return
            self._reads[context] = item

    def _process_ready(self) -> None:
        while self.raft.has_ready():
            ready = self.raft.ready()
            if ready.snapshot is not None:
                # Restored before it is kept: a snapshot the machine cannot read (a bug, a
                # peer gone wrong) stops this host with its disk as it was, not with a log
                # that every restart would fail on. Nothing is answered from it meanwhile.
                self._restore(ready.snapshot)
            self._persist(ready)
            self._send(ready.messages)
            for entry in ready.committed_entries:
                self._apply(entry)
            for state in ready.read_states:
                read = self._reads.pop(state.context, None)
                if read is not None:
                    self._ready_reads.append((state.index, read))
            self.raft.advance(ready)
            if ready.soft_state is not None:
                self._role_changed(ready.soft_state.role)
        self._release_reads()
        self._answer()
        self._status = self.raft.status()
        self._maybe_snapshot()

    def _send(self, messages: Sequence[Message]) -> None:
        out = []
        for m in messages:
            answering = self._answering.get(m.to)
            if answering is None:
                out.append(m)
            else:
                answering.answers.append(m)
        if out and self.transport is not None:
            self.transport.send(out)

    def _answer(self) -> None:
        for answering in self._answering.values():
            answers = answering.answers
            for future in answering.futures:
                if _settle(future, answers):
                    answers = []
            if answers and self.transport is not None:
                self.transport.send(answers)  # its asker gave up waiting: sent the usual way
        self._answering.clear()

    def _persist(self, ready: Ready) -> None:
        if ready.hard_state is None and not ready.entries and ready.snapshot is None:
            return
        self.storage.save(ready.hard_state, ready.entries, ready.snapshot, sync=ready.must_sync)

    def _apply(self, entry: Entry) -> None:
        waiting = self._waiting.pop(entry.index, None)
        if not entry.data:  # a new leader's no-op
            result: Any = None
        else:
            result = self.machine.apply(entry.index, Request.decode(entry.data))
        self.applied = entry.index
        if waiting is None:
            return
        if waiting.term != entry.term:  # another leader's entry took the index: ours is lost
            waiting.future.set_exception(NotLeaderError(self.raft.status().leader))
        else:
            waiting.future.set_result(result)

    def _restore(self, snapshot: Snapshot) -> None:
        self.machine.restore(snapshot.data)
        self.applied = self._snapshot_index = snapshot.meta.index
        lost = [i for i in self._waiting if i <= snapshot.meta.index]
        for index in lost:  # their fate is inside the snapshot: unknown here
            self._waiting.pop(index).future.set_exception(
                OutcomeUnknownError("replaced by a snapshot from the leader")
            )

    def _release_reads(self) -> None:
        still = []
        for index, read in self._ready_reads:
            if self.applied >= index:
                read.future.set_result(None)
            else:
                still.append((index, read))
        self._ready_reads = still

    def _role_changed(self, role: Role) -> None:
        was, self._role = self._role, role
        if was is Role.LEADER and role is not Role.LEADER:
            # Reads waiting for a confirmation that will never come: the caller asks anew.
            leader = self.raft.status().leader
            for read in self._reads.values():
                read.future.set_exception(NotLeaderError(leader))
            self._reads.clear()
            # Proposals of the old term may yet be committed by the next leader, or not: in
            # doubt. Their callers are told so now rather than left waiting; a retry with
            # the same session is answered once either way.
            for waiting in self._waiting.values():
                waiting.future.set_exception(
                    OutcomeUnknownError("leadership was lost while it was being committed")
                )
            self._waiting.clear()

    def _maybe_snapshot(self) -> None:
        if self.applied - self._snapshot_index < self.snapshot_every or self._building:
            return
        if time.monotonic() < self._snapshot_retry_at:
            return
        if self.fork_lock is None:
            self.take_snapshot()
            return
        meta = self._meta_at(self.applied)
        with self.fork_lock, warnings.catch_warnings():
            # Python 3.12 warns of forking a process with threads: the child here takes no
            # lock but `fork_lock`, which this thread holds, and leaves by os._exit.
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:
            self._child_snapshot(meta)
        self._building = True
        self.snapshot_child = pid
        self._reaper = threading.Thread(
            target=self._reap,
            args=(pid, meta),
            name=f"raft-snapshot-{self.config.id}",
            daemon=True,
        )
        self._reaper.start()

    def _child_snapshot(self, meta: SnapshotMeta) -> NoReturn:
        """In the forked child: write the machine's snapshot beside the store, and leave."""
        code = 1
        try:
            _close_inherited_files()
            self.storage.stage(Snapshot(meta, self.machine.snapshot()))
            code = 0
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(code)

    def _reap(self, pid: int, meta: SnapshotMeta) -> None:
        """Wait for the child; hand its snapshot (read back, checksum checked) to the loop."""
        _, status = os.waitpid(pid, 0)
        staged = self.storage.staging_path(meta)
        try:
            if os.waitstatus_to_exitcode(status) != 0:
                raise RuntimeError(f"exit status {os.waitstatus_to_exitcode(status)}")
            built = _Built(read_snapshot(staged, name=snapshot_name(meta)), staged)
        except Exception as exc:
            staged.unlink(missing_ok=True)  # whatever it wrote, or a file that fails its check
            built = _Built(None, staged, f"{type(exc).__name__}: {exc}")
        self._inbox.put(built)

    def _built(self, built: _Built) -> None:
        self._building = False
        if built.snapshot is None:
            # Killed (the OOM killer's choice, most likely: it needs memory), or its disk
            # was full: the log goes on growing, and a snapshot is tried again later.
            backoff = min(SNAPSHOT_RETRY * 2**self._snapshot_failures, SNAPSHOT_RETRY_MAX)
            self._snapshot_failures += 1
            log.warning(
                "the process taking a snapshot failed (%s); trying again in %.0f s",
                built.error,
                backoff,
            )
            self._snapshot_retry_at = time.monotonic() + backoff
            return
        self._snapshot_failures = 0
        if built.snapshot.meta.index <= self._snapshot_index:  # a leader's snapshot came first
            built.staged.unlink(missing_ok=True)
            return
        self._compacted(built.snapshot, built.staged)

    def take_snapshot(self) -> None:
        """Snapshot the state machine at the applied index and compact the log behind it,
        here and now. Runs on the loop thread (or once the loop has stopped)."""
        if self.applied <= self._snapshot_index:
            return
        self._compacted(Snapshot(self._meta_at(self.applied), self.machine.snapshot()))

    def _meta_at(self, index: int) -> SnapshotMeta:
        term = self.raft.log.term(index)
        assert term is not None, "the applied entry is in the log"
        return SnapshotMeta(index=index, term=term, voters=self.config.voters)

    def _compacted(self, snapshot: Snapshot, staged: Path | None = None) -> None:
        self.storage.compact(snapshot, staged)
        self.raft.compact(snapshot)
        self._snapshot_index = snapshot.meta.index

    def _fail_all(self, exc: Exception) -> None:
        for waiting in self._waiting.values():
            if not waiting.future.done():
                waiting.future.set_exception(exc)
        self._waiting.clear()
        for read in self._reads.values():
            read.future.set_exception(exc)
        self._reads.clear()
        for _, read in self._ready_reads:
            read.future.set_exception(exc)
        self._ready_reads.clear()
        for answering in self._answering.values():
            for future in answering.futures:
                if future.set_running_or_notify_cancel():
                    future.set_exception(exc)
        self._answering.clear()
        while True:
            try:
                item = self._inbox.get_nowait()
            except queue.Empty:
                return
            if isinstance(item, _Proposal | _Read | _Delivery):
                item.future.set_exception(exc)


def _settle(future: Future[list[Message]], answers: list[Message]) -> bool:
    """Give a delivery its answers, unless its asker gave up and cancelled it (a request
    that timed out): False then, and the answers are someone else's to send."""
    if not future.set_running_or_notify_cancel():
        return False
    future.set_result(answers)
    return True


def _close_inherited_files() -> None:
    """Close every file the child inherited but the standard three: it must not hold the
    parent's listening socket, connections or the name folder's lock past the parent's
    death (a namenode restarted at once would find its port or folder taken). Closing a
    copy releases nothing the parent holds."""
    try:
        fds = [int(fd) for fd in os.listdir("/proc/self/fd")]
    except OSError:
        fds = list(range(3, 4096))
    for fd in fds:
        if fd > 2:
            with contextlib.suppress(OSError):
                os.close(fd)


def _log_fatal(reason: str) -> None:
    log.critical("%s", reason)
