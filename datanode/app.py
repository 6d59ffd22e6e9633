"""The datanode's HTTP adapter.

* ``PUT /dn/v1/blocks/<id>`` — receive a block (see `datanode.pipeline` for the format).
* ``GET /dn/v1/blocks/<id>?offset=&length=`` — read a range with its checksums: the body is
  the CRC32C of every chunk the range touches, then those chunks' bytes; headers say where
  the chunks start (``x-chunk-start``) and how long each part is, so the reader verifies
  every byte before it uses it.
* ``GET /dn/v1/blocks/<id>/data`` — the same range, verified here, as plain bytes.
* ``POST /dn/v1/blocks/read`` (cluster members; ``{"blocks": [id, ...]}``, at most 1,000) —
  many whole blocks in one answer, for a map over many small files: per block, in the order
  asked, a header (`minihadoop.models.BLOCK_READ_HEADER`: id, length or -1 when this node
  does not serve it, bytes per checksum, checksums' length), its checksums, its bytes.
* ``GET /dn/v1/blocks/<id>/replica`` and ``POST /dn/v1/blocks/<id>/recover?gen=&length=`` —
  lease recovery: a replica's stamp and length, and cutting it to `length` under the new
  stamp `gen` (asked by the recovery's primary datanode; see `datanode.recovery`).
* ``/health`` and ``/dn/v1/info``: this node, and each namenode it serves (registered,
  active, term, last contact).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import Depends, FastAPI, Path, Query, Request
from fastapi.responses import Response, StreamingResponse

from datanode.blockstore import BlockStore, Replica
from datanode.pipeline import WriteSpec, receive_block
from datanode.service import DatanodeService
from datanode.webhdfs import router as webhdfs_router
from minihadoop import blocktoken
from minihadoop.checksum import MAX_BYTES_PER_CHECKSUM
from minihadoop.config import Settings
from minihadoop.errors import (
    ChecksumError,
    DiskOutOfSpaceError,
    IllegalArgumentError,
    MiniHadoopError,
)
from minihadoop.guard import (
    CLUSTER,
    HostNames,
    WebAuth,
    cluster_only,
    install_guard,
    principal_of,
    read_access,
)
from minihadoop.metrics import Metrics, families, install_metrics
from minihadoop.models import (
    BLOCK_READ_HEADER,
    BlockReadRequest,
    BlockWriteResult,
    ReplicaReport,
)
from minihadoop.server import daemon_app, install_error_handlers, limit_body_size
from minihadoop.signing import CONTENT, UNSIGNED, Keys

MAX_TARGETS = 16
# The one JSON body a datanode takes: up to 1,000 block ids (``POST /dn/v1/blocks/read``).
MAX_JSON_BODY = 1 << 20
BATCH_READ = "/dn/v1/blocks/read"
SMALL_READ = 1 << 20  # a block this small is read whole in one hop to a thread
# A block id as the namenode hands them out (`models.BlockId`): anything else is a 400 here,
# before it names a file or reaches a block report.
BlockIdParam = Annotated[int, Path(ge=1, lt=1 << 63)]


def create_app(service: DatanodeService, settings: Settings, *, heartbeats: bool = True) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        loop = asyncio.create_task(service.run()) if heartbeats else None
        yield
        if loop is not None:
            loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await loop
        await service.close()

    app = daemon_app("minihadoop datanode", lifespan)
    install_error_handlers(app)
    auth = Depends(cluster_only)
    read = Depends(read_access(settings.read_policy))
    web = WebAuth(service.check_delegation, settings.read_policy)
    store: BlockStore = service.store

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {
            "status": "ok",
            "id": service.id,
            "registered": service.registered,
            "namenodes": service.namenode_status(),
        }

    @app.get("/dn/v1/info", dependencies=[read])
    def info() -> dict[str, Any]:
        cap, used, remaining = store.capacity()
        return {
            "id": service.id,
            "url": service.identity.url,
            "capacity": cap,
            "used": used,
            "remaining": remaining,
            "blocks": len(store.replicas()),
            "active_transfers": service.active_transfers,
            "namenodes": service.namenode_status(),
        }

    @app.put("/dn/v1/blocks/{block_id}", dependencies=[auth])
    async def write_block(
        block_id: BlockIdParam,
        request: Request,
        gen: int = Query(0, ge=0),
        length: int = Query(..., ge=0, le=1 << 40),
        bpc: int = Query(..., ge=512, le=MAX_BYTES_PER_CHECKSUM),
    ) -> BlockWriteResult:
        targets = tuple(t for t in request.headers.get("x-targets", "").split(",") if t)
        if len(targets) > MAX_TARGETS or not all(
            t.startswith(("http://", "https://")) for t in targets
        ):
            raise IllegalArgumentError("x-targets must list at most 16 http(s) URLs")
        spec = WriteSpec(block_id, gen, length, bpc, targets)
        _, _, remaining = store.capacity()
        if length > remaining:  # the namenode's view may be a heartbeat old: check here
            raise DiskOutOfSpaceError(
                f"datanode {service.id} is full: {remaining} bytes free, block needs {length}"
            )
        service.active_transfers += 1
        try:
            replica, result = await receive_block(
                store,
                spec,
                request.stream(),
                client=service.client,
                content=_signed_digest(request),
                timeout=service.transfer_timeout,
            )
        finally:
            service.active_transfers -= 1
        await service.block_received(replica)
        return result

    @app.get("/dn/v1/blocks/{block_id}/replica", dependencies=[auth])
    def replica(block_id: BlockIdParam) -> ReplicaReport:
        return store.get(block_id).report

    @app.post("/dn/v1/blocks/{block_id}/recover", dependencies=[auth])
    async def recover(
        block_id: BlockIdParam,
        gen: int = Query(..., ge=1, lt=1 << 63),
        length: int = Query(..., ge=0, le=1 << 40),
    ) -> ReplicaReport:
        replica = await service.recover_replica(block_id, gen, length)
        return replica.report

    block_read = Depends(_block_reader(settings))
    _read_routes(app, service, block_read)
    _many_blocks_route(app, service, auth)
    _verified_read_route(app, service, block_read)
    _checksums_route(app, service, block_read)
    app.include_router(webhdfs_router(service, Depends(web.user), Depends(web.reader)))
    where = urlsplit(service.identity.url)
    names = HostNames([*settings.host_names(), where.hostname or ""], ports=[where.port or 80])

    def figures() -> dict[str, tuple[str, Any]]:
        cap, used, remaining = store.capacity()
        return {
            "capacity_bytes": ("Configured capacity", cap),
            "used_bytes": ("Bytes of block replicas stored", used),
            "remaining_bytes": ("Bytes free for replicas", remaining),
            "blocks": ("Replicas stored", len(store.replicas())),
            "active_transfers": ("Block writes under way", service.active_transfers),
            "registered": ("1 while registered with a namenode", int(service.registered)),
        }

    metrics = Metrics("datanode", lambda: families(metrics, figures()))
    install_metrics(app, metrics)
    # Block data may be large; the batch read's list of ids may not.
    limit_body_size(app, MAX_JSON_BODY, exempt=lambda path: path != BATCH_READ)
    install_guard(app, settings, names, unsigned_payload=_block_data)
    return app


def _block_data(method: str, path: str) -> bool:
    """Block data may come unsigned (`minihadoop.signing`): a replication copy streams a
    replica whose digest it does not know; the data carries its CRC32C checksums."""
    return method == "PUT" and path.startswith("/dn/v1/blocks/")


def _signed_digest(request: Request) -> str | None:
    """The body digest the writer signed, to pass down the pipeline, if it signed one."""
    content = request.headers.get(CONTENT)
    return None if content in (None, UNSIGNED) else content


def _replica_span(
    store: BlockStore, block_id: int, offset: int, length: int | None
) -> tuple[Replica, Span]:
    """The replica and the chunk-aligned span covering [offset, offset+length); a replica
    whose data file no longer has its finalized length (truncated on disk) is ChecksumError,
    never streamed short."""
    replica = store.get(block_id)
    if offset > replica.length:
        raise IllegalArgumentError(f"offset {offset} is past the block's end ({replica.length})")
    store.check_size(replica)
    return replica, Span.of(replica, offset, length)


async def _open_range(
    service: DatanodeService, block_id: int, offset: int, length: int | None
) -> tuple[Replica, Span]:
    """`_replica_span`, a truncated replica reported to the namenode and refused (409)."""
    try:
        return _replica_span(service.store, block_id, offset, length)
    except ChecksumError as exc:
        await service.report_bad(block_id, str(exc))
        raise


def _block_reader(settings: Settings) -> Any:
    block_key = Keys.derive(settings.token).block

    async def block_reader(
        request: Request, block_id: BlockIdParam, token: str | None = Query(None, max_length=200)
    ) -> None:
        """A block's bytes: to a caller signed with the cluster token; under the open read
        policy also to one with the namenode's block access token for this block, which
        it got by being allowed to read the file (`minihadoop.blocktoken`)."""
        if principal_of(request) is CLUSTER:
            return
        if settings.read_policy != "open":
            await cluster_only(request)
        blocktoken.check(block_key, token, block_id, time.time())

    return block_reader


def _read_routes(app: FastAPI, service: DatanodeService, read: Any) -> None:
    store = service.store

    @app.get("/dn/v1/blocks/{block_id}", dependencies=[read])
    async def read_block(
        block_id: BlockIdParam,
        offset: int = Query(0, ge=0),
        length: int | None = Query(None, ge=0),
    ) -> StreamingResponse:
        replica, span = await _open_range(service, block_id, offset, length)
        bpc = replica.bytes_per_checksum
        sums = store.checksums(replica, span.start // bpc, span.chunks)

        async def body() -> AsyncIterator[bytes]:
            service.active_transfers += 1
            try:
                yield sums
                for piece in store.read_range(replica, span.start, span.aligned_end):
                    yield piece
            finally:
                service.active_transfers -= 1

        headers = {
            "x-chunk-start": str(span.start),
            "x-data-length": str(span.aligned_end - span.start),
            "x-checksums-length": str(len(sums)),
            "x-bytes-per-checksum": str(bpc),
            "x-block-length": str(replica.length),
            "content-length": str(len(sums) + span.aligned_end - span.start),
        }
        return StreamingResponse(body(), media_type="application/octet-stream", headers=headers)


def _many_blocks_route(app: FastAPI, service: DatanodeService, auth: Any) -> None:
    store = service.store

    def opened(block_id: int) -> tuple[Replica, bytes, bytes | None]:
        """A block's replica, its stored checksums, and its bytes when it is small (file
        work: in a thread, one hop for a small block)."""
        replica, span = _replica_span(store, block_id, 0, None)
        sums = store.checksums(replica, 0, span.chunks)
        if replica.length > SMALL_READ:
            return replica, sums, None
        return replica, sums, b"".join(store.read_range(replica, 0, replica.length))

    @app.post(BATCH_READ, dependencies=[auth])
    async def read_many(req: BlockReadRequest) -> StreamingResponse:
        """Whole blocks, one after another (see the module's docstring). A block this node
        has not, or cannot open, is answered with length -1 and the next follows: the
        reader gets that one elsewhere. Files are opened and read in a thread, never on the
        event loop."""

        async def body() -> AsyncIterator[bytes]:
            service.active_transfers += 1
            try:
                for block_id in req.blocks:
                    try:
                        replica, sums, data = await asyncio.to_thread(opened, block_id)
                    except (MiniHadoopError, OSError) as exc:  # not here, gone, or short
                        if isinstance(exc, ChecksumError):
                            await service.report_bad(block_id, str(exc))
                        yield BLOCK_READ_HEADER.pack(block_id, -1, 0, 0)
                        continue
                    bpc = replica.bytes_per_checksum
                    yield BLOCK_READ_HEADER.pack(block_id, replica.length, bpc, len(sums))
                    yield sums
                    if data is not None:
                        yield data
                        continue
                    pieces = store.read_range(replica, 0, replica.length)
                    while piece := await asyncio.to_thread(next, pieces, b""):
                        yield piece
            finally:
                service.active_transfers -= 1

        return StreamingResponse(body(), media_type="application/octet-stream")


def _checksums_route(app: FastAPI, service: DatanodeService, read: Any) -> None:
    @app.get("/dn/v1/blocks/{block_id}/checksums", dependencies=[read])
    async def checksums(block_id: BlockIdParam) -> Response:
        """The stored CRC32C of every chunk of a replica (little-endian uint32s)."""
        replica, _ = await _open_range(service, block_id, 0, 0)
        chunks = -(-replica.length // replica.bytes_per_checksum)
        body = service.store.checksums(replica, 0, chunks)
        return Response(
            body,
            media_type="application/octet-stream",
            headers={"x-bytes-per-checksum": str(replica.bytes_per_checksum)},
        )


def _verified_read_route(app: FastAPI, service: DatanodeService, read: Any) -> None:
    store = service.store

    @app.get("/dn/v1/blocks/{block_id}/data", dependencies=[read])
    async def read_verified(
        block_id: BlockIdParam,
        offset: int = Query(0, ge=0),
        length: int | None = Query(None, ge=0),
    ) -> StreamingResponse:
        replica, span = await _open_range(service, block_id, offset, length)
        pieces = store.verified_range(replica, span.start, span.aligned_end)
        # Check the first piece before committing to a 200, so a rotten replica gets a 409.
        try:
            first = next(pieces, b"")
        except ChecksumError as exc:
            await service.report_bad(block_id, str(exc))
            raise

        async def body() -> AsyncIterator[bytes]:
            pos, chunk = span.start, first
            while chunk:
                lo, hi = max(span.offset - pos, 0), min(len(chunk), span.end - pos)
                if hi > lo:
                    yield chunk[lo:hi]
                pos += len(chunk)
                try:
                    chunk = next(pieces, b"")
                except ChecksumError as exc:
                    await service.report_bad(block_id, str(exc))
                    raise

        return StreamingResponse(
            body(),
            media_type="application/octet-stream",
            headers={"content-length": str(span.end - span.offset)},
        )


@dataclass(frozen=True, slots=True)
class Span:
    """A requested byte range of a block and the whole chunks that cover it."""

    offset: int
    end: int
    start: int  # offset rounded down to a chunk boundary
    aligned_end: int  # end rounded up to a chunk boundary, or the block's end
    bpc: int

    @property
    def chunks(self) -> int:
        return -(-(self.aligned_end - self.start) // self.bpc)

    @staticmethod
    def of(replica: Replica, offset: int, length: int | None) -> Span:
        bpc = replica.bytes_per_checksum
        end = replica.length if length is None else min(replica.length, offset + length)
        start = offset - offset % bpc
        aligned_end = min(replica.length, -(-end // bpc) * bpc)
        return Span(offset, end, start, max(start, aligned_end), bpc)
