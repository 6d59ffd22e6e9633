"""The worker's HTTP adapter and daemon.

* ``GET /mr/v1/shuffle/<job>/<attempt>/<partition>`` (token) — one partition of a finished
  map attempt's output, streamed to the reducer that asked.
* ``POST /mr/v1/internal/wake`` (token) — heartbeat now: the job tracker has new work.
* ``GET /health`` and ``GET /mr/v1/worker`` — what it is running.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.responses import StreamingResponse

from mapreduce.task import shuffle_path
from mapreduce.worker import WorkerService
from minihadoop.address import advertised_host
from minihadoop.config import Settings
from minihadoop.errors import FileNotFoundError_, IllegalArgumentError
from minihadoop.httpguard import ConnectionLimits
from minihadoop.server import (
    bind_socket,
    install_error_handlers,
    read_dependency,
    serve,
    token_dependency,
    url_for,
)

log = logging.getLogger("minihadoop.worker")
PIECE = 1 << 20


def create_app(service: WorkerService, settings: Settings, *, lifespan: Any = None) -> FastAPI:
    app = FastAPI(title="minihadoop worker", version="0.1.0", lifespan=lifespan)
    install_error_handlers(app)
    auth = Depends(token_dependency(settings.token))

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok", "id": service.worker_id}

    @app.get(
        "/mr/v1/worker",
        dependencies=[Depends(read_dependency(settings.token, settings.read_policy))],
    )
    def info() -> dict[str, Any]:
        return {
            "id": service.worker_id,
            "slots": service.slots,
            "running": sorted(service.running),
            "datanode": service.datanode_url,
        }

    @app.post("/mr/v1/internal/wake", dependencies=[auth])
    def wake() -> dict[str, str]:
        """The job tracker has new work: heartbeat now instead of at the next interval."""
        service.wake.set()
        return {"status": "ok"}

    @app.get("/mr/v1/shuffle/{job_id}/{attempt_id}/{partition}", dependencies=[auth])
    def shuffle(job_id: str, attempt_id: str, partition: int) -> StreamingResponse:
        try:
            path = shuffle_path(service.work_dir, job_id, attempt_id, partition)
        except ValueError as exc:
            raise IllegalArgumentError(str(exc)) from None
        if not path.is_file():
            raise FileNotFoundError_(f"no map output {attempt_id} partition {partition} here")
        size = path.stat().st_size

        async def body() -> AsyncIterator[bytes]:
            with open(path, "rb") as f:
                while piece := f.read(PIECE):
                    yield piece

        return StreamingResponse(
            body(), media_type="application/octet-stream", headers={"content-length": str(size)}
        )

    return app


def run(
    work_dir: Path,
    jobtracker: str,
    settings: Settings,
    *,
    host: str,
    port: int,
    datanode: str | None,
    slots: int,
    advertise: str | None = None,
    ready_file: Path | None = None,
) -> None:
    sock = bind_socket(host, port)
    url = url_for(advertised_host(host, advertise), sock.getsockname()[1])
    worker_id = f"{socket.gethostname()}:{sock.getsockname()[1]}"
    service = WorkerService(
        work_dir,
        jobtracker,
        settings,
        worker_id=worker_id,
        url=url,
        datanode_url=datanode,
        slots=slots or settings.worker_slots or os.cpu_count() or 1,
    )

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        loop = asyncio.create_task(service.run())
        yield
        loop.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await loop
        await service.close()

    app = create_app(service, settings, lifespan=lifespan)
    if ready_file is not None:
        ready_file.write_text(url)
    log.warning("worker %s serving %s on %s", worker_id, work_dir, url)
    serve(app, sock, limits=ConnectionLimits.of(settings))
