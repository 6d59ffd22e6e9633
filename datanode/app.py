"""The datanode's HTTP adapter.

* ``PUT /dn/v1/blocks/<id>`` — receive a block (see `datanode.pipeline` for the format).
* ``GET /dn/v1/blocks/<id>?offset=&length=`` — read a range with its checksums: the body is
  the CRC32C of every chunk the range touches, then those chunks' bytes; headers say where
  the chunks start (``x-chunk-start``) and how long each part is, so the reader verifies
  every byte before it uses it.
* ``GET /dn/v1/blocks/<id>/data`` — the same range, verified here, as plain bytes.
* ``/health`` and ``/dn/v1/info``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from fastapi import Depends, FastAPI, Query, Request
from fastapi.responses import StreamingResponse

from datanode.blockstore import BlockStore
from datanode.pipeline import WriteSpec, receive_block
from datanode.service import DatanodeService
from minihadoop.config import Settings
from minihadoop.errors import ChecksumError, IllegalArgumentError
from minihadoop.models import BlockWriteResult
from minihadoop.server import install_error_handlers, read_dependency, token_dependency

MAX_TARGETS = 16


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

    app = FastAPI(title="minihadoop datanode", version="0.1.0", lifespan=lifespan)
    install_error_handlers(app)
    auth = Depends(token_dependency(settings.token))
    read = Depends(read_dependency(settings.token, settings.read_policy))
    store: BlockStore = service.store

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "id": service.id, "registered": service.registered}

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
        }

    @app.put("/dn/v1/blocks/{block_id}", dependencies=[auth])
    async def write_block(
        block_id: int,
        request: Request,
        gen: int = Query(0, ge=0),
        length: int = Query(..., ge=0, le=1 << 40),
        bpc: int = Query(..., ge=512, le=1 << 24),
    ) -> BlockWriteResult:
        targets = tuple(t for t in request.headers.get("x-targets", "").split(",") if t)
        if len(targets) > MAX_TARGETS or not all(
            t.startswith(("http://", "https://")) for t in targets
        ):
            raise IllegalArgumentError("x-targets must list at most 16 http(s) URLs")
        if block_id < 1:
            raise IllegalArgumentError("block id must be positive")
        spec = WriteSpec(block_id, gen, length, bpc, targets)
        service.active_transfers += 1
        try:
            replica, result = await receive_block(
                store,
                spec,
                request.stream(),
                client=service.client,
                token=settings.token,
                timeout=service.transfer_timeout,
            )
        finally:
            service.active_transfers -= 1
        await service.block_received(replica)
        return result

    @app.get("/dn/v1/blocks/{block_id}", dependencies=[read])
    def read_block(
        block_id: int, offset: int = Query(0, ge=0), length: int | None = Query(None, ge=0)
    ) -> StreamingResponse:
        replica = store.get(block_id)
        end = replica.length if length is None else min(replica.length, offset + length)
        if offset > replica.length:
            raise IllegalArgumentError(
                f"offset {offset} is past the block's end ({replica.length})"
            )
        bpc = replica.bytes_per_checksum
        start = offset - offset % bpc
        end_aligned = min(replica.length, -(-end // bpc) * bpc)
        first, count = start // bpc, -(-(end_aligned - start) // bpc)
        sums = store.checksums(replica, first, count)

        async def body() -> AsyncIterator[bytes]:
            service.active_transfers += 1
            try:
                yield sums
                for piece in store.read_range(replica, start, end_aligned):
                    yield piece
            finally:
                service.active_transfers -= 1

        headers = {
            "x-chunk-start": str(start),
            "x-data-length": str(end_aligned - start),
            "x-checksums-length": str(len(sums)),
            "x-bytes-per-checksum": str(bpc),
            "x-block-length": str(replica.length),
            "content-length": str(len(sums) + end_aligned - start),
        }
        return StreamingResponse(body(), media_type="application/octet-stream", headers=headers)

    @app.get("/dn/v1/blocks/{block_id}/data", dependencies=[read])
    async def read_verified(
        block_id: int, offset: int = Query(0, ge=0), length: int | None = Query(None, ge=0)
    ) -> StreamingResponse:
        replica = store.get(block_id)
        end = replica.length if length is None else min(replica.length, offset + length)
        bpc = replica.bytes_per_checksum
        start = offset - offset % bpc
        pieces = store.verified_range(replica, start, -(-end // bpc) * bpc if end else 0)
        # Check the first piece before committing to a 200, so a rotten replica gets a 409.
        try:
            first = next(pieces, b"")
        except ChecksumError:
            await service.report_bad(block_id, "checksum mismatch on read")
            raise

        async def body() -> AsyncIterator[bytes]:
            pos = start
            chunk = first
            while chunk:
                lo, hi = max(offset - pos, 0), min(len(chunk), end - pos)
                if hi > lo:
                    yield chunk[lo:hi]
                pos += len(chunk)
                try:
                    chunk = next(pieces, b"")
                except ChecksumError:
                    await service.report_bad(block_id, "checksum mismatch on read")
                    raise

        return StreamingResponse(body(), media_type="application/octet-stream")

    return app
