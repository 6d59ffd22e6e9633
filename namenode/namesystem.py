"""The namesystem: the namespace, block map, datanode registry and replication queue behind
one lock, with the journal that makes namespace changes durable.

Every public method takes the lock, asks the pure parts, and returns. A mutation returns the
txid of its edit-log record; the caller (the HTTP app) must `sync(txid)` before it answers
the client — the lock is not held across the fsync, so concurrent mutations share fsyncs.

Time comes from the injected `clock` and randomness from the injected `rng`.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from minihadoop import paths
from minihadoop.config import Settings
from minihadoop.errors import (
    FileAlreadyExistsError,
    FileNotFoundError_,
    IllegalArgumentError,
    LeaseExpiredError,
    MiniHadoopError,
    NotEnoughReplicasError,
    PathIsNotEmptyDirectoryError,
    RecoveryInProgressError,
    SafeModeError,
    StartupSafeModeError,
)
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
from namenode import commands as c
from namenode.blockmap import BlockMap
from namenode.datanodes import DatanodeDescriptor, DatanodeRegistry
from namenode.decommissioned import DecommissionList
from namenode.editlog import EditLogFailedError
from namenode.invalidations import HeldCommands
from namenode.journal import Journal
from namenode.leases import RECOVERY_HOLDER, Leases
from namenode.namespace import Directory, Effects, File, Namespace, PendingFile
from namenode.placement import make_policy, order_for_reader
from namenode.replication import BlockHealth, Delete, Replicate, ReplicationQueue, classify
from namenode.safemode import SafeMode

SUPERGROUP = "supergroup"


@dataclass(frozen=True, slots=True)
class ClusterEvent:
    time: float
    kind: str
    message: str


class Namesystem:
    def __init__(
        self,
        name_dir: Path,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.rng = rng or random.Random()
        self.lock = threading.RLock()
        self.journal = Journal(name_dir, checkpoint_every=settings.checkpoint_every)
        self.ns: Namespace = self.journal.open()
        self.decommissioned = DecommissionList(name_dir)
        self.blocks = BlockMap()
        self.datanodes = DatanodeRegistry(dead_timeout=settings.dead_node_timeout)
        self.replication = ReplicationQueue(
            pending_timeout=settings.replication_pending_timeout,
            max_streams=settings.replication_max_streams,
        )
        self.safemode = SafeMode(
            threshold=settings.safemode_threshold, extension=settings.safemode_extension
        )
        self.policy = make_policy(settings.placement)
        self.events: deque[ClusterEvent] = deque(maxlen=200)
        self.started = clock()
        self.leases = Leases(
            soft_limit=settings.lease_soft_limit, hard_limit=settings.lease_hard_limit
        )
        # Replicas of blocks the namespace does not know, reported during safe mode: deleted
        # only once safe mode is off (an operator may be restoring an older name folder).
        self._postponed_invalid: set[tuple[str, int]] = set()
        # Every delete command waits here until the edits it follows from are durable.
        self.held: HeldCommands[Command] = HeldCommands()
        self.on_fatal: Callable[[str], None] = _terminate
        # The job tracker announces itself, so the dashboard can show jobs (soft state).
        self.jobtracker_url: str | None = None
        self._event("namenode", f"started; {self.journal.replayed} edits replayed")
        self.tick()

    # --- plumbing ---------------------------------------------------------------------------

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    def _event(self, kind: str, message: str) -> None:
        self.events.append(ClusterEvent(self.clock(), kind, message))

    def _mutate(self, cmd: c.NamespaceCommand) -> tuple[Effects, int]:
        """Apply and log one command. Caller holds the lock."""
        if self.safemode.on:
            raise self._safe_mode_error("Cannot change the namespace")
        effects = self.ns.apply(cmd)
        try:
            txid = self.journal.log(cmd)
        except EditLogFailedError as exc:
            self.on_fatal(f"edit log failed: {exc}")  # memory is ahead of disk: stop
            raise
        for block_id in effects.removed_blocks:
            for node in self.blocks.forget_block(block_id):
                self._delete_replica(node, block_id)
            self.replication.forget(block_id)
        self.replication.check(effects.replication_changed)
        if self.journal.checkpoint_due():
            self.journal.checkpoint(self.ns)
        return effects, txid

    def _delete_replica(self, datanode_id: str, block_id: int) -> None:
        """Queue a delete for when the namespace it was decided from is durable."""
        self._send_after_sync(datanode_id, _delete_command(block_id))

    def _send_after_sync(self, datanode_id: str, command: Command) -> None:
        """Queue `command` for when every edit logged so far is durable (a caller holds the
        lock). Commands leave with heartbeats, which `_commands_for` releases."""
        self.held.hold(self.journal.last_txid, datanode_id, command)

    def _commands_for(self, datanode_id: str) -> list[Command]:
        """A datanode's commands, with every held one whose edits are now durable. Caller
        holds the lock."""
        for node, command in self.held.release(self.journal.synced_txid):
            self.datanodes.queue(node, command)
        return self.datanodes.take_commands(datanode_id)

    def sync(self, txid: int) -> None:
        """Wait until `txid` is durable. A failed edit log is fatal, as in HDFS: the
        namespace in memory is already ahead of the disk, so the process must not go on
        answering from it; a restart replays what is durable."""
        try:
            self.journal.sync(txid)
        except (OSError, EditLogFailedError) as exc:
            self.on_fatal(f"edit log sync failed: {exc}")
            raise

    def close(self) -> None:
        with self.lock:
            self.journal.close(self.ns)

    # --- namespace operations (clients) ---------------------------------------------------------

    def mkdirs(self, path: str, user: str, permission: str | None = None) -> int:
        path = paths.normalize(path)
        with self.lock:
            cmd = c.Mkdirs(path, self._now_ms(), user, SUPERGROUP, permission or "755")
            return self._mutate(cmd)[1]

    def create(self, req: CreateRequest, user: str) -> tuple[int, int, int]:
        """Start a file; returns (txid, the file's block size, its inode id)."""
        path = paths.normalize(req.path)
        with self.lock:
            refused = self._take_over(path, req.client, overwrite=req.overwrite, op="CREATE")
        if refused is not None:
            self._refuse_after_sync(*refused)
        with self.lock:
            cmd = c.StartFile(
                path=path,
                client=req.client,
                mtime=self._now_ms(),
                owner=user,
                group=SUPERGROUP,
                replication=req.replication or self.settings.replication,
                block_size=req.block_size or self.settings.block_size,
                overwrite=req.overwrite,
                permission=req.permission or "644",
                create_parent=req.create_parent,
            )
            effects, txid = self._mutate(cmd)
            self.leases.renew(effects.result, self.clock())
            return txid, cmd.block_size, effects.result

    def append(self, req: AppendRequest, reader_host: str | None) -> tuple[AppendResponse, int]:
        """Open a file for appending. A partial last block is rewritten (old bytes + new)
        into a new block that replaces it when the append completes, so readers see either
        the old file or the whole new one, and replicas never diverge."""
        path = paths.normalize(req.path)
        with self.lock:
            refused = self._take_over(path, req.client, overwrite=False, op="APPEND")
        if refused is not None:
            self._refuse_after_sync(*refused)
        with self.lock:
            node = self.ns.lookup(path)
            last = node.blocks[-1] if isinstance(node, File) and node.blocks else None
            replace = (
                isinstance(node, File) and last is not None and 0 < last.length < node.block_size
            )
            # StartAppend refuses a path being written by another client, or with no file.
            txid = self._mutate(c.StartAppend(path, req.client, self._now_ms(), replace))[1]
            assert isinstance(node, File)
            self.leases.renew(node.id, self.clock())
            rewrite = None
            if replace:
                rewrite = self.located_blocks(path, reader_host).blocks[-1]
            response = AppendResponse(
                block_size=node.block_size,
                bytes_per_checksum=self.settings.bytes_per_checksum,
                rewrite=rewrite,
                file_id=node.id,
            )
            return response, txid

    # --- leases -------------------------------------------------------------------------------

    def _take_over(
        self, path: str, client: str, *, overwrite: bool, op: str
    ) -> tuple[int, MiniHadoopError] | None:
        """Before `client` creates or appends at `path`, held by another writer: nothing
        while that writer's lease is good (the command then refuses, AlreadyBeingCreated).
        Past its soft limit, or with the file already under recovery, an overwrite drops
        the file; anything else recovers it, and goes on if that closed it at once. Else
        returns (txid, the error to answer once that txid is durable). Caller holds the lock.
        """
        pending = self.ns.under_construction.get(path)
        if pending is None or pending.client == client:
            return None
        now = self.clock()
        fid = pending.file.id
        recovering = pending.client == RECOVERY_HOLDER
        if not recovering and not self.leases.soft_expired(fid, now):
            return None
        if overwrite:
            self._mutate(c.AbandonFile(pending.path, pending.client, fid))
            self.leases.forget(fid)
            self._event("lease", f"lease on {path} expired; dropped for an overwrite by {client}")
            return None
        txid = 0
        if not recovering or self.leases.recovery_due(fid, now):
            closed, txid = self._recover(pending, now)
            if closed:
                return None
        return txid, RecoveryInProgressError(
            f"Failed to {op} {path} for {client}: lease recovery is in progress. Try again later."
        )

    def _refuse_after_sync(self, txid: int, error: MiniHadoopError) -> None:
        """Raise `error` once `txid` (the recovery it reports) is durable."""
        if txid:
            self.sync(txid)
        raise error

    def _recover(self, pending: PendingFile, now: float) -> tuple[bool, int]:
        """Start recovering a file whose writer is presumed dead: (closed at once, txid).

        With no blocks, or no live replica of its last block (the writer died before any
        datanode stored it), the file is closed now, that block dropped, as HDFS does.
        Else its lease passes to the recovery and the first live holder of the last block
        is told to bring every replica to one length; it answers `commit_block_recovery`.
        Caller holds the lock.
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
        if not holders and not (blocks and just_started):
            ms = self._now_ms()
            # Its last block, which no datanode holds, is dropped.
            cmd = (
                c.CloseRecovered(fid, ms, 0, blocks[-1].gen)
                if blocks
                else c.CloseRecovered(fid, ms)
            )
            txid = self._mutate(cmd)[1]
            self.leases.forget(fid)
            self._event("lease", f"recovered the lease on {path}; closed at once")
            return True, txid
        effects, txid = self._mutate(c.ReassignLease(fid, RECOVERY_HOLDER))
        _, gen = effects.result
        self.leases.recovery_asked(fid, now)
        if holders:
            block = Block(block_id=blocks[-1].block_id, gen=gen)
            targets = [live[n].ref for n in holders]
            self._send_after_sync(holders[0], Command(kind="recover", block=block, targets=targets))
            self._event(
                "lease", f"recovering the lease on {path}: block {block.block_id} on {holders[0]}"
            )
        return False, txid

    def recover_lease(self, path: str) -> tuple[bool, int]:
        """HDFS's recoverLease: (True, 0) when `path` is a closed file; else start recovering
        it at once, whoever holds it (no soft limit: the caller knows the writer is dead),
        and say whether that closed it. A file already under recovery is asked again only
        past the soft limit."""
        path = paths.normalize(path)
        with self.lock:
            pending = self.ns.under_construction.get(path)
            if pending is None:
                if isinstance(self.ns.lookup(path), File):
                    return True, 0
                raise FileNotFoundError_(f"File does not exist: {path}")
            now = self.clock()
            fid = pending.file.id
            if pending.client == RECOVERY_HOLDER and not self.leases.recovery_due(fid, now):
                return False, 0
            return self._recover(pending, now)

    def commit_block_recovery(self, report: BlockRecoveryReport) -> int:
        """A recovery's primary datanode reports the length the last block's replicas now
        agree on: the file is closed with it. Holders it does not list keep a replica that
        is stale (old stamp) and are told to delete it."""
        with self.lock:
            owner = self.ns.block_owner.get(report.block_id)
            pending = self.ns.pending_by_id(owner.id) if owner is not None else None
            if pending is None or pending.client != RECOVERY_HOLDER:
                raise LeaseExpiredError(f"block {report.block_id} is not being recovered")
            if pending.file.blocks[-1].block_id != report.block_id:
                raise IllegalArgumentError(f"block {report.block_id} is not the file's last block")
            if report.length and not report.datanode_ids:
                raise IllegalArgumentError("a recovered length needs the datanodes that hold it")
            keep = set(report.datanode_ids) if report.length else set()
            length = report.length
            fid, path = pending.file.id, pending.path
            txid = self._mutate(c.CloseRecovered(fid, self._now_ms(), length, report.gen))[1]
            self.leases.forget(fid)
            if length:
                for node in self.blocks.holders(report.block_id) - keep:
                    self.blocks.remove(report.block_id, node)
                    self._delete_replica(node, report.block_id)
            closed = self.ns.lookup(path)
            if isinstance(closed, File):
                self.replication.check(b.block_id for b in closed.blocks)
            self._event("lease", f"recovered {path}: last block {length} bytes on {sorted(keep)}")
            return txid

    def renew_lease(self, client: str) -> int:
        """HDFS's renewLease: every file `client` is writing keeps its lease; how many."""
        with self.lock:
            now = self.clock()
            held = [p.file.id for p in self.ns.under_construction.values() if p.client == client]
            for fid in held:
                self.leases.renew(fid, now)
            return len(held)

    def add_block(self, req: AddBlockRequest, writer_host: str | None) -> tuple[LocatedBlock, int]:
        path = paths.normalize(req.path)
        with self.lock:
            pending = self.ns.pending_for(path, req.client, req.file_id)
            path = pending.path
            prev = req.previous.length if req.previous is not None else None
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
            if not targets:
                raise NotEnoughReplicasError(
                    f"could only be written to 0 of the {len(candidates)} usable datanodes "
                    f"({len(self.datanodes.live())} live, {len(req.exclude)} excluded)"
                )
            effects, txid = self._mutate(c.AddBlock(path, req.client, prev, req.file_id))
            block_id, gen = effects.result
            now = self.clock()
            self.leases.renew(pending.file.id, now)
            for t in targets:
                self.datanodes.nodes[t.id].schedule(block_id, pending.file.block_size, now)
            refs = [self.datanodes.nodes[t.id].ref for t in targets]
            block = Block(block_id=block_id, gen=gen, length=0)
            return LocatedBlock(block=block, offset=0, locations=refs), txid

    def complete(self, req: CompleteRequest) -> int:
        path = paths.normalize(req.path)
        with self.lock:
            pending = self.ns.pending_for(path, req.client, req.file_id)
            path = pending.path
            last = req.last.length if req.last is not None else None
            cmd = c.CompleteFile(path, req.client, self._now_ms(), last, req.file_id)
            txid = self._mutate(cmd)[1]
            self.leases.forget(pending.file.id)
            # Blocks were reported while their length was unknown; check them now.
            node = self.ns.lookup(path)
            if isinstance(node, File):
                self.replication.check(b.block_id for b in node.blocks)
            return txid

    def abandon(self, path: str, client: str, file_id: int = 0) -> int:
        path = paths.normalize(path)
        with self.lock:
            pending = self.ns.pending_for(path, client, file_id)
            txid = self._mutate(c.AbandonFile(pending.path, client, file_id))[1]
            self.leases.forget(pending.file.id)  # once abandoned: a refusal keeps the lease
            return txid

    def delete(
        self, path: str, *, recursive: bool, skip_trash: bool, user: str
    ) -> tuple[bool, str | None, int]:
        """Remove `path`, to the user's trash unless told not to, trash is off, or it is in
        the trash already. Returns (whether it existed, where in the trash it went — None
        when it was deleted for good — and the txid)."""
        path = paths.normalize(path)
        with self.lock:
            trash = f"/user/{user}/.Trash"
            node = self.ns.lookup(path)
            if node is None:
                return False, None, 0
            if self.settings.trash and not skip_trash and not paths.is_ancestor(trash, path):
                if not recursive and self.ns.status(path).is_dir and self.ns.listing(path):
                    raise PathIsNotEmptyDirectoryError(f"{path} is a non-empty folder")
                cmd: c.NamespaceCommand = c.MoveToTrash(
                    path, f"{trash}/Current", self._now_ms(), user, SUPERGROUP
                )
            else:
                cmd = c.Delete(path, recursive, self._now_ms())
            effects, txid = self._mutate(cmd)
            moved_to = effects.result if isinstance(cmd, c.MoveToTrash) else None
            return bool(effects.result), moved_to, txid

    def rename(self, src: str, dst: str) -> int:
        src, dst = paths.normalize(src), paths.normalize(dst)
        with self.lock:
            return self._mutate(c.Rename(src, dst, self._now_ms()))[1]

    def set_replication(self, path: str, replication: int) -> int:
        path = paths.normalize(path)
        if not 1 <= replication <= 512:
            raise IllegalArgumentError(f"replication must be 1..512, not {replication}")
        with self.lock:
            return self._mutate(c.SetReplication(path, replication))[1]

    def set_attributes(self, cmd: c.SetTimes | c.SetPermission | c.SetOwner) -> int:
        with self.lock:
            return self._mutate(cmd)[1]

    # --- reads --------------------------------------------------------------------------------

    def status(self, path: str) -> FileStatus:
        with self.lock:
            return self.ns.status(paths.normalize(path))

    def status_or_none(self, path: str) -> FileStatus | None:
        with self.lock:
            path = paths.normalize(path)
            return self.ns.status(path) if self.ns.lookup(path) is not None else None

    def listing(self, path: str) -> list[FileStatus]:
        with self.lock:
            return self.ns.listing(paths.normalize(path))

    def summary(self, path: str) -> ContentSummary:
        with self.lock:
            return self.ns.content_summary(paths.normalize(path))

    def located_blocks(self, path: str, reader_host: str | None = None) -> LocatedBlocks:
        path = paths.normalize(path)
        with self.lock:
            status, records = self.ns.file_blocks(path)
            live = self.datanodes.live()
            located, offset = [], 0
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
                    )
                )
                offset += rec.length
            return LocatedBlocks(status=status, blocks=located)

    def blocks_for_reader(self, path: str, reader_host: str | None = None) -> LocatedBlocks:
        """`located_blocks` for a client about to read. A namenode that has just started
        does not yet know where a block is until its datanodes report: that is refused as
        retriable (as Hadoop's getBlockLocations does in safe mode), not answered with a
        block that no datanode seems to hold."""
        with self.lock:
            located = self.located_blocks(path, reader_host)
            if self.safemode.on and any(not b.locations and not b.corrupt for b in located.blocks):
                raise self._safe_mode_error(f"Zero block locations for {located.status.path}")
            return located

    def _safe_mode_error(self, what: str) -> SafeModeError:
        """Safe mode after start-up ends by itself once datanodes report, so clients may
        retry (503); safe mode entered by hand does not (403)."""
        cls = SafeModeError if self.safemode.manual else StartupSafeModeError
        return cls(f"{what}: {self.safemode.describe()}")

    def datanode_for(self, path: str, op: str, offset: int, client_host: str | None) -> str:
        """The datanode URL a WebHDFS client is redirected to for `op` on `path`, after the
        checks the namenode can make itself (so a bad request fails here, not there)."""
        path = paths.normalize(path)
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
                return self.datanode_for(path, "CREATE", 0, client_host)
            located = self.located_blocks(path, client_host).blocks
            holding = [b for b in located if b.offset <= offset < b.offset + b.block.length]
            for block in holding or located[:1]:
                if block.locations:
                    return block.locations[0].url
            live = sorted(self.datanodes.live().values(), key=lambda n: n.active_transfers)
            if not live:
                raise NotEnoughReplicasError("no live datanode")
            return live[0].url

    # --- datanode protocol -----------------------------------------------------------------------

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
        with self.lock:
            node = self.datanodes.heartbeat(req, self.clock())
            if node is None:
                return HeartbeatResponse(commands=[Command(kind="register")])
            return HeartbeatResponse(commands=self._commands_for(node.id))

    def block_report(self, req: BlockReportRequest) -> HeartbeatResponse:
        """A datanode's full list of replicas: the truth about what it holds."""
        with self.lock:
            node = self.datanodes.get(req.datanode_id)
            if node is None or node.state is DatanodeState.DEAD:
                return HeartbeatResponse(commands=[Command(kind="register")])
            if node.state is DatanodeState.DECOMMISSIONED:
                # Retired: its replicas no longer count. Asking it to register again would
                # only bring another report, and so on for ever.
                return HeartbeatResponse(commands=[])
            before = self.blocks.blocks_of(node.id)
            reported = set()
            for replica in req.replicas:
                reported.add(replica.block_id)
                self._replica_reported(node, replica)
            for block_id in before - reported:
                self.blocks.remove(block_id, node.id)
                self.replication.check([block_id])
            self._update_safemode()
            return HeartbeatResponse(commands=self._commands_for(node.id))

    def incremental_report(self, req: IncrementalReportRequest) -> None:
        with self.lock:
            node = self.datanodes.get(req.datanode_id)
            if node is None or not node.is_live:
                return
            for replica in req.received:
                node.received(replica.block_id)
                self._replica_reported(node, replica)
            for block_id in req.deleted:
                self.blocks.remove(block_id, node.id)
                self.replication.check([block_id])

    def _replica_reported(self, node: DatanodeDescriptor, replica: ReplicaReport) -> None:
        record = self.ns.block_record(replica.block_id)
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

    def report_bad_replica(self, block_id: int, datanode_id: str, reason: str) -> None:
        with self.lock:
            if self.ns.block_record(block_id) is None:
                return
            self.blocks.mark_corrupt(block_id, datanode_id)
            self.replication.check([block_id])
            self._event("corrupt", f"bad replica of block {block_id} on {datanode_id}: {reason}")

    # --- the monitor: called every replication_interval ---------------------------------------

    def tick(self) -> None:
        """The monitor's round. It ends by syncing everything logged so far, outside the
        lock as a client's sync is: its own edits (expired leases), and any a caller logged
        but never synced (a request that failed half-way), so no held delete waits for the
        next client to come along."""
        with self.lock:
            now = self.clock()
            for node in self.datanodes.expire(now):
                lost = self.blocks.remove_node(node.id)
                self.replication.check(lost)
                self._event(
                    "datanode", f"datanode {node.id} is dead; {len(lost)} blocks lost a replica"
                )
            was_on = self.safemode.on
            self._update_safemode()
            if was_on and not self.safemode.on:
                self._left_safemode()
            if self.safemode.on:
                return
            self._expire_leases(now)
            self._schedule_replication(now)
            self._finish_decommissions()
            logged = self.journal.last_txid
        if self.journal.synced_txid < logged:
            self.sync(logged)

    def _left_safemode(self) -> None:
        self._event("safemode", "left safe mode")
        self.replication.check(self.ns.complete_block_ids())
        for node_id, block_id in sorted(self._postponed_invalid):
            if self.ns.block_record(block_id) is None:
                self._delete_replica(node_id, block_id)
        self._postponed_invalid.clear()

    def set_safemode(self, action: str) -> str:
        """`enter`, `leave` or `get` safe mode by hand; returns its description."""
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

    def _update_safemode(self) -> None:
        if not self.safemode.on:
            return
        live = self.datanodes.live()
        total = reported = 0
        for block_id in self.ns.complete_block_ids():
            rec = self.ns.block_record(block_id)
            if rec is None or rec.length == 0:
                continue
            total += 1
            if any(n in live for n in self.blocks.holders(block_id)):
                reported += 1
        self.safemode.update(total=total, reported=reported, now=self.clock())

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
                rec = self.ns.block_record(d.block_id)
                assert rec is not None
                block = Block(block_id=rec.block_id, gen=rec.gen, length=rec.length)
                for t in d.targets:
                    self.datanodes.nodes[t].schedule(rec.block_id, rec.length, now)
                targets = [self.datanodes.nodes[t].ref for t in d.targets]
                self.datanodes.queue(
                    d.source, Command(kind="replicate", block=block, targets=targets)
                )
            elif isinstance(d, Delete):
                self.blocks.remove(d.block_id, d.node)
                self._delete_replica(d.node, d.block_id)

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

    def _expire_leases(self, now: float) -> None:
        """Drop files whose writer went silent (`tick` syncs the edits)."""
        self.leases.retain(p.file.id for p in self.ns.under_construction.values())
        for path, pending in list(self.ns.under_construction.items()):
            fid = pending.file.id
            if self.leases.hard_expired(fid, now):
                self.leases.forget(fid)
                self._mutate(c.AbandonFile(path, pending.client, fid))
                self._event("lease", f"lease on {path} expired; the unfinished file was dropped")
            elif pending.client == RECOVERY_HOLDER and self.leases.recovery_due(fid, now):
                self._recover(pending, now)  # its datanode died, or this namenode restarted

    # --- reports ----------------------------------------------------------------------------------

    def health(self, path: str = "/") -> tuple[BlockHealth, list[tuple[str, int]]]:
        """Block health below `path`, and the files there with their block counts."""
        path = paths.normalize(path)
        with self.lock:
            files: list[tuple[str, int]] = []
            ids: list[int] = []
            for p, node in self.ns.walk(path):
                blocks = getattr(node, "blocks", None)
                if blocks is not None:
                    files.append((p, len(blocks)))
                    ids.extend(b.block_id for b in blocks)
            live = set(self.datanodes.live())
            health = classify(
                ids, expected=self.ns.expected_replication, blocks=self.blocks, live=live
            )
            return health, files

    def datanode_table(self) -> list[DatanodeDescriptor]:
        with self.lock:
            return sorted(self.datanodes.nodes.values(), key=lambda n: n.url)

    def decommission(self, datanode: str) -> DatanodeState:
        """Start draining a datanode (named by id or URL): its replicas are copied to other
        nodes, it receives no new ones, and once every block it holds has its full
        replication elsewhere it is DECOMMISSIONED and can be switched off. The decision is
        on disk before it is acted on, and holds across namenode restarts."""
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
