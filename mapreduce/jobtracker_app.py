"""The job tracker's HTTP adapter and daemon.

* ``POST /mr/v1/jobs`` (token) — submit; every live worker is then told to heartbeat now.
* ``GET /mr/v1/jobs``, ``GET /mr/v1/jobs/<id>`` — list and status (progress, counters,
  attempts); ``POST /mr/v1/jobs/<id>/kill`` (token). A status with ``?wait=S&since=V`` is
  a long poll: answered once the job's ``version`` is no longer V, or it has ended, or S
  seconds (at most `MAX_WAIT`) have passed.
* ``GET /mr/v1/jobs/<id>/payload`` (token) — the pickled functions, for workers.
* ``POST /mr/v1/internal/heartbeat`` (token) — workers pull work.
* ``GET /mr/v1/workers``, ``GET /health`` (with this job tracker's role).

Several job trackers may run: the one holding the lock service's `JOBTRACKER_LOCK` is
active and publishes its URL under `JOBTRACKER_KEY`; the others wait for the lock and answer
every call but ``/health`` with StandbyException (403), naming the active one when they know
it. A job tracker that takes the lock resumes the jobs the journal holds
(`JobTracker.recover`) before it answers anyone; one whose session lapses stops answering
at once (its lease, by its own clock) and goes back to waiting.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from fastapi import BackgroundTasks, Depends, FastAPI, Query
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from coord.errors import LockHeldError
from mapreduce.jobtracker import JobTracker
from mapreduce.protocol import HeartbeatReply, JobState, SubmitRequest, WorkerHeartbeat
from minihadoop.address import advertised_host
from minihadoop.config import JOBTRACKER_KEY, JOBTRACKER_LOCK, JOBTRACKER_USER, Settings
from minihadoop.errors import IllegalArgumentError, MiniHadoopError, StandbyError
from minihadoop.filesystem import FileSystem
from minihadoop.groups import account
from minihadoop.guard import HostNames, cluster_only, install_guard, read_access
from minihadoop.locks import Lock, LockLostError, LockSession
from minihadoop.metrics import Metrics, families, install_metrics
from minihadoop.rest import tls_verify
from minihadoop.server import (
    bind_socket,
    daemon_app,
    install_error_handlers,
    limit_body_size,
    serve,
    url_for,
)
from minihadoop.signing import ClusterAuth

log = logging.getLogger("minihadoop.jobtracker")
MAX_BODY = 96 << 20  # a base64 payload of up to 64 MiB
CLEANUP_INTERVAL = 1.0  # seconds between tries of cleanups the namenode was down for
LOCK_POLL = 2.0  # seconds a standby waits in the lock's queue before looking up again
KEY_CHECK = 2.0  # seconds between the active one's checks that its URL is still published
MAX_WAIT = 30.0  # seconds a long poll of a job's status may ask to be held


class JobChanges:
    """What long polls of job status wait on. The job tracker calls `notify` (from any
    thread) with the jobs whose status changed; the polls held on those read them again.

    At most `MAX_HELD` polls are held at once; beyond that one is answered at once, as a
    plain status. A held poll keeps its connection for up to `MAX_WAIT` seconds: without a
    bound, a local user could fill an address's share of connections with them."""

    MAX_HELD = 64

    def __init__(self) -> None:
        self._held = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        # Per job polled now: how many polls wait on it, and the event its next change sets.
        self._polls: collections.Counter[str] = collections.Counter()
        self._changed: dict[str, asyncio.Event] = {}

    def notify(self, job_ids: Iterable[str] | None = None) -> None:
        """`job_ids` changed (None: any may have)."""
        loop = self._loop
        if loop is None:
            return  # no poll has waited yet
        with contextlib.suppress(RuntimeError):  # the loop is closed: the process is stopping
            loop.call_soon_threadsafe(self._wake, None if job_ids is None else list(job_ids))

    def _wake(self, job_ids: list[str] | None) -> None:
        for job_id in list(self._changed) if job_ids is None else job_ids:
            if (changed := self._changed.pop(job_id, None)) is not None:
                changed.set()

    async def status(
        self, job_id: str, read: Callable[[], dict[str, Any]], since: str | None, wait: float
    ) -> dict[str, Any]:
        """`read()` (job `job_id`'s status, read in a thread): once its version is not
        `since`, or the job has ended, or `wait` seconds have passed."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # the first poll (or a test's new loop): events are its
            self._loop, self._changed = loop, {}
        self._polls[job_id] += 1
        try:
            deadline = loop.time() + wait
            while True:
                # Taken before the read: no change falls between the two.
                changed = self._changed.setdefault(job_id, asyncio.Event())
                status = await run_in_threadpool(read)
                if since is None or status["version"] != since:
                    return status
                if JobState(status["state"]).finished or self._held >= self.MAX_HELD:
                    return status
                self._held += 1
                try:
                    await asyncio.wait_for(changed.wait(), max(0.0, deadline - loop.time()))
                except TimeoutError:
                    return status  # as it still is: any change since would have woken this
                finally:
                    self._held -= 1
        finally:
            self._polls[job_id] -= 1
            if not self._polls[job_id]:  # forget the jobs nobody polls
                del self._polls[job_id]
                self._changed.pop(job_id, None)


class Role:
    """Whether this process is the active job tracker, and its `JobTracker` if so."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.tracker: JobTracker | None = None
        self.active_url: str | None = None  # the active one's, as last read from the key
        self.changes = JobChanges()

    @classmethod
    def fixed(cls, tracker: JobTracker) -> Role:
        """Always active: a job tracker that holds no lock (tests, tools)."""
        role = cls("")
        role.tracker = tracker
        tracker.on_change = role.changes.notify
        return role

    def _live(self) -> JobTracker | None:
        """The job tracker, while it may still believe it holds the lock."""
        tracker = self.tracker
        return tracker if tracker is not None and tracker.still_active() else None

    def active(self) -> JobTracker:
        tracker = self._live()
        if tracker is None:
            other = self.active_url if self.active_url != self.url else None
            raise StandbyError(
                f"this job tracker ({self.url}) is a standby; the active one is "
                + (other or "not known yet"),
                leader=other or "",
            )
        return tracker

    def activate(self, tracker: JobTracker) -> None:
        tracker.on_change = self.changes.notify
        self.tracker, self.active_url = tracker, self.url

    def deactivate(self) -> None:
        self.tracker = None
        self.changes.notify()  # polls held here look again, and learn this is a standby

    def status(self) -> dict[str, Any]:
        tracker = self._live()
        if tracker is not None:
            return {"role": "active", "token": tracker.token, "active": self.url}
        return {"role": "standby", "token": 0, "active": self.active_url}


def create_app(
    role: Role | JobTracker,
    settings: Settings,
    *,
    lifespan: Any = None,
    names: HostNames | None = None,
) -> FastAPI:
    role = role if isinstance(role, Role) else Role.fixed(role)
    app = daemon_app("minihadoop job tracker", lifespan)
    install_error_handlers(app)
    limit_body_size(app, MAX_BODY, exempt=lambda _p: False)
    auth = Depends(cluster_only)
    read = Depends(read_access(settings.read_policy))

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", **role.status()}

    @app.post("/mr/v1/jobs", dependencies=[auth])
    def submit(req: SubmitRequest, background: BackgroundTasks) -> dict[str, str]:
        tracker = role.active()
        job_id = tracker.submit(req)
        background.add_task(wake_workers, tracker, settings)
        return {"id": job_id}

    @app.get("/mr/v1/jobs", dependencies=[read])
    def jobs(limit: int = Query(100, ge=1, le=10_000)) -> list[dict[str, Any]]:
        return role.active().list_jobs(limit)

    @app.get("/mr/v1/jobs/{job_id}", dependencies=[read])
    async def job(
        job_id: str,
        wait: float = Query(0.0, ge=0.0, le=MAX_WAIT),
        since: str | None = Query(None, max_length=64),
    ) -> dict[str, Any]:
        """A job's status; with `wait` and `since`, held until it is no longer version
        `since` (a long poll)."""

        def look() -> dict[str, Any]:  # the active job tracker's, at every look
            return role.active().job_status(job_id)

        return await role.changes.status(job_id, look, since, wait)

    @app.post("/mr/v1/jobs/{job_id}/kill", dependencies=[auth])
    def kill(job_id: str, user: str = Query("dr.who", alias="user.name")) -> dict[str, str]:
        """Kill a job: its user's or an administrator's to do (`user.name`, as WebHDFS)."""
        return {"state": role.active().kill(job_id, account(user, "user")).value}

    @app.get("/mr/v1/jobs/{job_id}/payload", dependencies=[auth])
    def payload(job_id: str) -> Response:
        data = role.active().payload(job_id)
        return Response(data, media_type="application/octet-stream")

    @app.get("/mr/v1/workers", dependencies=[read])
    def workers() -> list[dict[str, Any]]:
        return role.active().workers()

    @app.post("/mr/v1/internal/heartbeat", dependencies=[auth])
    def heartbeat(hb: WorkerHeartbeat) -> HeartbeatReply:
        # Reducers fetch map output from the worker's url: a bad one is refused, not stored.
        for url in (hb.url, hb.datanode_url or "http://"):
            if not url.startswith(("http://", "https://")):
                raise IllegalArgumentError(f"worker urls must be http(s) URLs, not {url[:100]!r}")
        return role.active().heartbeat(hb)

    metrics = Metrics("jobtracker", lambda: families(metrics, _figures(role)))
    install_metrics(app, metrics)
    install_guard(app, settings, names or HostNames(settings.host_names()))
    return app


def _figures(role: Role) -> dict[str, tuple[str, Any]]:
    """The job tracker's figures for ``/metrics``; a standby has only its role."""
    active = "1 on the active job tracker, 0 on a standby"
    try:
        tracker = role.active()
    except StandbyError:
        return {"active": (active, 0)}
    return {"active": (active, 1), **tracker.metric_figures()}


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
    sock = bind_socket(host, port)
    url = url_for(advertised_host(host, advertise), sock.getsockname()[1], tls=settings.tls)
    role = Role(url)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        tasks = [
            asyncio.create_task(_tick(role, settings.mr_heartbeat_interval)),
            asyncio.create_task(_retry_cleanups(role, CLEANUP_INTERVAL)),
        ]
        stopping = threading.Event()
        elector = fs.with_retry_window(settings.retry_window)  # its own client: a thread's
        loop = asyncio.get_running_loop()
        electing = threading.Thread(
            target=_elect,
            args=(elector, directory, url, settings, role, stopping, loop),
            name="jobtracker-election",
            daemon=True,
        )
        electing.start()
        yield
        stopping.set()
        # The active one closes its session: the lock and the key go at once, not a TTL on.
        await asyncio.to_thread(electing.join, 10.0)
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    names = HostNames(
        [*settings.host_names(), urlsplit(url).hostname or "", host],
        ports=[sock.getsockname()[1]],
    )
    app = create_app(role, settings, lifespan=lifespan, names=names)
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
        user=JOBTRACKER_USER,
        retry_window=settings.retry_window,
        tls_ca=settings.tls_ca,
    )


def _elect(
    fs: FileSystem,
    directory: Path,
    url: str,
    settings: Settings,
    role: Role,
    stopping: threading.Event,
    loop: asyncio.AbstractEventLoop,
) -> None:
    """Wait for the job tracker lock; holding it, be the active job tracker until the
    session lapses or the process stops; then wait again. Everything the active one
    changes in the DFS is fenced by the lock's token."""
    while not stopping.is_set():
        try:
            with fs.lock_session(ttl=settings.jobtracker_session_ttl) as session:
                lock = _wait_for_lock(fs, session, role, stopping)
                if lock is not None:
                    _lead(fs, directory, url, settings, role, session, lock, stopping, loop)
        except MiniHadoopError as e:
            log.warning("job tracker election: %s; trying again", e)
        except Exception:  # a local disk, a bug: the election must outlive any one try
            log.exception("job tracker election failed; trying again")
        stopping.wait(1.0)


def _wait_for_lock(
    fs: FileSystem, session: LockSession, role: Role, stopping: threading.Event
) -> Lock | None:
    while not stopping.is_set():
        found = fs.get_key(JOBTRACKER_KEY)
        role.active_url = str(found["value"]) if found["exists"] else None
        try:
            return session.acquire(JOBTRACKER_LOCK, timeout=LOCK_POLL)
        except LockHeldError:
            if session.lost.is_set():
                raise LockLostError(f"session {session.id} lapsed while waiting") from None
    return None


def _lead(
    fs: FileSystem,
    directory: Path,
    url: str,
    settings: Settings,
    role: Role,
    session: LockSession,
    lock: Lock,
    stopping: threading.Event,
    loop: asyncio.AbstractEventLoop,
) -> None:
    started = time.monotonic()
    fenced = fs.fenced(JOBTRACKER_LOCK, lock.token)
    tracker = JobTracker(directory, fenced, settings, token=lock.token)
    tracker.still_active = session.valid
    tracker.on_reduces_ready = lambda: asyncio.run_coroutine_threadsafe(
        wake_workers(tracker, settings), loop
    )
    try:
        tracker.recover()
        session.put(JOBTRACKER_KEY, url)
        role.activate(tracker)
        log.warning(
            "job tracker %s is active (fencing token %d) after %.2f s of recovery",
            url, lock.token, time.monotonic() - started,
        )  # fmt: skip
        checked = time.monotonic()
        while not stopping.is_set() and session.valid():
            session.lost.wait(0.2)
            if time.monotonic() - checked >= KEY_CHECK:  # replaced or deleted: publish again
                checked = time.monotonic()
                with contextlib.suppress(MiniHadoopError):
                    if fs.get_key(JOBTRACKER_KEY).get("value") != url and session.valid():
                        log.warning("the published job tracker URL was changed: publishing again")
                        session.put(JOBTRACKER_KEY, url)
        if not stopping.is_set():
            log.warning("job tracker %s lost its lock (session %s): standing by", url, session.id)
    finally:
        role.deactivate()
        with tracker.lock:  # no request is using it now, and none will
            tracker.close()
        fenced.close()


async def _retry_cleanups(role: Role, interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        if (tracker := role.tracker) is None:
            continue
        try:
            await asyncio.to_thread(tracker.retry_cleanups)
        except Exception:  # e.g. the job tracker's disk: the loop must outlive it
            log.exception("retrying cleanups failed")


async def _tick(role: Role, interval: float) -> None:
    while True:
        try:
            if (tracker := role.tracker) is not None:
                await asyncio.to_thread(tracker.tick)
        except Exception:  # the ticker must outlive any one bad tick
            log.exception("job tracker tick failed")
        await asyncio.sleep(interval)
