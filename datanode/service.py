"""A datanode's life with its namenode: register, report, heartbeat, obey.

`DatanodeService` owns the block store and one HTTP client. Its `run()` loop registers,
sends a full block report, then heartbeats every `heartbeat_interval`, carrying out the
commands that come back (replicate a block to other nodes, delete a block, re-register).
A scanner pass re-verifies every replica every `scanner_interval` and reports rotten ones.

If the namenode is unreachable the loop keeps retrying; the datanode keeps serving reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass
from typing import Any

import httpx

from datanode.blockstore import BlockStore, Replica
from datanode.pipeline import PipelineError, WriteSpec, send_block
from datanode.recovery import plan_recovery
from minihadoop.config import Settings
from minihadoop.delegation import DelegationToken
from minihadoop.errors import ChecksumError, MiniHadoopError, UnavailableError
from minihadoop.models import (
    BadBlockReport,
    Block,
    BlockRecoveryReport,
    BlockReportRequest,
    Command,
    DatanodeRef,
    HeartbeatRequest,
    HeartbeatResponse,
    IncrementalReportRequest,
    RegisterRequest,
    ReplicaReport,
)
from minihadoop.rest import remote_error, tls_verify
from minihadoop.signing import ClusterAuth, Keys

log = logging.getLogger("minihadoop.datanode")


@dataclass
class DatanodeIdentity:
    url: str  # as advertised to the namenode and clients
    rack: str = "/default-rack"


class DatanodeService:
    def __init__(
        self,
        store: BlockStore,
        identity: DatanodeIdentity,
        namenode_url: str,
        settings: Settings,
    ) -> None:
        self.store = store
        self.identity = identity
        self.namenode_url = namenode_url.rstrip("/")
        self.settings = settings
        self.active_transfers = 0
        self.registered = False
        # Every call this node makes — to the namenode, down a pipeline, to a replication
        # target — is signed, and its answer checked, by ClusterAuth.
        self.client = httpx.AsyncClient(
            timeout=httpx.Timeout(30.0),
            limits=httpx.Limits(max_connections=64),
            auth=ClusterAuth(settings.token),
            verify=tls_verify(settings.tls_ca),
        )
        self._keys = Keys.derive(settings.token)
        self._pending_received: list[ReplicaReport] = []
        self._pending_deleted: list[int] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self.transfer_timeout = max(30.0, 10 * settings.heartbeat_interval)

    @property
    def id(self) -> str:
        return self.store.datanode_id

    # --- talking to the namenode -----------------------------------------------------------

    async def _post(self, endpoint: str, body: object) -> httpx.Response:
        payload = body.model_dump(mode="json") if hasattr(body, "model_dump") else body
        response = await self.client.post(
            f"{self.namenode_url}/internal/v1/{endpoint}",
            json=payload,
        )
        response.raise_for_status()
        return response

    async def register(self) -> None:
        cap, used, remaining = self.store.capacity()
        await self._post(
            "register",
            RegisterRequest(
                datanode_id=self.id,
                url=self.identity.url,
                rack=self.identity.rack,
                capacity=cap,
                used=used,
                remaining=remaining,
            ),
        )
        self.registered = True
        await self.block_report()

    async def block_report(self) -> None:
        report = BlockReportRequest(datanode_id=self.id, replicas=self.store.report())
        response = await self._post("block_report", report)
        await self.obey(HeartbeatResponse.model_validate(response.json()).commands)

    async def heartbeat(self) -> None:
        cap, used, remaining = self.store.capacity()
        response = await self._post(
            "heartbeat",
            HeartbeatRequest(
                datanode_id=self.id,
                capacity=cap,
                used=used,
                remaining=remaining,
                active_transfers=self.active_transfers,
                blocks=len(self.store.replicas()),
            ),
        )
        await self.obey(HeartbeatResponse.model_validate(response.json()).commands)

    async def block_received(self, replica: Replica) -> None:
        """Tell the namenode about a new replica now; queue it when the namenode is away."""
        self._pending_received.append(replica.report)
        await self._flush_incremental()

    async def _flush_incremental(self) -> None:
        if not (self._pending_received or self._pending_deleted):
            return
        received, self._pending_received = self._pending_received, []
        deleted, self._pending_deleted = self._pending_deleted, []
        try:
            await self._post(
                "incremental_report",
                IncrementalReportRequest(datanode_id=self.id, received=received, deleted=deleted),
            )
        except httpx.HTTPError:
            self._pending_received[:0] = received
            self._pending_deleted[:0] = deleted

    async def report_bad(self, block_id: int, reason: str) -> None:
        with contextlib.suppress(httpx.HTTPError):
            await self._post(
                "bad_block", BadBlockReport(block_id=block_id, datanode_id=self.id, reason=reason)
            )

    async def check_delegation(self, text: str, op: str, path: str) -> DelegationToken:
        """A delegation token presented here, if the namenode — which alone knows whether
        it was cancelled — says it is live and permits `op` on `path`."""
        token = DelegationToken.decode(text, self._keys.delegation)  # garbage stops here
        try:
            response = await self.client.post(
                f"{self.namenode_url}/internal/v1/delegation/check",
                json={"token": text, "op": op, "path": path},
            )
        except httpx.TransportError as exc:
            raise UnavailableError(f"cannot check the delegation token: {exc}") from exc
        if response.status_code != 200:
            raise remote_error(response)
        return token

    # --- commands ---------------------------------------------------------------------------

    async def obey(self, commands: list[Command]) -> None:
        for cmd in commands:
            match cmd.kind:
                case "register":
                    await self.register()
                case "report":
                    await self.block_report()
                case "delete" if cmd.block is not None:
                    if self.store.delete(cmd.block.block_id):
                        self._pending_deleted.append(cmd.block.block_id)
                case "replicate" if cmd.block is not None and cmd.targets:
                    self._spawn(self.replicate(cmd.block.block_id, [t.url for t in cmd.targets]))
                case "recover" if cmd.block is not None and cmd.targets:
                    self._spawn(self.recover_block(cmd.block, cmd.targets))
        await self._flush_incremental()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def replicate(self, block_id: int, targets: list[str]) -> None:
        """Copy a local replica to `targets` (as a pipeline), as the namenode asked."""
        try:
            replica = self.store.get(block_id)
        except MiniHadoopError:
            return
        try:  # a file gone or cut short: say so now, not after streaming the rest
            self.store.check_size(replica)
        except ChecksumError as exc:
            log.warning("replica of block %s is bad: %s", block_id, exc)
            await self.report_bad(block_id, str(exc))  # the namenode picks another source
            return
        spec = WriteSpec(
            block_id, replica.gen, replica.length, replica.bytes_per_checksum, tuple(targets)
        )
        self.active_transfers += 1
        try:
            await send_block(
                self.client,
                spec,
                lambda: self._replica_body(replica),
                None,
                self.transfer_timeout,
            )
        except PipelineError as exc:
            if exc.status == 409:  # the target found our bytes bad: check our own copy
                await self.scan_one(replica)
            log.warning("replicating block %s to %s failed: %s", block_id, targets, exc)
        except (ChecksumError, OSError) as exc:  # reading our own copy failed
            log.warning("replicating block %s to %s failed: %s", block_id, targets, exc)
            await self.scan_one(replica)
        except httpx.HTTPError as exc:
            log.warning("replicating block %s to %s failed: %s", block_id, targets, exc)
        finally:
            self.active_transfers -= 1

    async def _replica_body(self, replica: Replica) -> AsyncIterator[bytes]:
        for piece in self.store.read_range(replica, 0, replica.length):
            yield piece
        yield self.store.checksums(replica, 0, -(-replica.length // replica.bytes_per_checksum))

    # --- lease recovery ---------------------------------------------------------------------

    async def recover_block(self, block: Block, targets: list[DatanodeRef]) -> None:
        """As a recovery's primary: ask each target for its replica of `block`, bring those
        found to the length they all have under the recovery id `block.gen`, and tell the
        namenode which nodes now hold it. A target that fails is left out; the namenode
        asks again later if this answer never arrives."""
        found = {t.id: await self._replica_on(t, block.block_id) for t in targets}
        plan = plan_recovery(found, block.gen)
        urls = {t.id: t.url for t in targets}
        done = []
        for node_id in plan.holders if plan.length else ():
            if await self._recover_on(node_id, urls[node_id], block, plan.length):
                done.append(node_id)
        report = BlockRecoveryReport(
            block_id=block.block_id,
            gen=block.gen,
            length=plan.length if done else 0,
            datanode_ids=done,
        )
        try:
            await self._post("commit_block_recovery", report)
        except httpx.HTTPError as exc:
            log.warning("recovery of block %s not committed: %s", block.block_id, exc)

    async def _replica_on(self, target: DatanodeRef, block_id: int) -> ReplicaReport | None:
        if target.id == self.id:
            return self.store.get(block_id).report if self.store.has(block_id) else None
        try:
            response = await self.client.get(f"{target.url}/dn/v1/blocks/{block_id}/replica")
            response.raise_for_status()
            return ReplicaReport.model_validate(response.json())
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("recovery: no replica of block %s on %s: %s", block_id, target.url, exc)
            return None

    async def _recover_on(self, node_id: str, url: str, block: Block, length: int) -> bool:
        try:
            if node_id == self.id:
                await self.recover_replica(block.block_id, block.gen, length)
                return True
            response = await self.client.post(
                f"{url}/dn/v1/blocks/{block.block_id}/recover",
                params={"gen": block.gen, "length": length},
                timeout=httpx.Timeout(self.transfer_timeout),
            )
            response.raise_for_status()
            return True
        except (httpx.HTTPError, MiniHadoopError, OSError) as exc:
            log.warning("recovery of block %s on %s failed: %s", block.block_id, url, exc)
            return False

    async def recover_replica(self, block_id: int, gen: int, length: int) -> Replica:
        """Cut this node's replica to `length` under stamp `gen`, and tell the namenode."""
        replica = await asyncio.to_thread(self.store.recover, block_id, gen, length)
        await self.block_received(replica)
        return replica

    # --- scanner ----------------------------------------------------------------------------

    async def scan_one(self, replica: Replica) -> bool:
        try:
            await asyncio.to_thread(self.store.scan, replica)
            return True
        except (ChecksumError, OSError) as exc:
            log.warning("replica of block %s is bad: %s", replica.block_id, exc)
            await self.report_bad(replica.block_id, str(exc))
            return False

    async def scan_all(self) -> int:
        """One scanner pass; the number of bad replicas found."""
        bad = 0
        for replica in self.store.replicas():
            if self.store.has(replica.block_id) and not await self.scan_one(replica):
                bad += 1
        return bad

    # --- the loop ---------------------------------------------------------------------------

    async def run(self) -> None:
        s = self.settings
        next_report = next_scan = time.monotonic()
        next_scan += s.scanner_interval
        failing = False
        while True:
            try:
                if not self.registered:
                    await self.register()
                    next_report = time.monotonic() + s.block_report_interval
                await self.heartbeat()
                if time.monotonic() >= next_report:
                    await self.block_report()
                    next_report = time.monotonic() + s.block_report_interval
                if time.monotonic() >= next_scan:
                    await self.scan_all()
                    next_scan = time.monotonic() + s.scanner_interval
            except (httpx.HTTPError, ValueError) as exc:
                if self.registered or not failing:  # say it once per outage, not every beat
                    log.warning("namenode %s: %s; retrying", self.namenode_url, _why(exc))
                failing = True
                self.registered = False
            else:
                if failing:
                    log.warning("namenode %s reachable again", self.namenode_url)
                failing = False
            await asyncio.sleep(s.heartbeat_interval)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await self.client.aclose()


def _why(exc: Exception) -> str:
    if isinstance(exc, httpx.HTTPStatusError):
        if exc.response.status_code == 401:
            return "refused our token (is MINIHADOOP_TOKEN the same on every daemon?)"
        return f"answered HTTP {exc.response.status_code}"
    return f"not reachable ({type(exc).__name__}: {exc})"
