"""The namesystem: the replicated namespace, and the block manager beside it.

The namespace is a state machine (`namenode.machine`) over a Raft log (`raft.host`): a
mutation is proposed, committed (durable on a quorum — here, on this namenode's disk),
applied, and only then answered. Nothing else is replicated: block locations, the
datanode registry, the replication queue, leases and safe mode are soft state of this
namenode, rebuilt from datanode reports and acting only on what has been applied —
`_applied` hears of every applied command, under the lock, so a replica delete or a
recovery command leaves only once the edit that justifies it is durable.

Every public method takes the lock to read, and proposes *without* it (the apply that
answers a proposal needs the lock). A refusal is the command's result, raised here as the
error it was. Time comes from the injected `clock` and randomness from the injected `rng`.
"""

from __future__ import annotations

import base64
import contextvars
import gc
import getpass
import logging
import os
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from coord.machine import CoordMachine
from minihadoop import blocktoken, heap, paths
from minihadoop.config import JOBTRACKER_KEY, Settings
from minihadoop.errors import (
    AccessControlError,
    FileAlreadyExistsError,
    FileNotFoundError_,
    IllegalArgumentError,
    LeaseExpiredError,
    MiniHadoopError,
    NotEnoughReplicasError,
    PathIsNotEmptyDirectoryError,
    QuotaExceededError,
    RecoveryInProgressError,
    SafeModeError,
    StandbyError,
    StartupSafeModeError,
    UnavailableError,
)
from minihadoop.groups import GroupMapping
from minihadoop.models import (
    AddBlockRequest,
    AppendRequest,
    AppendResponse,
    Block,
    BlockRecoveryReport,
    BlockReportRequest,
    Command,
    CompleteRequest,
    ContentSummary,
    CreateRequest,
    DatanodeState,
    FileStatus,
    HeartbeatRequest,
    HeartbeatResponse,
    IncrementalReportRequest,
    LocatedBlock,
    LocatedBlocks,
    RegisterRequest,
    ReplicaReport,
)
from minihadoop.signing import Keys
from namenode import commands as c
from namenode import upgrade
from namenode.blockmap import BlockMap
from namenode.datanodes import DatanodeDescriptor, DatanodeRegistry
from namenode.decommissioned import DecommissionList
from namenode.early_replicas import EarlyReplicas
from namenode.leases import RECOVERY_HOLDER, Leases
from namenode.locks import LockService
from namenode.machine import NamespaceMachine, result_of
from namenode.namespace import Directory, Effects, File, Namespace, PendingFile
from namenode.permissions import AS, NOBODY, READ, WRITE, Caller, Checker
from namenode.placement import NodeView, make_policy, order_for_reader
from namenode.replication import Delete, Replicate, ReplicationQueue
from namenode.reportqueue import ReportQueue
from namenode.safemode import SafeMode
from namenode.services import Services, coord_command, fenced_command, replicated
from raft.config import Config, NotLeaderError
from raft.host import OutcomeUnknownError, RaftHost, Transport
from raft.machine import Request
from raft.sessions import Expired, Reused
from raft.storage import RaftStorage
from raft.transport import HttpTransport
from raft.types import HardState, Role, Snapshot, SnapshotMeta

T = TypeVar("T")
INHERIT = ""  # a new file's or folder's group: its folder's, as in HDFS
# A client's (id, request number): makes its retry of one request recognisable.
Session = tuple[str, int]
# The lock and fencing token the request being served was sent with (`fence.lock`,
# `fence.token`), set by the namenode's app for each request: namespace changes made while
# serving it are fenced by that lock (`namenode.services`). A bad pair is kept as the error
# to raise, so only a change is refused over it.
Fence = tuple[str, int]
FENCE: contextvars.ContextVar[Fence | IllegalArgumentError | None] = contextvars.ContextVar(
    "fence", default=None
)
# Who the request being served acts as (`Namesystem.acting_as`): its changes are logged
# with it and checked against the namespace's permissions when applied, its reads checked
# before they are answered. None: the namenode's own doing, or permissions are off.
CALLER: contextvars.ContextVar[Caller | None] = contextvars.ContextVar("caller", default=None)


class ActingAs:
    """`CALLER` set to `caller` inside a ``with`` (a class, not a generator: every request
    enters one, and a generator's context manager cost a stat ~2 us of its ~20)."""

    __slots__ = ("_reset", "caller")

    def __init__(self, caller: Caller | None) -> None:
        self.caller = caller

    def __enter__(self) -> Caller | None:
        self._reset = CALLER.set(self.caller)
        return self.caller

    def __exit__(self, *_exc: object) -> None:
        CALLER.reset(self._reset)


SUPERUSER = getpass.getuser()  # HDFS's rule: the user the namenode runs as
# A mutation that is not answered within this long is reported unavailable (the caller's
# retry policy decides what next): on one namenode, a disk this slow is a disk failing.
PROPOSE_TIMEOUT = 60.0
READ_TIMEOUT = 10.0
# Seconds between exact counts of safe mode's reported blocks while it is on (a walk of
# every block): between them the count is kept as replicas are reported.
SAFEMODE_RECOUNT = 10.0


@dataclass(frozen=True, slots=True)
class ClusterEvent:
    time: float
    kind: str
    message: str
    path: str | None = None  # the file it is about: not named to who may not see it


@dataclass(frozen=True, slots=True)
class Recovery:
    """A lease recovery decided under the lock, carried out after it: `command` is
    CloseRecovered (closed at once) or ReassignLease, then a recover command to `primary`."""

    command: c.CloseRecovered | c.ReassignLease
    path: str
    primary: str | None = None
    block_id: int = 0
    holders: tuple[str, ...] = ()
    length: int = 0  # a truncate's: the length the block is cut to (0: what all hold)


class Namesystem:
    def __init__(
        self,
        name_dir: Path,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        settle_heap: bool = False,
        transport: Transport | None = None,
    ) -> None:
        """`settle_heap`: a daemon's namenode, alone in its process, freezes its heap once
        loaded (`minihadoop.heap.settle`); tests, many namenodes to a process, do not.
        `transport`: what carries a group's Raft messages; by default HTTP to the service
        peers (a test passes its own network, which delivers to `host`)."""
        self.settings = settings
        self.settle_heap = settle_heap
        if settle_heap:  # no collections while the image loads: `heap.settle` does one
            gc.disable()
        self.keys = Keys.derive(settings.token)
        self.name_dir = name_dir
        self.clock = clock
        self.rng = rng or random.Random()
        self.lock = threading.RLock()
        self._callers: dict[str, Caller] = {}  # the last Caller made for each user
        name_dir.mkdir(parents=True, exist_ok=True)
        self.decommissioned = DecommissionList(name_dir)
        self.blocks = BlockMap()
        # Replicas a follower was told of before it applied their block (`early_replicas`).
        self.early = EarlyReplicas()
        # The datanodes asked for a full report when this namenode became active, until
        # they send it: reads of a block with no known replica are retried meanwhile.
        self._reports_awaited: set[str] = set()
        self.datanodes = DatanodeRegistry(dead_timeout=settings.dead_node_timeout)
        self.replication = ReplicationQueue(
            pending_timeout=settings.replication_pending_timeout,
            max_streams=settings.replication_max_streams,
        )
        self.safemode = SafeMode(
            threshold=settings.safemode_threshold, extension=settings.safemode_extension
        )
        # Safe mode's count, kept as replicas are reported rather than walked for on each
        # report (that made start-up quadratic in the datanodes): the blocks seen reported
        # since the last exact count, and that count's total. A cheap count that reaches the
        # threshold is confirmed by an exact one (`_update_safemode`), which alone decides.
        self._safe_reported: set[int] = set()
        self._safe_total: int | None = None
        self._safe_counted_at = float("-inf")
        self.policy = make_policy(settings.placement)
        self.events: deque[ClusterEvent] = deque(maxlen=200)
        self.started = clock()
        self.leases = Leases(
            soft_limit=settings.lease_soft_limit, hard_limit=settings.lease_hard_limit
        )
        self.group_mapping = GroupMapping(settings.user_groups)
        # Replicas of blocks the namespace does not know, reported during safe mode: deleted
        # only once safe mode is off (an operator may be restoring an older name folder).
        self._postponed_invalid: set[tuple[str, int]] = set()
        self.on_fatal: Callable[[str], None] = _terminate
        # The job tracker announces itself, so the dashboard can show jobs (soft state).
        # The block manager acts (sends commands, expires leases, re-replicates) only while
        # this namenode is the group's leader and has applied everything committed before.
        self._made_active = False  # by `_follow_role`, in the term `_active_term`
        self._active_term = 0
        self.active_since = 0.0
        self.node_id = settings.namenode_id
        self.peers = settings.namenode_group()  # id -> client URL; empty: a group of one
        voters = tuple(sorted(self.peers)) or (self.node_id,)
        self.single = len(voters) == 1
        owned: HttpTransport | None = None
        if not self.single and transport is None:
            service = settings.namenode_service_group()
            others = {n: url for n, url in service.items() if n != self.node_id}
            transport = owned = HttpTransport(
                self.node_id, others, settings.token, tls_ca=settings.tls_ca
            )
        self.machine = NamespaceMachine(self.lock, self._applied, root_owner=SUPERUSER)
        self.locks = LockService(self)
        self.services = Services(self.machine, self.locks.machine, self.locks.applied)
        self.storage = RaftStorage.open(name_dir)
        try:
            if read_old := upgrade.read_old_layout(name_dir):
                self._upgrade(*read_old, voters)
        except BaseException:
            self.storage.close()
            raise
        self.host = RaftHost(
            Config(id=self.node_id, voters=voters, election_tick=settings.raft_election_ticks),
            self.storage,
            replicated(self.services),
            transport=transport,
            tick_seconds=settings.raft_tick,
            snapshot_every=settings.checkpoint_every,
            rng=random.Random(self.rng.random()),
            on_fatal=lambda reason: self.on_fatal(reason),
            fork_lock=self.lock,
        )
        self.transport = owned
        if owned is not None:
            owned.receive = self.host.receive
        restored = self.host.applied
        self.host.start()
        self._stopping = threading.Event()
        threading.Thread(
            target=self.locks.run, args=(self._stopping,), name="lock-leases", daemon=True
        ).start()
        self.reports = ReportQueue(self.lock)
        threading.Thread(
            target=self.reports.run, args=(self._stopping,), name="block-reports", daemon=True
        ).start()
        if self.single:
            self._become_leader()
        self._event("namenode", f"started; {self.host.applied - restored} edits replayed")
        if self.settle_heap:
            heap.settle(young=heap.YOUNG_GC_THRESHOLD)  # the namespace is loaded now
        self.tick()

    @property
    def ns(self) -> Namespace:
        return self.machine.ns

    def _upgrade(self, ns: Namespace, txid: int, voters: tuple[str, ...]) -> None:
        """Carry forward a namespace an earlier version kept in its journal
        (`namenode.upgrade`): it becomes this namenode's first snapshot, and the old files
        move to `previous/`."""
        if self.storage.last_index or self.storage.snapshot() is not None:
            raise MiniHadoopError(
                f"{self.name_dir} holds both an earlier version's journal and a replicated "
                "log: move one of them away"
            )
        if not self.single:
            raise MiniHadoopError(
                f"{self.name_dir} holds an earlier version's journal: start this namenode alone "
                "once to carry it forward, then start the group with the other members' name "
                "folders empty (they are sent a snapshot)"
            )
        old = NamespaceMachine(threading.RLock())
        old.ns, old.applied_index = ns, 1
        image = Snapshot(
            SnapshotMeta(1, 1, voters), replicated(Services(old, CoordMachine())).snapshot()
        )
        self.storage.save(HardState(1, None, 1), [], image, sync=True)
        self.storage.close()  # opened again, to start from what is now on disk
        self.storage = RaftStorage.open(self.name_dir)
        previous = upgrade.set_aside(self.name_dir)
        self._event(
            "namenode",
            f"carried forward an earlier version's namespace (to transaction {txid}); "
            f"its files are kept in {previous}",
        )

    def _become_leader(self) -> None:
        """A group of one elects itself at once; then everything committed before is
        applied."""
        self.host.campaign()
        deadline = time.monotonic() + PROPOSE_TIMEOUT
        while True:
            try:
                self.host.read_barrier(timeout=PROPOSE_TIMEOUT)
                return
            except NotLeaderError:
                if time.monotonic() > deadline:
                    raise UnavailableError("this namenode did not become leader") from None
                time.sleep(0.01)

    def standby(self) -> StandbyError:
        """The answer of a namenode that is not the leader, naming the leader if known."""
        leader = self.host.status.leader
        url = self.peers.get(leader, "") if leader else ""
        where = f"; the leader is {leader} at {url}" if url else "; no leader is known yet"
        return StandbyError(f"namenode {self.node_id} is not the active namenode{where}", url)

    def _confirmed(self, check: Callable[[], T]) -> T:
        """Run `check`, which reads the namespace before a change is proposed, believing a
        refusal only from current state. In a group, this namenode's applied state may be
        behind: just elected, with entries of the last term not applied yet, or deposed and
        not told so yet. A refusal there is confirmed — the read barrier makes the state
        current, or says StandbyError — and the check made again before it is raised."""
        try:
            return check()
        except MiniHadoopError:
            if self.single:
                raise
            self.read_barrier()
            return check()

    def read_barrier(self) -> None:
        """Before a client's read: make it linearizable. The leader confirms with a quorum
        that it still leads (read-index) and has applied everything committed by then; a
        follower answers StandbyError. A group of one is trivially current."""
        if self.single:
            return
        try:
            self.host.read_barrier(timeout=READ_TIMEOUT)
        except NotLeaderError:
            raise self.standby() from None
        except (OutcomeUnknownError, TimeoutError):
            raise UnavailableError("the namenode group could not confirm its leader") from None

    # --- plumbing ---------------------------------------------------------------------------

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    def _event(self, kind: str, message: str, path: str | None = None) -> None:
        self.events.append(ClusterEvent(self.clock(), kind, message, path))

    def visible(self, path: str) -> bool:
        """Whether anybody (`dr.who`) may see the entry at `path` by listing its folder:
        what the open pages and the cluster's event list may name."""
        with self.acting_as(NOBODY), self.lock:
            try:
                self.may(lambda may: may.listing(paths.parent(path)))
            except AccessControlError:
                return False
        return True

    def _submit(self, cmd: c.NamespaceCommand, session: Session | None = None) -> Any:
        """Commit and apply `cmd`; its result, or its refusal raised. Never called with the
        lock held: the apply that answers needs it. `session` is the caller's (client, seq),
        which makes a retry of the same request answer from memory instead of applying
        twice."""
        with self.lock:
            if self.safemode.on:
                raise self._safe_mode_error("Cannot change the namespace")
        fence = FENCE.get()
        if isinstance(fence, IllegalArgumentError):
            raise fence
        record = c.to_record(cmd)
        caller = CALLER.get()
        if caller is not None and not caller.superuser:
            record[AS] = caller.to_record()
        if fence is not None:
            record = fenced_command(record, *fence)
        return self._propose(record, session)

    def propose_coord(self, record: dict[str, Any], session: Session | None) -> Any:
        """Commit and apply a lock service command (`namenode.locks`); safe mode, which
        guards the namespace, does not stop it."""
        return self._propose(coord_command(record), session)

    def _propose(self, command: dict[str, Any], session: Session | None) -> Any:
        client, seq = session or ("", 0)
        caller = CALLER.get()
        if session is not None and caller is not None:
            # A client id is no secret: a session is the caller's own, so another user
            # naming it neither fills nor reads it.
            client = f"{caller.user}/{client}"
        request = Request(command, client, seq, self._now_ms())
        try:
            outcome = self.host.propose(request, timeout=PROPOSE_TIMEOUT)
        except NotLeaderError:
            raise self.standby() from None
        except (OutcomeUnknownError, TimeoutError) as e:
            # Perhaps committed, perhaps not: the caller's retry, with its session, finds out.
            raise UnavailableError(f"the namespace change is in doubt: {e}") from None
        if isinstance(outcome, Expired):
            raise IllegalArgumentError(
                f"request {seq} of {client} is too old to say whether it was carried out"
            )
        if isinstance(outcome, Reused):
            raise IllegalArgumentError(
                f"request number {seq} of {client} was already used for another request"
            )
        return result_of(outcome)

    def _applied(self, cmd: c.NamespaceCommand, effects: Effects) -> None:
        """A committed command was applied (under the lock): the block manager acts on it."""
        now = self.clock()
        match cmd:
            case c.AddBlock():
                self.leases.renew(effects.file_id, now)
                self._place_early(self.early.take(effects.result[0]))  # told of it early
            case c.StartFile() | c.StartAppend():
                self.leases.renew(effects.file_id, now)
            case c.ReassignLease():
                self.leases.recovery_asked(effects.file_id, now)
            case c.Truncate() if effects.result is False:
                self.leases.recovery_asked(effects.file_id, now)
            case c.CompleteFile() | c.AbandonFile() | c.CloseRecovered():
                self.leases.forget(effects.file_id)
        for block_id in effects.removed_blocks:
            for node in self.blocks.forget_block(block_id):
                self._delete_replica(node, block_id)
            self.replication.forget(block_id)
        self.replication.check(effects.replication_changed)

    def _delete_replica(self, datanode_id: str, block_id: int) -> None:
        """Queue a delete. Caller holds the lock, and decided it from applied (committed)
        state. Only the active namenode sends commands; what a follower would have sent is
        found again when it becomes active (it asks every datanode for a full report)."""
        if self.active:
            self.datanodes.queue(datanode_id, _delete_command(block_id))

    def close(self) -> None:
        self._stopping.set()
        self.host.stop()
        if self.transport is not None:
            self.transport.close()
        with self.lock:
            self.host.take_snapshot()
            self.storage.close()

    # --- who is asking ---------------------------------------------------------------------

    def caller(self, user: str) -> Caller:
        """`user` with its groups; a superuser if it is the user the namenode runs as or
        a member of the superuser group."""
        groups = self.group_mapping.groups(user)
        known = self._callers.get(user)
        if known is not None and known.groups is groups:  # the mapping's cached answer
            return known
        made = Caller(user, groups, user == SUPERUSER or self.settings.supergroup in groups)
        if len(self._callers) >= 10_000:  # names are the caller's to choose: stay bounded
            self._callers.clear()
        self._callers[user] = made
        return made

    def acting_as(self, user: str) -> ActingAs:
        """Serve what runs inside as a request of `user`: checked by the permissions (when
        they are on), its changes logged with it."""
        return ActingAs(self.caller(user) if self.settings.permissions else None)

    def superuser_only(self) -> None:
        """HDFS's checkSuperuserPrivilege, for an administrator's operation."""
        caller = CALLER.get()
        if caller is not None and not caller.superuser:
            raise AccessControlError(
                f"Access denied for user {caller.user}. Superuser privilege is required"
            )

    def may(self, check: Callable[[Checker], Any]) -> None:
        """Run a read's permission `check` for the request's caller (lock held)."""
        caller = CALLER.get()
        if caller is not None and not caller.superuser:
            check(Checker(self.ns, caller))

    # --- namespace operations (clients) ---------------------------------------------------------

    def mkdirs(
        self, path: str, user: str, permission: str | None = None, session: Session | None = None
    ) -> None:
        path = paths.normalize(path)
        cmd = c.Mkdirs(path, self._now_ms(), user, INHERIT, permission or "755")
        self._submit(cmd, session)

    def create(
        self, req: CreateRequest, user: str, session: Session | None = None
    ) -> tuple[int, int]:
        """Start a file; returns (its block size, its inode id)."""
        path = paths.normalize(req.path)
        cmd = c.StartFile(
            path=path,
            client=req.client,
            mtime=self._now_ms(),
            owner=user,
            group=INHERIT,
            replication=req.replication or self.settings.replication,
            block_size=req.block_size or self.settings.block_size,
            overwrite=req.overwrite,
            permission=req.permission or "644",
            create_parent=req.create_parent,
        )
        self._take_over(cmd, req.client, overwrite=req.overwrite, op="CREATE")
        file_id = self._submit(cmd, session)
        return cmd.block_size, int(file_id)

    def append(
        self, req: AppendRequest, reader_host: str | None, session: Session | None = None
    ) -> AppendResponse:
        """Open a file for appending. A partial last block is rewritten (old bytes + new)
        into a new block that replaces it when the append completes, so readers see either
        the old file or the whole new one, and replicas never diverge."""
        path = paths.normalize(req.path)
        self._take_over(
            c.StartAppend(path, req.client, 0), req.client, overwrite=False, op="APPEND"
        )
        with self.lock:
            node = self.ns.lookup(path)
            last = node.blocks[-1] if isinstance(node, File) and node.blocks else None
            replace = (
                isinstance(node, File) and last is not None and 0 < last.length < node.block_size
            )
        # StartAppend refuses a path being written by another client, or with no file.
        file_id = self._submit(c.StartAppend(path, req.client, self._now_ms(), replace), session)
        with self.lock:
            node = self.ns.lookup(path)
            if not isinstance(node, File) or node.id != file_id:
                raise LeaseExpiredError(f"{path} was replaced while being opened for append")
            rewrite = None
            if replace:
                rewrite = self._located_blocks(path, reader_host).blocks[-1]
            return AppendResponse(
                block_size=node.block_size,
                bytes_per_checksum=self.settings.bytes_per_checksum,
                rewrite=rewrite,
                file_id=node.id,
            )

    # --- leases -------------------------------------------------------------------------------

    def _take_over(
        self, cmd: c.StartFile | c.StartAppend, client: str, *, overwrite: bool, op: str
    ) -> None:
        """Before `client` applies `cmd` (a create or an append) to a path held by another
        writer: nothing while that writer's lease is good (the command then refuses,
        AlreadyBeingCreated). Past its soft limit, or with the file already under recovery,
        an overwrite drops the file; anything else recovers it, and goes on if that closed
        it at once; else RecoveryInProgressError. Only a caller that may apply `cmd` and
        write the held file may take it, as HDFS checks before it recovers a lease."""
        path = cmd.path
        with self.lock:
            pending = self.ns.under_construction.get(path)
            if pending is None or pending.client == client:
                return
        self.read_barrier()  # another's file: act on it only as it is now
        with self.lock:
            pending = self.ns.under_construction.get(path)
            if pending is None or pending.client == client:
                return
            self.may(lambda may: may.command(cmd))
            self.may(lambda may: may.pending(pending, WRITE))
            now = self.clock()
            fid = pending.file.id
            recovering = pending.client == RECOVERY_HOLDER
            if not recovering and not self.leases.soft_expired(fid, now):
                return
            abandon = c.AbandonFile(pending.path, pending.client, fid) if overwrite else None
            plan = None
            if abandon is None and (not recovering or self.leases.recovery_due(fid, now)):
                plan = self._plan_recovery(pending, now)
        if abandon is not None:
            self._submit(abandon)
            self._event("lease", f"lease on {path} expired; dropped for an overwrite", path)
            return
        if plan is not None and self._recover(plan):
            return
        raise RecoveryInProgressError(
            f"Failed to {op} {path} for {client}: lease recovery is in progress. Try again later."
        )

    def _plan_recovery(self, pending: PendingFile, now: float) -> Recovery:
        """How to recover a file whose writer is presumed dead. Caller holds the lock.

        With no blocks, or no live replica of its last block (the writer died before any
        datanode stored it), the file is closed now, that block dropped, as HDFS does.
        Else its lease passes to the recovery and the first live holder of the last block
        is told to bring every replica to one length; it answers `commit_block_recovery`.
        """
        fid, path = pending.file.id, pending.path
        blocks = pending.file.blocks
        live = self.datanodes.live()
        holders = (
            sorted(n for n in self.blocks.holders(blocks[-1].block_id) if n in live)
            if blocks
            else []
        )
        # Just started, the last block's replicas may not be reported yet: take the file all
        # the same, and look again once the datanodes have had a soft limit to report.
        just_started = now - self.started <= self.settings.lease_soft_limit
        cut = pending.truncating_to
        if not holders and not (blocks and just_started) and cut is None:
            ms = self._now_ms()
            # Its last block, which no datanode holds, is dropped.
            cmd = (
                c.CloseRecovered(fid, ms, 0, blocks[-1].gen)
                if blocks
                else c.CloseRecovered(fid, ms)
            )
            return Recovery(cmd, path)
        return Recovery(
            c.ReassignLease(fid, RECOVERY_HOLDER),
            path,
            primary=holders[0] if holders else None,
            block_id=blocks[-1].block_id,
            holders=tuple(holders),
            length=cut or 0,  # a truncate's block waits for a holder: its bytes are kept
        )

    def _recover(self, plan: Recovery) -> bool:
        """Carry out a recovery planned under the lock; whether it closed the file."""
        result = self._submit(plan.command)
        if isinstance(plan.command, c.CloseRecovered):
            self._event("lease", f"recovered the lease on {plan.path}; closed at once", plan.path)
            return True
        _, gen = result
        if plan.primary is None:
            return False
        with self.lock:
            if not self.active:  # asked again by the monitor of whoever leads
                return False
            live = self.datanodes.live()
            targets = [live[n].ref for n in plan.holders if n in live]
            block = Block(block_id=plan.block_id, gen=gen, length=plan.length)
            self.datanodes.queue(
                plan.primary, Command(kind="recover", block=block, targets=targets)
            )
        self._event(
            "lease",
            f"recovering the lease on {plan.path}: block {plan.block_id} on {plan.primary}",
            plan.path,
        )
        return False

    def recover_lease(self, path: str) -> bool:
        """HDFS's recoverLease: True when `path` is a closed file; else start recovering it
        at once, whoever holds it (no soft limit: the caller knows the writer is dead), and
        say whether that closed it. A file already under recovery is asked again only past
        the soft limit."""
        path = paths.normalize(path)
        self.read_barrier()  # its answer is a read: from current state
        with self.lock:
            pending = self.ns.under_construction.get(path)
            if pending is not None:  # taking it from its writer: w on it, as in HDFS
                self.may(lambda may: may.pending(pending, WRITE))
            else:
                self.may(lambda may: may.traverse(path))
            if pending is None:
                if isinstance(self.ns.lookup(path), File):
                    return True
                raise FileNotFoundError_(f"File does not exist: {path}")
            now = self.clock()
            fid = pending.file.id
            if pending.client == RECOVERY_HOLDER and not self.leases.recovery_due(fid, now):
                return False
            plan = self._plan_recovery(pending, now)
        return self._recover(plan)

    def commit_block_recovery(self, report: BlockRecoveryReport) -> None:
        """A recovery's primary datanode reports the length the last block's replicas now
        agree on: the file is closed with it. Holders it does not list keep a replica that
        is stale (old stamp) and are told to delete it."""
        fid, path = self._confirmed(lambda: self._recovering(report))
        keep = set(report.datanode_ids) if report.length else set()
        length = report.length
        self._submit(c.CloseRecovered(fid, self._now_ms(), length, report.gen))
        with self.lock:
            if length:
                for node in self.blocks.holders(report.block_id) - keep:
                    self.blocks.remove(report.block_id, node)
                    self._delete_replica(node, report.block_id)
        self._event("lease", f"recovered {path}: last block {length} bytes on {sorted(keep)}", path)

    def _recovering(self, report: BlockRecoveryReport) -> tuple[int, str]:
        """The file whose recovery `report` answers: (its inode id, its path)."""
        with self.lock:
            owner = self.ns.block_owner.get(report.block_id)
            pending = self.ns.pending_by_id(owner.id) if owner is not None else None
            if pending is None or pending.client != RECOVERY_HOLDER:
                raise LeaseExpiredError(f"block {report.block_id} is not being recovered")
            if pending.file.blocks[-1].block_id != report.block_id:
                raise IllegalArgumentError(f"block {report.block_id} is not the file's last block")
            if report.length and not report.datanode_ids:
                raise IllegalArgumentError("a recovered length needs the datanodes that hold it")
            cut = pending.truncating_to
            if cut is not None and report.length != cut:  # asked again later
                raise IllegalArgumentError(
                    f"block {report.block_id} is truncated to {cut} bytes, not {report.length}"
                )
            return pending.file.id, pending.path

    def renew_lease(self, client: str) -> int:
        """HDFS's renewLease: every file `client` is writing keeps its lease; how many."""
        self.read_barrier()  # leases are the leader's: renewing a follower's would be lost
        with self.lock:
            now = self.clock()
            caller = CALLER.get()
            may = Checker(self.ns, caller).allowed if caller is not None else None
            held = [
                p.file.id
                for p in self.ns.under_construction.values()
                if p.client == client and (may is None or may(p.file, WRITE))
            ]
            for fid in held:
                self.leases.renew(fid, now)
            return len(held)

    def add_block(
        self, req: AddBlockRequest, writer_host: str | None, session: Session | None = None
    ) -> LocatedBlock:
        path, targets, block_size = self._confirmed(lambda: self._place_block(req, writer_host))
        prev = req.previous.length if req.previous is not None else None
        block_id, gen = self._submit(c.AddBlock(path, req.client, prev, req.file_id), session)
        with self.lock:
            now = self.clock()
            live = self.datanodes.live()
            chosen = [t for t in targets if t.id in live]
            for t in chosen:
                live[t.id].schedule(block_id, block_size, now)
            refs = [live[t.id].ref for t in chosen]
        block = Block(block_id=block_id, gen=gen, length=0)
        return LocatedBlock(block=block, offset=0, locations=refs)

    def _place_block(
        self, req: AddBlockRequest, writer_host: str | None
    ) -> tuple[str, list[NodeView], int]:
        """Where a new block of the file `req` names goes: (its path now, the targets, its
        block size)."""
        with self.lock:
            if self.safemode.on:  # as the proposal would be: a refusal to retry, not final
                raise self._safe_mode_error("Cannot add a block")
            pending = self.ns.pending_for(paths.normalize(req.path), req.client, req.file_id)
            candidates = [
                v for k, v in sorted(self.datanodes.writable().items()) if k not in req.exclude
            ]
            targets = self.policy.choose_targets(
                pending.file.replication,
                candidates,
                rng=self.rng,
                writer_host=writer_host,
                block_size=pending.file.block_size,
            )
            if not targets and not self.datanodes.live() and self._newly_active():
                raise UnavailableError(
                    "no datanode has reported to this namenode yet (it has just become the "
                    "active one); try again"
                )
            if not targets:
                raise NotEnoughReplicasError(
                    f"could only be written to 0 of the {len(candidates)} usable datanodes "
                    f"({len(self.datanodes.live())} live, {len(req.exclude)} excluded)"
                )
            return pending.path, targets, pending.file.block_size

    def complete(self, req: CompleteRequest, session: Session | None = None) -> None:
        path = paths.normalize(req.path)
        last = req.last.length if req.last is not None else None
        self._submit(c.CompleteFile(path, req.client, self._now_ms(), last, req.file_id), session)

    def abandon(
        self, path: str, client: str, file_id: int = 0, session: Session | None = None
    ) -> None:
        path = paths.normalize(path)
        self._submit(c.AbandonFile(path, client, file_id), session)

    def delete(
        self,
        path: str,
        *,
        recursive: bool,
        skip_trash: bool,
        user: str,
        session: Session | None = None,
    ) -> tuple[bool, str | None]:
        """Remove `path`, to the user's trash unless told not to, trash is off, or it is in
        the trash already. Returns whether it existed, and where in the trash it went (None
        when it was deleted for good)."""
        path = paths.normalize(path)
        with self.lock:
            self.may(lambda may: may.traverse(path))  # whether it is there is a read
            trash = f"/user/{user}/.Trash"
            node = self.ns.lookup(path)
            if node is None and session is None and self.single:
                return False, None
            # With a session, a path already gone may be this very request's doing (a
            # retry), and in a group this namenode's state may be behind: the log answers
            # it, from the session table or by applying the delete.
        to_trash = self.settings.trash and not skip_trash and not paths.is_ancestor(trash, path)
        cmd: c.NamespaceCommand = c.Delete(path, recursive, self._now_ms())
        if node is not None and to_trash:
            self._confirmed(lambda: self._check_trashable(path, recursive))
            cmd = c.MoveToTrash(path, f"{trash}/Current", self._now_ms(), user, INHERIT)
        try:
            result = self._submit(cmd, session)
        except (AccessControlError, QuotaExceededError) as exc:
            if not isinstance(cmd, c.MoveToTrash):
                raise
            # Hadoop's words: the user may lack a home (the trash's) or the right to move, or
            # the trash's folders would take the home past its quota; -skipTrash still works.
            raise type(exc)(
                f"Failed to move to trash: {path}: {exc.message}. Consider using -skipTrash option"
            ) from None
        return bool(result), result if isinstance(result, str) else None

    def _check_trashable(self, path: str, recursive: bool) -> None:
        with self.lock:
            if not recursive and self.ns.status(path).is_dir and self.ns.listing(path):
                raise PathIsNotEmptyDirectoryError(f"{path} is a non-empty folder")

    def rename(self, src: str, dst: str, session: Session | None = None) -> None:
        src, dst = paths.normalize(src), paths.normalize(dst)
        self._submit(c.Rename(src, dst, self._now_ms()), session)

    def set_xattr(
        self, path: str, name: str, value: bytes, flag: str, session: Session | None = None
    ) -> None:
        cmd = c.SetXAttr(paths.normalize(path), name, base64.b64encode(value).decode(), flag)
        self._submit(cmd, session)

    def remove_xattr(self, path: str, name: str, session: Session | None = None) -> None:
        self._submit(c.RemoveXAttr(paths.normalize(path), name), session)

    def xattrs(self, path: str) -> dict[str, bytes]:
        self.read_barrier()
        with self.lock:
            path = paths.normalize(path)
            self.may(lambda may: may.access(path, READ))
            return self.ns.get_xattrs(path)

    def truncate(self, path: str, new_length: int, session: Session | None = None) -> bool:
        """HDFS's truncate: True when `path` is now `new_length` bytes long; False when the
        block the cut falls inside is being cut by a block recovery (started here, now):
        the file is closed when it ends (`recover_lease` says when)."""
        path = paths.normalize(path)
        done = bool(self._submit(c.Truncate(path, new_length, self._now_ms()), session))
        if done:
            return True
        with self.lock:
            pending = self.ns.under_construction.get(path)
            if pending is None or pending.truncating_to is None:  # already over
                return False
            plan = self._plan_recovery(pending, self.clock())
        self._recover(plan)
        return False

    def concat(self, target: str, sources: list[str], session: Session | None = None) -> None:
        target = paths.normalize(target)
        self._submit(
            c.Concat(target, "\n".join(paths.normalize(s) for s in sources), self._now_ms()),
            session,
        )

    def set_replication(self, path: str, replication: int, session: Session | None = None) -> None:
        path = paths.normalize(path)
        if not 1 <= replication <= 512:
            raise IllegalArgumentError(f"replication must be 1..512, not {replication}")
        self._submit(c.SetReplication(path, replication), session)

    def set_attributes(
        self, cmd: c.SetTimes | c.SetPermission | c.SetOwner, session: Session | None = None
    ) -> None:
        self._submit(cmd, session)

    def set_quota(self, cmd: c.SetQuota, session: Session | None = None) -> None:
        """HDFS's setQuota: a superuser's (the command's permission rule)."""
        self._submit(c.SetQuota(paths.normalize(cmd.path), cmd.names, cmd.space), session)

    # --- reads --------------------------------------------------------------------------------

    # A client's reads pass the read barrier first (linearizable, or StandbyError).

    def check_access(self, path: str, wanted: int) -> None:
        """HDFS's checkAccess: AccessControlError unless the caller may do `wanted` (mode
        bits, 4 2 1) on `path`; FileNotFound if there is nothing there."""
        self.read_barrier()
        with self.lock:
            path = paths.normalize(path)
            self.may(lambda may: may.traverse(path))  # as HDFS: what is there, only then
            self.ns.status(path)
            self.may(lambda may: may.access(path, wanted))

    def status(self, path: str) -> FileStatus:
        return self._stat(path, self.ns.status)

    def webhdfs_status(self, path: str) -> dict[str, Any]:
        """`status(path)` in WebHDFS's FileStatus shape: what GETFILESTATUS answers."""
        return self._stat(path, self.ns.webhdfs_status)

    def _stat(self, path: str, answer: Callable[[str], T]) -> T:
        """`answer` of `path` for a caller who may traverse to it."""
        self.read_barrier()
        with self.lock:
            path = paths.normalize(path)
            self.may(lambda may: may.traverse(path))
            return answer(path)

    def status_or_none(self, path: str) -> FileStatus | None:
        self.read_barrier()
        with self.lock:
            path = paths.normalize(path)
            self.may(lambda may: may.traverse(path))
            return self.ns.status(path) if self.ns.lookup(path) is not None else None

    def listing(self, path: str) -> list[FileStatus]:
        self.read_barrier()
        with self.lock:
            path = paths.normalize(path)
            self.may(lambda may: may.listing(path))
            return self.ns.listing(path)

    def listing_page(
        self, path: str, after: str | None, limit: int
    ) -> tuple[list[FileStatus], int]:
        self.read_barrier()
        with self.lock:
            path = paths.normalize(path)
            self.may(lambda may: may.listing(path))
            return self.ns.listing_page(path, after, limit)

    def summary(self, path: str) -> ContentSummary:
        self.read_barrier()
        with self.lock:
            path = paths.normalize(path)
            self.may(lambda may: may.summary(path))
            return self.ns.content_summary(path)

    def located_blocks(self, path: str, reader_host: str | None = None) -> LocatedBlocks:
        self.read_barrier()
        return self._located_blocks(path, reader_host)

    def _located_blocks(self, path: str, reader_host: str | None) -> LocatedBlocks:
        path = paths.normalize(path)
        with self.lock:
            self.may(lambda may: may.access(path, READ))
            status, records = self.ns.file_blocks(path)
            live = self.datanodes.live()
            located, offset = [], 0
            now = time.time()  # a token's expiry is wall-clock time, the datanodes' too
            for rec in records:
                holders = [live[n].view for n in self.blocks.holders(rec.block_id) if n in live]
                ordered = order_for_reader(holders, reader_host, self.rng)
                corrupt = not ordered and bool(self.blocks.corrupt_holders(rec.block_id))
                located.append(
                    LocatedBlock(
                        block=Block(block_id=rec.block_id, gen=rec.gen, length=rec.length),
                        offset=offset,
                        locations=[live[v.id].ref for v in ordered],
                        corrupt=corrupt,
                        token=blocktoken.make(self.keys.block, rec.block_id, now),
                    )
                )
                offset += rec.length
            return LocatedBlocks(status=status, blocks=located)

    def blocks_for_reader(self, path: str, reader_host: str | None = None) -> LocatedBlocks:
        """`located_blocks` for a client about to read. A namenode that has just started
        does not yet know where a block is until its datanodes report: that is refused as
        retriable (as Hadoop's getBlockLocations does in safe mode), not answered with a
        block that no datanode seems to hold."""
        self.read_barrier()
        with self.lock:
            return self._for_reader(path, reader_host)

    def blocks_for_readers(
        self, paths_: list[str], reader_host: str | None = None
    ) -> list[LocatedBlocks]:
        """`blocks_for_reader` of many files in one call and one read barrier (a job
        planning its splits over thousands of small files); the first refusal fails it."""
        self.read_barrier()
        with self.lock:
            return [self._for_reader(path, reader_host) for path in paths_]

    def _for_reader(self, path: str, reader_host: str | None) -> LocatedBlocks:
        located = self._located_blocks(path, reader_host)
        unplaced = [b for b in located.blocks if not b.locations and not b.corrupt]
        if unplaced and self.safemode.on:
            raise self._safe_mode_error(f"Zero block locations for {located.status.path}")
        if any(b.block.length for b in unplaced):
            self._refuse_while_reports_come(located.status.path)
        return located

    def _refuse_while_reports_come(self, path: str) -> None:
        """A leader elected a moment ago — not yet made active by the monitor, or made
        active but still waiting for the full reports it asked for (at most 10 heartbeat
        intervals) — may not know where a block is: the read is refused as retriable."""
        if not self.single and not self.active:
            raise UnavailableError(
                f"Zero block locations for {path}: this namenode has just been elected and "
                "is not serving block locations yet; try again"
            )
        if self._reports_awaited and self._newly_active():
            raise UnavailableError(
                f"Zero block locations for {path}: this namenode has just become the active "
                f"one and {len(self._reports_awaited)} datanode(s) have not sent their block "
                "reports yet; try again"
            )

    def _safe_mode_error(self, what: str) -> SafeModeError:
        """Safe mode after start-up ends by itself once datanodes report, so clients may
        retry (503); safe mode entered by hand does not (403)."""
        cls = SafeModeError if self.safemode.manual else StartupSafeModeError
        return cls(f"{what}: {self.safemode.describe()}")

    def datanode_for(
        self, path: str, op: str, offset: int, client_host: str | None, *, overwrite: bool = False
    ) -> str:
        """The datanode URL a WebHDFS client is redirected to for `op` on `path`, after the
        checks the namenode can make itself (so a bad request fails here, not there) — the
        caller's permissions first, so a refused caller learns nothing of what is there."""
        self.read_barrier()
        path = paths.normalize(path)
        with self.lock:
            match op:
                case "CREATE":
                    self.may(lambda may: may.ancestor(path))
                    if overwrite:
                        self.may(lambda may: may.access(path, WRITE))
                case "APPEND":
                    self.may(lambda may: may.access(path, WRITE))
                case _:
                    self.may(lambda may: may.access(path, READ))
        return self._datanode_for(path, op, offset, client_host)

    def _datanode_for(self, path: str, op: str, offset: int, client_host: str | None) -> str:
        with self.lock:
            node = self.ns.lookup(path)
            if op == "CREATE":
                if isinstance(node, Directory):
                    raise FileAlreadyExistsError(f"{path} is a folder")
                candidates = list(self.datanodes.writable().values())
                chosen = self.policy.choose_targets(
                    1, candidates, rng=self.rng, writer_host=client_host
                )
                if not chosen:
                    raise NotEnoughReplicasError("no datanode can take a new file")
                return self.datanodes.nodes[chosen[0].id].url
            if not isinstance(node, File):
                raise FileNotFoundError_(f"File does not exist: {path}")
            if op == "APPEND":
                return self._datanode_for(path, "CREATE", 0, client_host)
            located = self._located_blocks(path, client_host).blocks
            holding = [b for b in located if b.offset <= offset < b.offset + b.block.length]
            for block in holding or located[:1]:
                if block.locations:
                    return block.locations[0].url
            live = sorted(self.datanodes.live().values(), key=lambda n: n.active_transfers)
            if not live:
                raise NotEnoughReplicasError("no live datanode")
            return live[0].url

    # --- datanode protocol -----------------------------------------------------------------------

    def _reply(self, commands: list[Command]) -> HeartbeatResponse:
        """A reply to a datanode, saying whether this namenode is the active one and in
        which term: a datanode obeys only the active namenode of the newest term."""
        return HeartbeatResponse(commands=commands, active=self.active, term=self.host.status.term)

    def _commands_for(self, datanode_id: str) -> list[Command]:
        """A datanode's queued commands; none from a namenode that is not active."""
        return self.datanodes.take_commands(datanode_id) if self.active else []

    def register(self, req: RegisterRequest, peer_ip: str = "") -> None:
        with self.lock:
            known = self.datanodes.get(req.datanode_id)
            was_live = known is not None and known.is_live
            node = self.datanodes.register(req, self.clock(), ip=peer_ip)
            if not was_live:
                self._event("datanode", f"datanode {node.id} joined at {node.url}")
            if node.id in self.decommissioned and node.state is DatanodeState.LIVE:
                # Retired before this registration (a namenode restart, or the node was
                # switched off and came back): drain it again, never give it new blocks.
                self._start_decommission(node)

    def heartbeat(self, req: HeartbeatRequest) -> HeartbeatResponse:
        """Without the lock, as HDFS keeps heartbeats off its namesystem lock: a beat must
        not wait behind a replication round (`DatanodeRegistry` says why this is safe)."""
        node = self.datanodes.heartbeat(req, self.clock())
        if node is None:
            return self._reply([Command(kind="register")])
        return self._reply(self._commands_for(node.id))

    def block_report(self, req: BlockReportRequest) -> HeartbeatResponse:
        """A datanode's full list of replicas: the truth about what it holds."""
        with self.lock:
            node = self.datanodes.get(req.datanode_id)
            if node is None or node.state is DatanodeState.DEAD:
                return self._reply([Command(kind="register")])
            if node.state is DatanodeState.DECOMMISSIONED:
                # Retired: its replicas no longer count. Asking it to register again would
                # only bring another report, and so on for ever.
                return self._reply([])
            self._reports_awaited.discard(node.id)
            self.early.forget_node(node.id)  # this report is the truth now
            before = self.blocks.blocks_of(node.id)
            reported = set()
            for replica in req.replicas:
                reported.add(replica.block_id)
                self._replica_reported(node, replica)
            for block_id in before - reported:
                self.blocks.remove(block_id, node.id)
                self.replication.check([block_id])
            self._update_safemode(exact=False)  # the monitor's tick decides, exactly
            return self._reply(self._commands_for(node.id))

    def incremental_report(self, req: IncrementalReportRequest) -> None:
        with self.lock:
            node = self.datanodes.get(req.datanode_id)
            if node is None or not node.is_live:
                return
            for replica in req.received:
                node.received(replica.block_id)
                self._replica_reported(node, replica)
            for block_id in req.deleted:
                self.early.discard(block_id, node.id)
                self.blocks.remove(block_id, node.id)
                self.replication.check([block_id])

    def _replica_reported(self, node: DatanodeDescriptor, replica: ReplicaReport) -> None:
        record = self.ns.block_record(replica.block_id)
        # Ahead of this namespace: the edit that made it (a new block, a new stamp) is not
        # applied here yet. Asked first, as it is cheap and almost always false: `active`
        # costs ~0.3 us, 10 % of a full report's CPU if asked of every replica.
        if record is not None:
            ahead = replica.gen > record.gen
        else:
            ahead = replica.block_id > self.ns.last_block_id
        if ahead and not self.active:
            self.early.add(node.id, replica)
            return
        if record is None:  # deleted from the namespace, or never committed: garbage
            self.blocks.remove(replica.block_id, node.id)
            if self.safemode.on:
                self._postponed_invalid.add((node.id, replica.block_id))
            else:
                self._delete_replica(node.id, replica.block_id)
            return
        # The block map keys on the namespace's own int for the id (`record.block_id`), not
        # the report's: one int per block, not one more per replica reported.
        block_id = record.block_id
        if node.id in self.blocks.corrupt_holders(block_id):
            return  # reported bad earlier: stays bad until deleted, whatever its report says
        committed = self.ns.is_complete_block(block_id)
        if committed and (replica.length != record.length or replica.gen != record.gen):
            self.blocks.mark_corrupt(block_id, node.id)
            self._event("corrupt", f"block {block_id} on {node.id}: wrong length/stamp")
        elif self.blocks.add(block_id, node.id):
            self.replication.replica_arrived(block_id, node.id)
            if committed and record.length and self.safemode.on:
                self._safe_reported.add(block_id)

    def _place_early(self, early: list[tuple[str, ReplicaReport]]) -> None:
        """Replicas held until their block's edit was applied, reported again now (under
        the lock) for the datanodes still live: placed, held again (a stamp still ahead),
        or judged as any report is."""
        for datanode_id, replica in early:
            node = self.datanodes.get(datanode_id)
            if node is not None and node.is_live:
                self._replica_reported(node, replica)

    def report_bad_replica(self, block_id: int, datanode_id: str, reason: str) -> None:
        with self.lock:
            self.early.discard(block_id, datanode_id)  # held, it would be placed as good
            if self.ns.block_record(block_id) is None:
                return
            self.blocks.mark_corrupt(block_id, datanode_id)
            self.replication.check([block_id])
            self._event("corrupt", f"bad replica of block {block_id} on {datanode_id}: {reason}")

    # --- the monitor: called every replication_interval ---------------------------------------

    def tick(self) -> None:
        """The monitor's round: leadership, dead datanodes, safe mode, and — on the active
        namenode only — leases, replication and draining. Lease expiries are decided under
        the lock and proposed after it."""
        self._follow_role()
        with self.lock:
            now = self.clock()
            self.datanodes.forget_stale(now)
            # Replicas of blocks a snapshot brought, and stamps caught up with.
            self._place_early(self.early.take_known(self.ns.last_block_id))
            for node in self.datanodes.expire(now):
                self.early.forget_node(node.id)
                self._reports_awaited.discard(node.id)
                lost = self.blocks.remove_node(node.id)
                self.replication.check(lost)
                self._event(
                    "datanode", f"datanode {node.id} is dead; {len(lost)} blocks lost a replica"
                )
            was_on = self.safemode.on
            self._update_safemode()
            if was_on and not self.safemode.on:
                self._left_safemode()
            if self.safemode.on or not self.active:
                return
            expired = self._expired_leases(now)
            self._schedule_replication(now)
            self._finish_decommissions()
        for action in expired:
            try:
                if isinstance(action, Recovery):
                    self._recover(action)
                else:
                    self._submit(action)
                    self._event(
                        "lease", f"lease on {action.path} expired; the unfinished file was dropped"
                    )
            except MiniHadoopError as e:  # its writer came back meanwhile, or we are stopping
                logging.getLogger("minihadoop.namenode").info("lease expiry: %s", e)

    def _follow_role(self) -> None:
        """Become the active namenode once this one leads and has applied everything
        committed before its term; stop being it as soon as it does not lead.

        A new active namenode drops whatever commands it queued as a follower (none should
        be) and asks every datanode for a full block report: replicas a follower could not
        place (reported before it applied their block) and deletes the old leader never
        sent are found that way."""
        status = self.host.status
        leading = status.role is Role.LEADER
        if leading and not self.active:  # newly elected, or elected again in a newer term
            try:
                self.host.read_barrier(timeout=READ_TIMEOUT)
            except (NotLeaderError, OutcomeUnknownError, TimeoutError):
                return
            with self.lock:
                now = self.host.status
                if now.role is not Role.LEADER or now.term != status.term:
                    return  # the barrier was passed in another term: the next round decides
                # Everything committed is applied: a held replica's block is known now,
                # or it never will be (the full reports asked for find that replica again).
                self._place_early(self.early.take_known(self.ns.last_block_id))
                self.early.clear()
                self._made_active, self._active_term = True, status.term
                self.active_since = self.clock()
                self._reports_awaited = set(self.datanodes.live())
                for node in self.datanodes.nodes.values():
                    node.commands.clear()
                    node.clear_scheduled()
                for node in self.datanodes.live().values():
                    node.commands.append(Command(kind="report"))
            self._event("ha", f"{self.node_id} is the active namenode (term {status.term})")
        elif not leading and self._made_active:
            with self.lock:
                self._made_active = False
                for node in self.datanodes.nodes.values():
                    node.commands.clear()
                    node.clear_scheduled()
            self._event("ha", f"{self.node_id} is no longer the active namenode")

    @property
    def active(self) -> bool:
        """Whether this namenode is the active one: made active by `_follow_role`, and still
        the leader of the term it was made active in. A leader deposed, or elected again in a
        newer term, is not active from that moment, not only from the monitor's next round:
        its heartbeat replies must not carry commands it queued in the older term with the
        newer term's authority (a datanode obeys the newest term it has seen)."""
        if not self._made_active:
            return False
        status = self.host.status
        return status.role is Role.LEADER and status.term == self._active_term

    def _newly_active(self) -> bool:
        """Whether this namenode became active so recently that its datanodes may not have
        found it yet (they register within a few heartbeats)."""
        return self.clock() - self.active_since < 10 * self.settings.heartbeat_interval

    @property
    def jobtracker_url(self) -> str | None:
        """Where the job tracker is, as it published itself in the lock service (so every
        namenode of a group knows it, and it is gone once the job tracker's session ends)."""
        with self.lock:
            found = self.locks.machine.get(JOBTRACKER_KEY)
        if found is None or not found.value.startswith(("http://", "https://")):
            return None  # the dashboard links to it and asks it: an http(s) URL or nothing
        return found.value.rstrip("/")

    @property
    def term(self) -> int:
        return self.host.status.term

    def ha_status(self) -> dict[str, Any]:
        """This namenode's view of its group: its role, term, commit and applied index, and
        (on the leader) how far each peer's log is known to match."""
        st = self.host.status
        peers = {}
        for node in self.host.config.voters:
            progress = st.progress.get(node)
            match = progress.match if progress is not None else None
            if node == self.node_id and st.role is Role.LEADER:
                match = st.last_index  # the leader's own log matches itself
            peers[node] = {
                "url": self.peers.get(node, ""),
                "match": match,
                "next": progress.next if progress is not None else None,
            }
        return {
            "id": self.node_id,
            "role": st.role.value,
            "active": self.active,
            "term": st.term,
            "leader": st.leader,
            "leader_url": self.peers.get(st.leader, "") if st.leader else "",
            "commit": st.commit,
            "applied": self.host.applied,
            "peers": peers,
        }

    def _left_safemode(self) -> None:
        self._event("safemode", "left safe mode")
        if self.settle_heap:
            heap.settle(young=heap.YOUNG_GC_THRESHOLD)  # the block map is filled now
        self.replication.check(self.ns.complete_block_ids())
        for node_id, block_id in sorted(self._postponed_invalid):
            if self.ns.block_record(block_id) is None:
                self._delete_replica(node_id, block_id)
        self._postponed_invalid.clear()

    def set_safemode(self, action: str) -> str:
        """`enter`, `leave` or `get` safe mode by hand; returns its description. The
        leader's: a follower's safe mode guards nothing (StandbyError)."""
        self.read_barrier()
        with self.lock:
            match action:
                case "enter":
                    self.safemode.enter()
                    self._event("safemode", "entered safe mode by hand")
                case "leave":
                    was_on = self.safemode.on
                    self.safemode.leave()
                    if was_on:
                        self._left_safemode()
                case "get":
                    pass
                case _:
                    raise IllegalArgumentError("safe mode action must be enter, leave or get")
            return self.safemode.describe()

    def _update_safemode(self, *, exact: bool = True) -> None:
        """Feed safe mode its counts (caller holds the lock). The cheap count — blocks seen
        reported — only grows; it may count a block whose replica has gone since. So an
        exact walk of the namespace's blocks (O(blocks)) is made only when the cheap count
        says the threshold may be reached, every `SAFEMODE_RECOUNT` seconds, and at the
        first call; with `exact` false (a block report), never: only the monitor's tick
        decides to leave safe mode."""
        if not self.safemode.on:
            self._safe_reported.clear()
            return
        now = self.clock()
        total = self._safe_total
        due = now - self._safe_counted_at >= SAFEMODE_RECOUNT
        cheap = len(self._safe_reported)
        if total is None or (exact and (due or cheap >= self.safemode.needed(total))):
            total, cheap = self._count_safe_blocks()
            self._safe_total, self._safe_counted_at = total, now
        if not exact:
            # Counts for `describe`, never a decision: the extension's clock is the tick's.
            self.safemode.total, self.safemode.reported = total, min(cheap, total)
            return
        self.safemode.update(total=total, reported=min(cheap, total), now=now)

    def _count_safe_blocks(self) -> tuple[int, int]:
        """Walk every complete, non-empty block: (how many, how many have a live replica);
        the cheap count is reset to exactly the latter."""
        live = self.datanodes.live()
        total = 0
        seen: set[int] = set()
        for block_id in self.ns.complete_block_ids():
            rec = self.ns.block_record(block_id)
            if rec is None or rec.length == 0:
                continue
            total += 1
            if any(n in live for n in self.blocks.holders(block_id)):
                seen.add(block_id)
        self._safe_reported = seen
        return total, len(seen)

    def _schedule_replication(self, now: float) -> None:
        sources = {k: n.view for k, n in self.datanodes.live().items()}

        def block_size(block_id: int) -> int:
            owner = self.ns.block_owner.get(block_id)
            return owner.block_size if owner is not None else 0

        decisions = self.replication.compute(
            now,
            expected=self._expected_for_replication,
            blocks=self.blocks,
            live=sources,
            policy=self.policy,
            rng=self.rng,
            writable=self.datanodes.writable(),
            block_size=block_size,
        )
        copies = sum(1 for d in decisions if isinstance(d, Replicate))
        if copies:
            self._event("replication", f"copying {copies} under-replicated blocks")
        for d in decisions:
            if isinstance(d, Replicate):
                self._send_copy(d, now)
            elif isinstance(d, Delete):
                self.blocks.remove(d.block_id, d.node)
                self._delete_replica(d.node, d.block_id)

    def _send_copy(self, d: Replicate, now: float) -> None:
        """Tell `d.source` to copy its replica to `d.targets` (lock held)."""
        rec = self.ns.block_record(d.block_id)
        assert rec is not None
        block = Block(block_id=rec.block_id, gen=rec.gen, length=rec.length)
        for t in d.targets:
            self.datanodes.nodes[t].schedule(rec.block_id, rec.length, now)
        targets = [self.datanodes.nodes[t].ref for t in d.targets]
        self.datanodes.queue(d.source, Command(kind="replicate", block=block, targets=targets))

    # --- the balancer ------------------------------------------------------------------------

    def balancer_blocks(self, datanode: str, size: int) -> list[tuple[int, int, list[str]]]:
        """HDFS's getBlocks, for the balancer: (block id, length, the nodes holding it) of
        closed blocks on `datanode`, up to `size` bytes of them, largest first."""
        self.read_barrier()
        with self.lock:
            if datanode not in self.datanodes.nodes:
                raise FileNotFoundError_(f"no datanode {datanode}")
            found = []
            for block_id in self.blocks.blocks_of(datanode):
                rec = self.ns.block_record(block_id)
                if rec is None or not rec.length or not self.ns.is_complete_block(block_id):
                    continue
                found.append((rec.length, block_id))
            found.sort(reverse=True)
            chosen, total = [], 0
            for length, block_id in found:
                if total >= size:
                    break
                chosen.append((block_id, length, sorted(self.blocks.holders(block_id))))
                total += length
            return chosen

    def balancer_move(self, moves: list[tuple[int, str, str]]) -> list[tuple[int, str]]:
        """Start the balancer's moves (block, source, target): each a copy now and the
        source's replica deleted once the copy is there. The refused ones, with why."""
        self.read_barrier()
        refused = []
        with self.lock:
            if not self.active:
                raise self.standby()
            now = self.clock()
            live = {k: n.view for k, n in self.datanodes.live().items()}
            writable = self.datanodes.writable()
            for block_id, source, target in moves:
                if not self.ns.is_complete_block(block_id) or not self.ns.block_record(block_id):
                    refused.append((block_id, f"block {block_id} is no closed file's"))
                    continue
                try:
                    d = self.replication.move(
                        block_id, source, target, now, blocks=self.blocks, live=live,
                        writable=writable,
                    )  # fmt: skip
                except ValueError as exc:
                    refused.append((block_id, str(exc)))
                    continue
                self._send_copy(d, now)
        accepted = len(moves) - len(refused)
        if accepted:
            self._event("balancer", f"moving {accepted} replicas")
        return refused

    def _finish_decommissions(self) -> None:
        """A draining node is retired once every block it holds is fully replicated elsewhere."""
        writable = self.datanodes.writable()
        for node in list(self.datanodes.nodes.values()):
            if node.state is not DatanodeState.DECOMMISSIONING:
                continue
            for block_id in self.blocks.blocks_of(node.id):
                want = self.ns.expected_replication(block_id)
                elsewhere = sum(1 for n in self.blocks.holders(block_id) if n in writable)
                # The full factor, even when fewer nodes are left to hold it (three nodes,
                # replication three): switching this node off then would lose a replica,
                # so it stays DECOMMISSIONING, as in HDFS.
                if want is not None and elsewhere < want:
                    break
            else:
                node.state = DatanodeState.DECOMMISSIONED
                self._event("datanode", f"{node.id} ({node.url}) is decommissioned")

    def _expected_for_replication(self, block_id: int) -> int | None:
        # Blocks still being written are the writer's business, not the monitor's.
        if not self.ns.is_complete_block(block_id):
            return None
        return self.ns.expected_replication(block_id)

    def _expired_leases(self, now: float) -> list[c.AbandonFile | Recovery]:
        """Files whose writer went silent: past the hard limit dropped, recoveries not
        finished within a soft limit asked again. Caller holds the lock."""
        self.leases.retain(p.file.id for p in self.ns.under_construction.values())
        actions: list[c.AbandonFile | Recovery] = []
        for path, pending in self.ns.under_construction.items():
            fid = pending.file.id
            if self.leases.hard_expired(fid, now):
                actions.append(c.AbandonFile(path, pending.client, fid))
            elif pending.client == RECOVERY_HOLDER and self.leases.recovery_due(fid, now):
                # Its datanode died, or this namenode restarted.
                self.leases.recovery_asked(fid, now)
                actions.append(self._plan_recovery(pending, now))
        return actions

    # --- reports ----------------------------------------------------------------------------------

    def datanode_table(self) -> list[DatanodeDescriptor]:
        with self.lock:
            return sorted(self.datanodes.nodes.values(), key=lambda n: n.url)

    def decommission(self, datanode: str) -> DatanodeState:
        """Start draining a datanode (named by id or URL): its replicas are copied to other
        nodes, it receives no new ones, and once every block it holds has its full
        replication elsewhere it is DECOMMISSIONED and can be switched off. The decision is
        on disk before it is acted on, and holds across namenode restarts. The leader's
        (StandbyError on a follower): only the active namenode drains."""
        self.read_barrier()
        with self.lock:
            node = self.datanodes.get(datanode) or self.datanodes.by_url().get(datanode.rstrip("/"))
            if node is None:
                raise FileNotFoundError_(f"no datanode {datanode}")
            if node.state is DatanodeState.LIVE:
                self.decommissioned.add(node.id)
                self._start_decommission(node)
            return node.state

    def _start_decommission(self, node: DatanodeDescriptor) -> None:
        node.state = DatanodeState.DECOMMISSIONING
        self._event("datanode", f"decommissioning {node.id} ({node.url})")
        self.replication.check(self.blocks.blocks_of(node.id))


def _terminate(reason: str) -> None:
    logging.getLogger("minihadoop.namenode").critical("stopping the namenode: %s", reason)
    os._exit(1)


def _delete_command(block_id: int) -> Command:
    return Command(kind="delete", block=Block(block_id=block_id))
