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
    NotEnoughReplicasError,
    PathIsNotEmptyDirectoryError,
    SafeModeError,
    StartupSafeModeError,
)
from minihadoop.models import (
    AddBlockRequest,
    AppendRequest,
    AppendResponse,
    Block,
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
from namenode.editlog import EditLogFailedError
from namenode.journal import Journal
from namenode.namespace import Directory, Effects, File, Namespace
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
        self._lease_seen: dict[str, float] = {}
        # Replicas of blocks the namespace does not know, reported during safe mode: deleted
        # only once safe mode is off (an operator may be restoring an older name folder).
        self._postponed_invalid: set[tuple[str, int]] = set()
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
                self.datanodes.queue(node, _delete_command(block_id))
            self.replication.forget(block_id)
        self.replication.check(effects.replication_changed)
        if self.journal.checkpoint_due():
            self.journal.checkpoint(self.ns)
        return effects, txid

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

    def create(self, req: CreateRequest, user: str) -> tuple[int, int]:
        """Start a file; returns (txid, the file's block size)."""
        path = paths.normalize(req.path)
        with self.lock:
            parent = paths.parent(path)
            if req.create_parent and self.ns.lookup(parent) is None:
                self._mutate(c.Mkdirs(parent, self._now_ms(), user, SUPERGROUP, "755"))
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
            )
            txid = self._mutate(cmd)[1]
            self._lease_seen[path] = self.clock()
            return txid, cmd.block_size

    def append(self, req: AppendRequest, reader_host: str | None) -> tuple[AppendResponse, int]:
        """Open a file for appending. A partial last block is rewritten (old bytes + new)
        into a new block that replaces it when the append completes, so readers see either
        the old file or the whole new one, and replicas never diverge."""
        path = paths.normalize(req.path)
        with self.lock:
            node = self.ns.lookup(path)
            if not isinstance(node, File):
                raise FileNotFoundError_(f"File does not exist: {path}")
            last = node.blocks[-1] if node.blocks else None
            replace = last is not None and 0 < last.length < node.block_size
            txid = self._mutate(c.StartAppend(path, req.client, self._now_ms(), replace))[1]
            self._lease_seen[path] = self.clock()
            rewrite = None
            if replace:
                rewrite = self.located_blocks(path, reader_host).blocks[-1]
            response = AppendResponse(
                block_size=node.block_size,
                bytes_per_checksum=self.settings.bytes_per_checksum,
                rewrite=rewrite,
            )
            return response, txid

    def add_block(self, req: AddBlockRequest, writer_host: str | None) -> tuple[LocatedBlock, int]:
        path = paths.normalize(req.path)
        with self.lock:
            pending = self.ns.under_construction.get(path)
            if pending is None or pending.client != req.client:
                raise LeaseExpiredError(f"No lease on {path}: not open for writing by {req.client}")
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
            block_id, gen = self.ns.next_block_id(), self.ns.next_gen()
            txid = self._mutate(c.AddBlock(path, req.client, block_id, gen, prev))[1]
            now = self._lease_seen[path] = self.clock()
            for t in targets:
                self.datanodes.nodes[t.id].schedule(block_id, pending.file.block_size, now)
            refs = [self.datanodes.nodes[t.id].ref for t in targets]
            block = Block(block_id=block_id, gen=gen, length=0)
            return LocatedBlock(block=block, offset=0, locations=refs), txid

    def complete(self, req: CompleteRequest) -> int:
        path = paths.normalize(req.path)
        with self.lock:
            last = req.last.length if req.last is not None else None
            txid = self._mutate(c.CompleteFile(path, req.client, self._now_ms(), last))[1]
            self._lease_seen.pop(path, None)
            # Blocks were reported while their length was unknown; check them now.
            node = self.ns.lookup(path)
            if isinstance(node, File):
                self.replication.check(b.block_id for b in node.blocks)
            return txid

    def abandon(self, path: str, client: str) -> int:
        path = paths.normalize(path)
        with self.lock:
            self._lease_seen.pop(path, None)
            return self._mutate(c.AbandonFile(path, client))[1]

    def delete(
        self, path: str, *, recursive: bool, skip_trash: bool, user: str
    ) -> tuple[bool, int]:
        path = paths.normalize(path)
        with self.lock:
            trash = f"/user/{user}/.Trash"
            node = self.ns.lookup(path)
            if node is None:
                return False, 0
            if self.settings.trash and not skip_trash and not paths.is_ancestor(trash, path):
                if not recursive and self.ns.status(path).is_dir and self.ns.listing(path):
                    raise PathIsNotEmptyDirectoryError(f"{path} is a non-empty folder")
                cmd: c.NamespaceCommand = c.MoveToTrash(
                    path, f"{trash}/Current", self._now_ms(), user, SUPERGROUP
                )
            else:
                cmd = c.Delete(path, recursive, self._now_ms())
            effects, txid = self._mutate(cmd)
            return bool(effects.result), txid

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

    def heartbeat(self, req: HeartbeatRequest) -> HeartbeatResponse:
        with self.lock:
            node = self.datanodes.heartbeat(req, self.clock())
            if node is None:
                return HeartbeatResponse(commands=[Command(kind="register")])
            return HeartbeatResponse(commands=self.datanodes.take_commands(node.id))

    def block_report(self, req: BlockReportRequest) -> HeartbeatResponse:
        """A datanode's full list of replicas: the truth about what it holds."""
        with self.lock:
            node = self.datanodes.get(req.datanode_id)
            if node is None or not node.is_live:
                return HeartbeatResponse(commands=[Command(kind="register")])
            before = self.blocks.blocks_of(node.id)
            reported = set()
            for replica in req.replicas:
                reported.add(replica.block_id)
                self._replica_reported(node, replica)
            for block_id in before - reported:
                self.blocks.remove(block_id, node.id)
                self.replication.check([block_id])
            self._update_safemode()
            return HeartbeatResponse(commands=self.datanodes.take_commands(node.id))

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
                self.datanodes.queue(node.id, _delete_command(replica.block_id))
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

    def _left_safemode(self) -> None:
        self._event("safemode", "left safe mode")
        self.replication.check(self.ns.complete_block_ids())
        for node_id, block_id in sorted(self._postponed_invalid):
            if self.ns.block_record(block_id) is None:
                self.datanodes.queue(node_id, _delete_command(block_id))
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
                self.datanodes.queue(d.node, _delete_command(d.block_id))

    def _finish_decommissions(self) -> None:
        """A draining node is retired once every block it holds is fully replicated elsewhere."""
        writable = self.datanodes.writable()
        for node in list(self.datanodes.nodes.values()):
            if node.state is not DatanodeState.DECOMMISSIONING:
                continue
            for block_id in self.blocks.blocks_of(node.id):
                want = self.ns.expected_replication(block_id)
                elsewhere = sum(1 for n in self.blocks.holders(block_id) if n in writable)
                if want is not None and elsewhere < min(want, len(writable)):
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
        limit = self.settings.lease_hard_limit
        for gone in self._lease_seen.keys() - self.ns.under_construction.keys():
            del self._lease_seen[gone]  # completed, abandoned, or moved with its folder
        for path, pending in list(self.ns.under_construction.items()):
            seen = self._lease_seen.setdefault(path, now)
            if now - seen > limit:
                self._lease_seen.pop(path, None)
                self._mutate(c.AbandonFile(path, pending.client))
                self._event("lease", f"lease on {path} expired; the unfinished file was dropped")

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
        replication elsewhere it is DECOMMISSIONED and can be switched off."""
        with self.lock:
            node = self.datanodes.get(datanode) or self.datanodes.by_url().get(datanode.rstrip("/"))
            if node is None:
                raise FileNotFoundError_(f"no datanode {datanode}")
            if node.state is DatanodeState.LIVE:
                node.state = DatanodeState.DECOMMISSIONING
                self._event("datanode", f"decommissioning {node.id} ({node.url})")
                self.replication.check(self.blocks.blocks_of(node.id))
            return node.state


def _terminate(reason: str) -> None:
    logging.getLogger("minihadoop.namenode").critical("stopping the namenode: %s", reason)
    os._exit(1)


def _delete_command(block_id: int) -> Command:
    return Command(kind="delete", block=Block(block_id=block_id))
