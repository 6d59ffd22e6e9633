"""A worker: runs task attempts beside a datanode and serves their map output.

The loop heartbeats to the job tracker with its free slots, running attempts and finished
results, and carries out the reply: launch attempts (each in its own child process, see
`mapreduce.child`), kill attempts, drop the files of jobs that ended. A heartbeat goes out
early whenever an attempt ends, so a job's next phase does not wait a full interval.

A job's files live under ``<work dir>/<job id>/``. Every heartbeat lists the jobs the worker
holds files for, those found on disk at start included, and the job tracker answers which
of them it no longer runs: so files of jobs that ended while the worker was down, or that a
restarted job tracker forgot, are deleted too.

Which job tracker: the active one of those the worker was given, as the namenodes' lock
service names it (`JOBTRACKER_KEY`, looked up through `locate`) or, without namenodes, the
next in its list whenever one fails or answers that it is a standby. Every reply carries
the job tracker's fencing token; the worker remembers the highest it has seen, sends it
with each heartbeat (a deposed job tracker refuses the heartbeat), and ignores a reply with
an older one — a job tracker that woke up after its successor took over cannot launch,
kill or delete anything here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import shutil
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from pathlib import Path

import httpx

from mapreduce import tasklogs
from mapreduce.protocol import (
    AttemptResult,
    AttemptSpec,
    HeartbeatReply,
    TaskState,
    WorkerHeartbeat,
    is_job_id,
)
from minihadoop.config import Settings
from minihadoop.errors import MiniHadoopError
from minihadoop.rest import tls_verify
from minihadoop.signing import ClusterAuth

log = logging.getLogger("minihadoop.worker")


class StaleJobTrackerError(MiniHadoopError):
    """A reply from a job tracker deposed by one whose instructions the worker has had."""


@dataclass
class RunningAttempt:
    spec: AttemptSpec
    process: BaseProcess
    result_path: Path
    started: float
    killed: bool = False


class WorkerService:
    def __init__(
        self,
        work_dir: Path,
        jobtrackers: list[str],
        settings: Settings,
        *,
        worker_id: str,
        url: str,
        datanode_url: str | None,
        slots: int,
        locate: Callable[[], Awaitable[str | None]] | None = None,
    ) -> None:
        """`jobtrackers`: the job trackers' URLs (the first tried first); `locate`: the
        active one's URL as the lock service names it, or None when none is named."""
        self.work_dir = work_dir
        self.logs = work_dir / "logs"  # task logs (mapreduce.tasklogs), kept past their job
        self._expired_at = 0.0
        self.jobtrackers = [u.rstrip("/") for u in jobtrackers if u]
        self.jobtracker = self.jobtrackers[0] if self.jobtrackers else ""
        self.locate = locate
        self.token = 0  # the highest fencing token of a job tracker heard from
        self.settings = settings
        self.worker_id = worker_id
        self.url = url
        self.datanode_url = datanode_url.rstrip("/") if datanode_url else None
        self.datanode_id: str | None = None
        self.slots = slots
        self.running: dict[str, RunningAttempt] = {}
        self.finished: list[AttemptResult] = []
        work_dir.mkdir(parents=True, exist_ok=True)
        work_dir.chmod(0o700)  # map outputs are the users' data: the worker's account only
        self.held: set[str] = {p.name for p in work_dir.iterdir() if _is_job_dir(p)}
        self.wake = asyncio.Event()
        self.client = httpx.AsyncClient(
            timeout=30.0, auth=ClusterAuth(settings.token), verify=tls_verify(settings.tls_ca)
        )
        self._payload_locks: dict[str, asyncio.Lock] = {}
        ctx = multiprocessing.get_context("forkserver")
        # What every attempt imports, once, in the fork server: the task code, and this
        # module, where each child finds its target (`_child_target`) as it unpickles it.
        # Not preloaded, each attempt imported this module and the daemons' settings.
        ctx.set_forkserver_preload(["mapreduce.child", "mapreduce.worker"])
        self.ctx = ctx

    # --- the loop ---------------------------------------------------------------------------

    async def run(self) -> None:
        failing: str | None = None  # the kind of error of the current streak, logged once
        while True:
            try:
                if self.datanode_url and self.datanode_id is None:
                    info = await self.client.get(f"{self.datanode_url}/dn/v1/info")
                    self.datanode_id = info.json()["id"]
                if not self.jobtracker:
                    await self.find_jobtracker()
                await self.heartbeat()
                if failing:
                    log.warning("job tracker %s reachable", self.jobtracker)
                failing = None
            except Exception as exc:  # the loop is the worker: it must go on
                kind = type(exc).__name__
                if kind != failing:
                    expected = isinstance(exc, httpx.HTTPError | ValueError | MiniHadoopError)
                    log.warning("job tracker %s: %r; looking for the active one",
                                self.jobtracker or "(none known)", exc,
                                exc_info=not expected)  # fmt: skip
                failing = kind
                await self.find_jobtracker()
            await self.expire_logs()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), self.settings.mr_heartbeat_interval)
            self.wake.clear()

    async def expire_logs(self) -> None:
        """Delete task logs past their retention: looked for every minute (or every half
        retention, when that is shorter)."""
        retention = self.settings.task_log_retention
        now = time.monotonic()
        if now - self._expired_at < min(60.0, retention / 2):
            return
        self._expired_at = now
        try:
            gone = await asyncio.to_thread(tasklogs.expire, self.logs, retention)
        except OSError as exc:
            log.warning("task logs not expired: %s", exc)
            return
        if gone:
            log.info("task logs of %d jobs expired", len(gone))

    async def heartbeat(self) -> None:
        self.poll()
        finished, self.finished = self.finished, []
        hb = WorkerHeartbeat(
            worker_id=self.worker_id,
            url=self.url,
            datanode_id=self.datanode_id,
            datanode_url=self.datanode_url,
            slots=self.slots,
            running=sorted(self.running),
            finished=finished,
            jobs=sorted(self.held),
            token=self.token,
        )
        try:
            response = await self.client.post(
                f"{self.jobtracker}/mr/v1/internal/heartbeat",
                json=hb.model_dump(mode="json"),
                # A job tracker that stopped answering is given up within a session's TTL,
                # as the lock service gives it up: then the active one is looked for.
                timeout=min(30.0, max(2.0, self.settings.jobtracker_session_ttl)),
            )
            response.raise_for_status()
        except BaseException:
            self.finished[:0] = finished  # report them next time
            raise
        reply = HeartbeatReply.model_validate(response.json())
        if reply.token < self.token:
            self.finished[:0] = finished  # for the active one
            raise StaleJobTrackerError(
                f"ignored the reply of a deposed job tracker (fencing token {reply.token}, "
                f"older than {self.token})"
            )
        self.token = reply.token
        for attempt_id in reply.kill:
            self.kill(attempt_id)
        for spec in reply.launch:
            await self.launch(spec)
        for job_id in reply.finished_jobs:
            self.cleanup(job_id)

    async def find_jobtracker(self) -> None:
        """Turn to the active job tracker: the one the lock service names, else the next
        one in the list."""
        if self.locate is not None:
            try:
                found = await self.locate()
            except Exception as exc:  # the namenodes may be down: try the list
                log.debug("no job tracker from the lock service: %r", exc)
            else:
                if found:
                    self.jobtracker = found.rstrip("/")
                    return
        if self.jobtrackers:
            at = (
                self.jobtrackers.index(self.jobtracker)
                if self.jobtracker in self.jobtrackers
                else -1
            )
            self.jobtracker = self.jobtrackers[(at + 1) % len(self.jobtrackers)]

    # --- attempts -----------------------------------------------------------------------------

    async def launch(self, spec: AttemptSpec) -> None:
        try:
            payload = await self._payload(spec.job_id)
        except (httpx.HTTPError, OSError) as exc:
            self.finished.append(
                AttemptResult(
                    attempt_id=spec.attempt_id, state=TaskState.FAILED, error=f"no payload: {exc}"
                )
            )
            return
        attempt_dir = self.work_dir / spec.job_id / spec.attempt_id
        attempt_dir.mkdir(parents=True, exist_ok=True)
        result_path = attempt_dir / "result.json"
        process = self.ctx.Process(
            target=_child_target,
            args=(
                spec.model_dump_json(),
                str(payload),
                str(self.work_dir),
                self.settings.token,
                self.settings.tls_ca,
                str(result_path),
                str(tasklogs.attempt_folder(self.logs, spec.attempt_id)),
                self.settings.task_log_limit,
            ),
            name=spec.attempt_id,
            daemon=True,
        )
        process.start()
        self.running[spec.attempt_id] = RunningAttempt(spec, process, result_path, time.monotonic())
        asyncio.get_running_loop().create_task(self._watch(spec.attempt_id, process))

    async def _watch(self, attempt_id: str, process: BaseProcess) -> None:
        """Wake the loop as soon as the process ends, for an early heartbeat."""
        sentinel = process.sentinel
        loop = asyncio.get_running_loop()
        done = asyncio.Event()
        loop.add_reader(sentinel, done.set)
        try:
            await done.wait()
        finally:
            loop.remove_reader(sentinel)
        self.wake.set()

    async def _payload(self, job_id: str) -> Path:
        path = self.work_dir / job_id / "payload.pkl"
        lock = self._payload_locks.setdefault(job_id, asyncio.Lock())
        async with lock:
            self.held.add(job_id)
            if not path.exists():
                response = await self.client.get(f"{self.jobtracker}/mr/v1/jobs/{job_id}/payload")
                response.raise_for_status()
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(".tmp")
                tmp.write_bytes(response.content)
                tmp.replace(path)
        return path

    def poll(self) -> None:
        """Collect the results of attempts whose processes have ended."""
        for attempt_id, running in list(self.running.items()):
            if running.process.is_alive():
                if time.monotonic() - running.started > self.settings.task_timeout * 1.2:
                    self.kill(attempt_id)  # the job tracker should have: belt and braces
                continue
            running.process.join()
            del self.running[attempt_id]
            self.finished.append(self._result(running))

    def _result(self, running: RunningAttempt) -> AttemptResult:
        attempt_id = running.spec.attempt_id
        if running.killed:
            return AttemptResult(attempt_id=attempt_id, state=TaskState.KILLED, error="killed")
        try:
            return AttemptResult.model_validate_json(running.result_path.read_text())
        except (OSError, ValueError):
            code = running.process.exitcode
            how = (
                f"killed by signal {-code}"
                if code is not None and code < 0
                else f"exit code {code}"
            )
            return AttemptResult(
                attempt_id=attempt_id,
                state=TaskState.FAILED,
                error=f"the task process died ({how}) before reporting a result",
            )

    def kill(self, attempt_id: str) -> None:
        running = self.running.get(attempt_id)
        if running is None:
            return
        running.killed = True
        with contextlib.suppress(ProcessLookupError, TypeError):
            os.kill(running.process.pid or 0, signal.SIGKILL)

    def cleanup(self, job_id: str) -> None:
        """Delete a job's files. Only jobs this worker named as held are deleted, so a
        reply can never point outside the work folder. An attempt of the job still running
        (being killed) keeps them until a later heartbeat, which names the job again."""
        if job_id not in self.held or any(r.spec.job_id == job_id for r in self.running.values()):
            return
        shutil.rmtree(self.work_dir / job_id, ignore_errors=True)
        self.held.discard(job_id)
        self._payload_locks.pop(job_id, None)

    async def close(self) -> None:
        for attempt_id in list(self.running):
            self.kill(attempt_id)
        await self.client.aclose()


def _is_job_dir(path: Path) -> bool:
    name = path.name
    return path.is_dir() and name.startswith("job_") and is_job_id(name)


def _child_target(
    spec_json: str,
    payload: str,
    work_dir: str,
    token: str,
    tls_ca: str,
    result: str,
    log_dir: str,
    log_limit: int,
) -> None:
    from mapreduce.child import run_child

    run_child(spec_json, payload, work_dir, token, tls_ca, result, log_dir, log_limit)
