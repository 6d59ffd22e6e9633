"""The worker's HTTP adapter and daemon.

* ``GET /mr/v1/shuffle/<job>/<attempt>/<partition>`` (token) — one partition of a finished
  map attempt's output, streamed to the reducer that asked.
* ``GET /mr/v1/logs/<attempt>/<stdout|stderr|syslog>[?offset=N]`` (token) — an
  attempt's log (`mapreduce.tasklogs`), from byte N; its size in ``X-Log-Size``.
* ``POST /mr/v1/internal/wake`` (token) — heartbeat now: the job tracker has new work.
* ``GET /health`` and ``GET /mr/v1/worker`` — what it is running.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import Depends, FastAPI
from fastapi.responses import Response, StreamingResponse

from mapreduce import tasklogs
from mapreduce.task import shuffle_context, shuffle_path
from mapreduce.worker import WorkerService
from minihadoop.address import advertised_host
from minihadoop.config import JOBTRACKER_KEY, Settings
from minihadoop.errors import FileNotFoundError_, IllegalArgumentError
from minihadoop.filesystem import FileSystem
from minihadoop.guard import HostNames, cluster_only, install_guard, read_access
from minihadoop.metrics import Metrics, families, install_metrics
from minihadoop.server import bind_socket, daemon_app, install_error_handlers, serve, url_for
from minihadoop.signing import MAC_SIZE, Keys, stream_mac

log = logging.getLogger("minihadoop.worker")
PIECE = 1 << 20


def create_app(service: WorkerService, settings: Settings, *, lifespan: Any = None) -> FastAPI:
    app = daemon_app("minihadoop worker", lifespan)
    install_error_handlers(app)
    auth = Depends(cluster_only)
    seal_key = Keys.derive(settings.token).seal
    metrics = Metrics(
        "worker",
        lambda: families(metrics, {
            "slots": ("Task slots", service.slots),
            "running_attempts": ("Attempts running here now", len(service.running)),
        }),
    )  # fmt: skip
    served = metrics.counter("shuffle_bytes_served", "Map output bytes sent to reduces")

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok", "id": service.worker_id}

    @app.get(
        "/mr/v1/worker",
        dependencies=[Depends(read_access(settings.read_policy))],
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
            # The reducer unpickles what it fetches: the output ends in a seal over which
            # output it is and its exact bytes (`task._receive_sealed` checks it).
            mac = stream_mac(seal_key, shuffle_context(job_id, attempt_id, partition))
            with open(path, "rb") as f:
                while piece := f.read(PIECE):
                    mac.update(piece)
                    served.inc(len(piece))
                    yield piece
            yield mac.digest()

        headers = {"content-length": str(size + MAC_SIZE)}
        return StreamingResponse(body(), media_type="application/octet-stream", headers=headers)

    @app.get("/mr/v1/logs/{attempt_id}/{kind}", dependencies=[auth])
    def logs(attempt_id: str, kind: str, offset: int = 0) -> Response:
        """An attempt's log (`stdout`, `stderr` or `syslog`) from byte `offset`: at most
        4 MiB, its whole size in ``X-Log-Size`` (a follower asks again from there)."""
        data, size = tasklogs.read(service.logs, attempt_id, kind, offset)
        return Response(data, media_type="text/plain; charset=utf-8",
                        headers={"x-log-size": str(size)})  # fmt: skip

    where = urlsplit(service.url)
    names = HostNames([*settings.host_names(), where.hostname or ""], ports=[where.port or 80])
    install_metrics(app, metrics)
    install_guard(app, settings, names)
    return app


def run(
    work_dir: Path,
    jobtracker: str | None,
    settings: Settings,
    *,
    host: str,
    port: int,
    datanode: str | None,
    slots: int,
    namenode: str | None = None,
    advertise: str | None = None,
    ready_file: Path | None = None,
) -> None:
    """`jobtracker`: the job trackers' URLs, separated by ``;`` or ``,``; `namenode`: the
    namenodes', where the lock service names the active job tracker. One of them, or both."""
    sock = bind_socket(host, port)
    url = url_for(advertised_host(host, advertise), sock.getsockname()[1], tls=settings.tls)
    # Its advertised address: unique in the cluster, where a host name may not be (cloned
    # machines, containers, network namespaces: the job tracker took two for one worker).
    worker_id = urlsplit(url).netloc
    locate = fs = None
    if namenode:
        fs = FileSystem(namenode, settings.token, user="mapred", retry_window=0.0,
                        tls_ca=settings.tls_ca)  # fmt: skip

        async def locate() -> str | None:
            found = await asyncio.to_thread(fs.get_key, JOBTRACKER_KEY)
            return str(found["value"]) if found["exists"] else None

    service = WorkerService(
        work_dir,
        [u.strip() for u in (jobtracker or "").replace(",", ";").split(";") if u.strip()],
        settings,
        locate=locate,
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
        if fs is not None:
            fs.close()

    app = create_app(service, settings, lifespan=lifespan)
    if ready_file is not None:
        ready_file.write_text(url)
    log.warning("worker %s serving %s on %s", worker_id, work_dir, url)
    serve(app, sock, settings)
