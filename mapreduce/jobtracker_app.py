"""The job tracker's HTTP adapter and daemon.

* ``POST /mr/v1/jobs`` (token) — submit; every live worker is then told to heartbeat now.
* ``GET /mr/v1/jobs``, ``GET /mr/v1/jobs/<id>`` — list and status (progress, counters,
  attempts); ``POST /mr/v1/jobs/<id>/kill`` (token).
* ``GET /mr/v1/jobs/<id>/payload`` (token) — the pickled functions, for workers.
* ``POST /mr/v1/internal/heartbeat`` (token) — workers pull work.
* ``GET /mr/v1/workers``, ``GET /health``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from fastapi import BackgroundTasks, Depends, FastAPI, Query
from fastapi.responses import Response

from mapreduce.jobtracker import JobTracker
from mapreduce.protocol import HeartbeatReply, SubmitRequest, WorkerHeartbeat
from minihadoop.address import advertised_host
from minihadoop.config import Settings
from minihadoop.errors import IllegalArgumentError, MiniHadoopError
from minihadoop.filesystem import FileSystem
from minihadoop.guard import HostNames, cluster_only, install_guard, read_access
from minihadoop.locks import JOBTRACKER_KEY
from minihadoop.rest import tls_verify
from minihadoop.server import bind_socket, install_error_handlers, limit_body_size, serve, url_for
from minihadoop.signing import ClusterAuth

log = logging.getLogger("minihadoop.jobtracker")
MAX_BODY = 96 << 20  # a base64 payload of up to 64 MiB
CLEANUP_INTERVAL = 1.0  # seconds between tries of cleanups the namenode was down for


def create_app(
    tracker: JobTracker,
    settings: Settings,
    *,
    lifespan: Any = None,
    names: HostNames | None = None,
) -> FastAPI:
    app = FastAPI(title="minihadoop job tracker", version="0.1.0", lifespan=lifespan)
    install_error_handlers(app)
    limit_body_size(app, MAX_BODY, exempt=lambda _p: False)
    auth = Depends(cluster_only)
    read = Depends(read_access(settings.read_policy))

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/mr/v1/jobs", dependencies=[auth])
    def submit(req: SubmitRequest, background: BackgroundTasks) -> dict[str, str]:
        job_id = tracker.submit(req)
        background.add_task(wake_workers, tracker, settings)
        return {"id": job_id}

    @app.get("/mr/v1/jobs", dependencies=[read])
    def jobs(limit: int = Query(100, ge=1, le=10_000)) -> list[dict[str, Any]]:
        return tracker.list_jobs(limit)

    @app.get("/mr/v1/jobs/{job_id}", dependencies=[read])
    def job(job_id: str) -> dict[str, Any]:
        return tracker.job_status(job_id)

    @app.post("/mr/v1/jobs/{job_id}/kill", dependencies=[auth])
    def kill(job_id: str) -> dict[str, str]:
        return {"state": tracker.kill(job_id).value}

    @app.get("/mr/v1/jobs/{job_id}/payload", dependencies=[auth])
    def payload(job_id: str) -> Response:
        return Response(tracker.payload(job_id), media_type="application/octet-stream")

    @app.get("/mr/v1/workers", dependencies=[read])
    def workers() -> list[dict[str, Any]]:
        return tracker.workers()

    @app.post("/mr/v1/internal/heartbeat", dependencies=[auth])
    def heartbeat(hb: WorkerHeartbeat) -> HeartbeatReply:
        # Reducers fetch map output from the worker's url: a bad one is refused, not stored.
        for url in (hb.url, hb.datanode_url or "http://"):
            if not url.startswith(("http://", "https://")):
                raise IllegalArgumentError(f"worker urls must be http(s) URLs, not {url[:100]!r}")
        return tracker.heartbeat(hb)

    install_guard(app, settings, names or HostNames(settings.host_names()))
    return app


async def wake_workers(tracker: JobTracker, settings: Settings) -> None:
    """Ask every live worker to heartbeat now, so a new job's first tasks start without
    waiting out a heartbeat interval. Best effort: a worker that misses it heartbeats on
    time anyway."""
    workers = await asyncio.to_thread(tracker.workers)  # its lock may be held by a tick
    urls = [w["url"] for w in workers if w["state"] == "LIVE"]
    if not urls:
        return
    auth, verify = ClusterAuth(settings.token), tls_verify(settings.tls_ca)
    async with httpx.AsyncClient(timeout=2.0, auth=auth, verify=verify) as client:

        async def wake(url: str) -> None:
            with contextlib.suppress(httpx.HTTPError):
                await client.post(f"{url.rstrip('/')}/mr/v1/internal/wake")

        await asyncio.gather(*(wake(u) for u in urls))


def run(
    directory: Path,
    namenode: str,
    settings: Settings,
    *,
    host: str,
    port: int,
    advertise: str | None = None,
    ready_file: Path | None = None,
) -> None:
    fs = dfs_client(namenode, settings)
    tracker = JobTracker(directory, fs, settings)

    sock = bind_socket(host, port)
    url = url_for(advertised_host(host, advertise), sock.getsockname()[1], tls=settings.tls)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        tasks = [
            asyncio.create_task(_tick(tracker, settings.mr_heartbeat_interval)),
            asyncio.create_task(_retry_cleanups(tracker, CLEANUP_INTERVAL)),
        ]
        stopping = threading.Event()
        publisher = fs.with_retry_window(settings.retry_window)  # its own client: a thread's
        publishing = threading.Thread(
            target=_publish, args=(publisher, url, settings, stopping), daemon=True
        )
        publishing.start()
        yield
        stopping.set()
        await asyncio.to_thread(publishing.join, 5.0)  # its session closed: the key is gone
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        tracker.close()

    names = HostNames(
        [*settings.host_names(), urlsplit(url).hostname or "", host],
        ports=[sock.getsockname()[1]],
    )
    app = create_app(tracker, settings, lifespan=lifespan, names=names)
    if ready_file is not None:
        ready_file.write_text(url)
    log.warning("job tracker serving %s on %s", directory, url)
    serve(app, sock, settings)


def dfs_client(namenode: str, settings: Settings) -> FileSystem:
    """The job tracker's DFS client. `namenode`: the `--namenode` flag, one URL or a
    namenode group's, separated by ``;`` or ``,``."""
    return FileSystem(
        namenode,
        settings.token,
        user="mapred",
        retry_window=settings.retry_window,
        tls_ca=settings.tls_ca,
    )


def _publish(fs: FileSystem, url: str, settings: Settings, stopping: threading.Event) -> None:
    """Publish the job tracker's URL in the namenodes' lock service (`JOBTRACKER_KEY`),
    under a session of its own: the namenodes' dashboards and remote clients find it there,
    on whichever namenode leads, and it disappears with the session when this process dies.
    A session lost (the namenodes unreachable for a whole TTL) is opened again."""
    ttl = max(3.0, 10 * settings.heartbeat_interval)
    while not stopping.is_set():
        try:
            with fs.lock_session(ttl=ttl) as session:
                session.put(JOBTRACKER_KEY, url)
                log.info("job tracker published as %s (session %s)", url, session.id)
                while not stopping.is_set() and not session.lost.wait(1.0):
                    pass
        except MiniHadoopError as e:
            log.warning("publishing the job tracker's URL failed: %s; trying again", e)
        stopping.wait(1.0)


async def _retry_cleanups(tracker: JobTracker, interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            await asyncio.to_thread(tracker.retry_cleanups)
        except Exception:  # e.g. the job tracker's disk: the loop must outlive it
            log.exception("retrying cleanups failed")


async def _tick(tracker: JobTracker, interval: float) -> None:
    while True:
        try:
            await asyncio.to_thread(tracker.tick)
        except Exception:  # the ticker must outlive any one bad tick
            log.exception("job tracker tick failed")
        await asyncio.sleep(interval)
