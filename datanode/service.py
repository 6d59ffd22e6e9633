"""A datanode's life with its namenodes: register, report, heartbeat, obey.

`DatanodeService` owns the block store and serves one namenode or a group of them (HDFS
HA's BPOfferService): one `NamenodeActor` per namenode registers, reports and heartbeats
on its own, so a namenode that is down or cut off delays none of the others, and gets
every block received or deleted meanwhile once it is back. Every namenode hears about
every replica; data commands (replicate a block to other nodes, delete one, recover one)
are carried out only from the namenode `datanode.fence` says is the current leader.
A scanner pass re-verifies every replica every `scanner_interval` and reports rotten ones.

Calls that must reach the group's leader go to the namenode last seen active, and
elsewhere when it cannot be reached. If no namenode is reachable the actors keep retrying;
the datanode keeps serving reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Coroutine, Iterable
from dataclasses import dataclass
from typing import Any

import httpx

from datanode.actor import OWN_COMMANDS, NamenodeActor
from datanode.blockstore import BlockStore, Replica
from datanode.fence import Fence, Verdict
from datanode.pipeline import PipelineError, WriteSpec, send_block
from datanode.recovery import plan_recovery
from minihadoop.config import Settings
from minihadoop.delegation import DelegationToken
from minihadoop.errors import ChecksumError, MiniHadoopError, StandbyError, UnavailableError
from minihadoop.models import (
    BadBlockReport,
    Block,
    BlockRecoveryReport,
    BlockReportRequest,
    Command,
    DatanodeRef,
    HeartbeatRequest,
    HeartbeatResponse,
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


def namenode_urls(urls: str | Iterable[str]) -> list[str]:
    """The namenodes a datanode serves, from a comma-separated list or several of them;
    each once, in the order given."""
    items = [urls] if isinstance(urls, str) else list(urls)
    found: list[str] = []
    for item in items:
        for url in item.split(","):
            url = url.strip().rstrip("/")
            if url and url not in found:
                found.append(url)
    if not found:
        raise MiniHadoopError("a datanode needs the URL of at least one namenode")
    return found


class DatanodeService:
    def __init__(
        self,
        store: BlockStore,
        identity: DatanodeIdentity,
        namenodes: str | Iterable[str],
        settings: Settings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """`namenodes`: the service URLs of every namenode of the group (or of the one).
        `transport` replaces the network for every client this node makes (tests)."""
        self.store = store
        self.identity = identity
        self.settings = settings
        self.active_transfers = 0
        # Every call this node makes — to a namenode, down a pipeline, to a replication
        # target — is signed, and its answer checked, by ClusterAuth.
        self.client = httpx.AsyncClient(
            timeout=httpx.Timeout(30.0),
            limits=httpx.Limits(max_connections=64),
            auth=ClusterAuth(settings.token),
            verify=tls_verify(settings.tls_ca),
            transport=transport,
        )
        self._keys = Keys.derive(settings.token)
        self.fence = Fence()
        self.actors = [
            NamenodeActor(url, self, settings, transport=transport)
            for url in namenode_urls(namenodes)
        ]
        self._tasks: set[asyncio.Task[None]] = set()
        self.transfer_timeout = max(30.0, 10 * settings.heartbeat_interval)

    @property
    def id(self) -> str:
        return self.store.datanode_id

    @property
    def registered(self) -> bool:
        """Whether some namenode of the group knows this node."""
        return any(a.registered for a in self.actors)

    @property
    def leader(self) -> NamenodeActor | None:
        """The namenode whose commands are obeyed: the last with an active reply at the
        highest term seen; None before any namenode has answered active."""
        return next((a for a in self.actors if a.url == self.fence.active), None)

    @property
    def namenode_url(self) -> str:
        """The namenode to send a client's file calls to: the leader, else the first."""
        return (self.leader or self.actors[0]).url

    def _leader_first(self) -> list[NamenodeActor]:
        leader = self.leader
        return sorted(self.actors, key=lambda a: a is not leader)

    def namenode_status(self) -> list[dict[str, Any]]:
        now = time.time()
        return [{**a.status(now), "active": a.url == self.fence.active} for a in self.actors]

    # --- what the actors send -----------------------------------------------------------

    def register_request(self) -> RegisterRequest:
        cap, used, remaining = self.store.capacity()
        return RegisterRequest(
            datanode_id=self.id,
            url=self.identity.url,
            rack=self.identity.rack,
            capacity=cap,
            used=used,
            remaining=remaining,
        )

    def heartbeat_request(self) -> HeartbeatRequest:
        cap, used, remaining = self.store.capacity()
        return HeartbeatRequest(
            datanode_id=self.id,
            capacity=cap,
            used=used,
            remaining=remaining,
            active_transfers=self.active_transfers,
            blocks=len(self.store.replicas()),
        )

    def block_report_request(self) -> BlockReportRequest:
        return BlockReportRequest(datanode_id=self.id, replicas=self.store.report())

    # --- telling the namenodes ------------------------------------------------------------

    async def block_received(self, replica: Replica) -> None:
        """Queue a new replica for every namenode, and tell the leader now; the others
        are told by their own actors, so none that is away holds this up."""
        for actor in self.actors:
            actor.queue.received(replica.report)
        await self._send_queues()

    def _block_deleted(self, block_id: int) -> None:
        for actor in self.actors:
            actor.queue.deleted(block_id)

    async def _send_queues(self) -> None:
        """Send the queues: the leader's awaited, the others' by their actors. With no
        leader known yet, the actors send all."""
        leader = self.leader
        for actor in self.actors:
            if actor is not leader:
                actor.wake()
        if leader is not None:
            await leader.try_flush()

    async def report_bad(self, block_id: int, reason: str) -> None:
        """Tell every namenode a replica here is bad: the leader before this returns, the
        others as they answer."""
        report = BadBlockReport(block_id=block_id, datanode_id=self.id, reason=reason)

        async def tell(actor: NamenodeActor) -> None:
            with contextlib.suppress(httpx.HTTPError):
                await actor.post("bad_block", report)

        leader = self.leader
        for actor in self.actors:
            if actor is not leader:
                self._spawn(tell(actor))
        if leader is not None:
            await tell(leader)

    async def check_delegation(self, text: str, op: str, path: str) -> DelegationToken:
        """A delegation token presented here, if the group's leader — which alone knows
        whether it was cancelled — says it is live and permits `op` on `path`. A namenode
        that cannot be reached, or is not the leader, passes the question to the next."""
        token = DelegationToken.decode(text, self._keys.delegation)  # garbage stops here
        why = "no namenode answered"
        for actor in self._leader_first():
            try:
                # The body, not the MAC: whoever holds this address gets no credential.
                body = text.partition(".")[0]
                await actor.post("delegation/check", {"body": body, "op": op, "path": path})
                return token
            except httpx.HTTPStatusError as exc:
                error = remote_error(exc.response)
                if not isinstance(error, StandbyError):
                    raise error from None
                why = f"{actor.url}: {error}"
            except httpx.HTTPError as exc:
                why = f"{actor.url}: {exc}"
        raise UnavailableError(f"cannot check the delegation token: {why}")

    # --- commands ---------------------------------------------------------------------------

    async def on_reply(self, actor: NamenodeActor, reply: HeartbeatResponse) -> None:
        """The data commands of one namenode's reply, carried out if `fence` allows."""
        judgement = self.fence.judge(actor.url, reply.active, reply.term)
        actor.verdict = judgement.verdict
        if judgement.news and judgement.verdict is Verdict.ACTIVE:
            log.warning("namenode %s is active (term %s)", actor.url, reply.term)
        if judgement.news and judgement.verdict is Verdict.DEPOSED:
            log.warning(
                "namenode %s says it is active at term %s, but term %s has been seen: "
                "its commands are ignored",
                actor.url,
                reply.term,
                self.fence.highest_term,
            )
        if judgement.obey:
            await self.obey(actor, [c for c in reply.commands if c.kind not in OWN_COMMANDS])

    async def obey(self, actor: NamenodeActor, commands: list[Command]) -> None:
        """Carry out data commands from `actor`'s namenode, which the fence let through."""
        deleted = False
        for cmd in commands:
            match cmd.kind:
                case "delete" if cmd.block is not None:
                    if self.store.delete(cmd.block.block_id):
                        self._block_deleted(cmd.block.block_id)
                        deleted = True
                case "replicate" if cmd.block is not None and cmd.targets:
                    self._spawn(self.replicate(cmd.block.block_id, [t.url for t in cmd.targets]))
                case "recover" if cmd.block is not None and cmd.targets:
                    self._spawn(self.recover_block(cmd.block, cmd.targets, actor))
        if deleted:  # `actor`'s loop sends its queue after this reply; the others, now
            for other in self.actors:
                other.wake()

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

    async def recover_block(
        self, block: Block, targets: list[DatanodeRef], issuer: NamenodeActor
    ) -> None:
        """As a recovery's primary: ask each target for its replica of `block`, bring those
        found to the length they all have under the recovery id `block.gen`, and tell the
        namenode that asked (`issuer`) which nodes now hold it. A target that fails is left
        out; the namenode asks again later if this answer never arrives."""
        found = {t.id: await self._replica_on(t, block.block_id) for t in targets}
        plan = plan_recovery(found, block.gen, cut=block.length)  # a truncate's length
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
            await issuer.post("commit_block_recovery", report)
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

    # --- the loops -------------------------------------------------------------------------

    async def run(self) -> None:
        """Every actor's loop and the scanner's, until cancelled. Each actor is a task of
        its own: one stuck on its namenode holds up no other."""
        tasks = [asyncio.create_task(a.run(), name=f"namenode {a.url}") for a in self.actors]
        try:
            await self._scan_forever()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _scan_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.scanner_interval)
            await self.scan_all()

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for actor in self.actors:
            await actor.close()
        await self.client.aclose()
