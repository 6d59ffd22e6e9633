"""The Job API: a MapReduce job is plain Python functions.

    from mapreduce import Job

    def mapper(offset, line):
        for word in line.split():
            yield word, 1

    def reducer(word, counts):
        yield word, sum(counts)

    result = Job(mapper, reducer, combiner=reducer, inputs=["/books"], output="/counts").run()
    print(result.state, result.counters["MAP_INPUT_RECORDS"])

`run()` blocks (calling `progress` as the job advances) and returns a `JobResult`;
`submit()` returns a `RunningJob` to poll, wait for or kill. Functions travel to the workers
by value (see `mapreduce.serialization`), so nothing needs installing there.
"""

from __future__ import annotations

import base64
import functools
import os
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from mapreduce.formats import check_formats
from mapreduce.protocol import JobState, SubmitRequest
from mapreduce.serialization import (
    JobFunctions,
    Mapper,
    Partitioner,
    Reducer,
    dumps,
    seal_payload,
)
from minihadoop import paths
from minihadoop.client_config import (
    JOBTRACKER_KEY,
    ClusterInfo,
    client_retry_window,
    client_tls_ca,
    current_user,
    home_dir,
)
from minihadoop.errors import AuthenticationError, MiniHadoopError, UnavailableError
from minihadoop.filesystem import FileSystem
from minihadoop.rest import call, tls_verify
from minihadoop.retry import Replay, may_retry
from minihadoop.signing import ClusterAuth


@dataclass
class JobResult:
    id: str
    state: JobState
    output: str
    counters: dict[str, int] = field(default_factory=dict)
    error: str | None = None
    duration: float = 0.0
    status: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.state is JobState.SUCCEEDED


def published_jobtracker(
    namenode: str | Sequence[str],
    token: str | None,
    tls_ca: str | None = None,
    retry_window: float | None = 0.0,
) -> str:
    """The URL the active job tracker published in the namenodes' lock service. One look
    by default (`retry_window` 0): a caller that can go on without it is not held up by
    namenodes that are down."""
    with FileSystem(namenode, token, tls_ca=tls_ca, retry_window=retry_window) as fs:
        found = fs.get_key(JOBTRACKER_KEY)
    if not found["exists"]:
        raise UnavailableError(
            f"no job tracker is running: none has published itself to the namenodes at "
            f"{namenode} (or set MINIHADOOP_JOBTRACKER)"
        )
    return str(found["value"])


QUICK_SECONDS = 15.0  # a status, a list, a kill: a silent job tracker is given up
QUICK = httpx.Timeout(QUICK_SECONDS, connect=5.0)
LONG_POLL = 10.0  # seconds a job tracker may hold a status call until the job changes


def default_name(mapper: Any) -> str:
    """A job's name when none is given: the mapper's module, or for a script run as
    ``python wordcount.py`` (module ``__main__``) the script's name, ``wordcount``."""
    module = getattr(mapper, "__module__", None) or "job"
    if module != "__main__":
        return str(module)
    script = getattr(sys.modules.get("__main__"), "__file__", None)
    if script:
        return Path(script).stem
    return str(getattr(mapper, "__qualname__", "job"))  # typed in an interactive session


class JobTrackerClient:
    """The job tracker's HTTP API, for `Job` and the CLI.

    With `locate` (the active job tracker's URL, as the lock service names it), a call that
    finds its job tracker gone or a standby is sent to the active one, for up to
    `retry_window` seconds — a job's progress is followed across a failover — when it may
    be sent again: always for reads and kills; a submission only if it was certainly not
    received."""

    def __init__(
        self,
        url: str,
        token: str | None,
        *,
        timeout: float = 60.0,
        tls_ca: str | None = None,
        locate: Callable[[], str] | None = None,
        retry_window: float | None = None,
    ) -> None:
        """`tls_ca`: as `FileSystem`'s (None: the MINIHADOOP_TLS_CA variable)."""
        self.url = url.rstrip("/")
        self.locate = locate
        self.retry_window = client_retry_window() if retry_window is None else retry_window
        auth = ClusterAuth(token) if token else None
        self._keys = auth.keys if auth else None
        self._http = httpx.Client(
            timeout=timeout,
            auth=auth,
            verify=tls_verify(client_tls_ca() if tls_ca is None else tls_ca),
        )

    @classmethod
    def from_cluster(cls, directory: str | os.PathLike[str] | None = None) -> JobTrackerClient:
        """The job tracker at $MINIHADOOP_JOBTRACKER; else, for a remote cluster (with
        $MINIHADOOP_NAMENODE), the one that published itself in the namenodes' lock
        service; else the local cluster's in `directory`."""
        token = os.environ.get("MINIHADOOP_TOKEN")
        url = os.environ.get("MINIHADOOP_JOBTRACKER")
        namenode = os.environ.get("MINIHADOOP_NAMENODE")
        if namenode:
            locate = functools.partial(published_jobtracker, namenode, token)
            if url:
                return cls(url, token, locate=locate)
            # The only way to find it: wait for the namenodes.
            found = published_jobtracker(namenode, token, retry_window=None)
            return cls(found, token, locate=locate)
        if url:
            return cls(url, token)
        where = home_dir(directory)
        try:
            info = ClusterInfo.load(where)
        except FileNotFoundError:
            raise UnavailableError(
                f"no cluster found in {where} (start one with `minihadoop cluster up`)"
            ) from None
        if not info.jobtracker:
            raise UnavailableError(f"the cluster in {where} runs no job tracker")
        ca = info.settings.get("tls_ca")
        tls_ca = None if ca is None else str(ca)
        locate = functools.partial(published_jobtracker, info.namenode_urls(), info.token, tls_ca)
        # The active one as the lock service names it: the first job tracker cluster.json
        # names may be a standby now, or dead, with something else on its port.
        url = info.jobtracker
        with suppress(MiniHadoopError):
            url = locate()
        return cls(url, info.token, tls_ca=tls_ca, locate=locate)

    def call(self, method: str, path: str, replay: Replay = Replay.SAFE, **kw: Any) -> Any:
        deadline = None  # the window opens at the first failure: a long poll may be held
        while True:
            try:
                return call(self._http, method, f"{self.url}{path}", **kw).json()
            except UnavailableError as exc:  # gone, or a standby
                if self.locate is None or not may_retry(exc, replay):
                    raise
                deadline = deadline or time.monotonic() + self.retry_window
                if time.monotonic() >= deadline:
                    raise
                with suppress(MiniHadoopError):
                    self.url = self.locate().rstrip("/")
                time.sleep(0.2)

    def seal(self, payload: bytes) -> bytes:
        """`payload` sealed with the cluster's key, as workers will only unpickle it."""
        if self._keys is None:
            raise AuthenticationError("submitting a job needs the cluster token")
        return seal_payload(payload, self._keys.seal)

    def submit(self, req: SubmitRequest) -> str:
        body = req.model_dump(mode="json")
        return str(self.call("POST", "/mr/v1/jobs", Replay.IF_NOT_RECEIVED, json=body)["id"])

    def status(self, job_id: str, *, since: str | None = None, wait: float = 0.0) -> dict[str, Any]:
        """The job's status; with `since` (a status's ``version``), once it has changed
        from that one or the job has ended, or after `wait` seconds with what it is then."""
        params: dict[str, Any] = {} if since is None else {"since": since, "wait": wait}
        timeout = QUICK if since is None else httpx.Timeout(QUICK_SECONDS + wait, connect=5.0)
        result: dict[str, Any] = self.call(
            "GET", f"/mr/v1/jobs/{job_id}", params=params, timeout=timeout
        )
        return result

    def jobs(self, limit: int = 100) -> list[dict[str, Any]]:
        params = {"limit": limit}
        result: list[dict[str, Any]] = self.call("GET", "/mr/v1/jobs", params=params, timeout=QUICK)
        return result

    def kill(self, job_id: str) -> str:
        params = {"user.name": current_user()}
        answer = self.call("POST", f"/mr/v1/jobs/{job_id}/kill", params=params, timeout=QUICK)
        return str(answer["state"])

    def workers(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.call("GET", "/mr/v1/workers", timeout=QUICK)
        return result

    def attempt_log(
        self, worker_url: str, attempt_id: str, kind: str, offset: int = 0
    ) -> tuple[bytes, int]:
        """Log `kind` of an attempt, from its worker (`mapreduce.tasklogs`): the bytes from
        `offset`, and the log's whole size."""
        response = call(
            self._http, "GET", f"{worker_url.rstrip('/')}/mr/v1/logs/{attempt_id}/{kind}",
            params={"offset": offset}, timeout=QUICK,
        )  # fmt: skip
        return response.content, int(response.headers.get("x-log-size", "0"))

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> JobTrackerClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


class RunningJob:
    """A submitted job. It owns its connection to the job tracker, closed once `wait()`
    has seen the job end (or by `close()`)."""

    def __init__(self, client: JobTrackerClient, job_id: str) -> None:
        self.client = client
        self.id = job_id

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> RunningJob:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def status(self) -> dict[str, Any]:
        return self.client.status(self.id)

    def kill(self) -> str:
        return self.client.kill(self.id)

    def wait(
        self, *, progress: Callable[[dict[str, Any]], None] | None = None, poll: float = 0.1
    ) -> JobResult:
        """Wait until the job ends, each status call held by the job tracker until the job
        changes (a long poll); `progress` sees every status on the way. `poll`: the pause
        between calls answered unchanged: by a job tracker that holds no call (no
        ``version``), or holds no more (it bounds how many it holds)."""
        status, asked = self.status(), None
        while True:
            if progress is not None:
                progress(status)
            state = JobState(status["state"])
            if state.finished:
                self.close()
                return JobResult(
                    id=self.id,
                    state=state,
                    output=status["output"],
                    counters=status["counters"],
                    error=status["error"],
                    duration=status["duration"],
                    status=status,
                )
            version = status.get("version")
            if version is None or version == asked:  # not held (or held to the end)
                time.sleep(poll)
            status, asked = self.client.status(self.id, since=version, wait=LONG_POLL), version


class Job:
    def __init__(
        self,
        mapper: Mapper,
        reducer: Reducer | None = None,
        *,
        inputs: Sequence[str] | str,
        output: str,
        combiner: Reducer | None = None,
        partitioner: Partitioner | None = None,
        num_reducers: int = 1,
        name: str | None = None,
        max_attempts: int = 4,
        speculative: bool = True,
        input_format: str = "text",
        output_format: str = "text",
        jobtracker: str | None = None,
        token: str | None = None,
        cluster_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        check_formats(input_format, output_format)
        self.functions = JobFunctions(
            mapper, reducer, combiner, partitioner, input_format, output_format
        )
        # DFS paths for a cluster; local paths for `run(local=True)`, checked when it runs.
        self.inputs = [inputs] if isinstance(inputs, str) else [str(p) for p in inputs]
        self.output = str(output)
        if num_reducers < 0:
            raise MiniHadoopError("num_reducers must be 0 or more")
        self.num_reducers = num_reducers
        self.name = name or default_name(mapper)
        self.max_attempts = max_attempts
        self.speculative = speculative
        self._where = (jobtracker, token, cluster_dir)

    def _connect(self) -> JobTrackerClient:
        jobtracker, token, cluster_dir = self._where
        if jobtracker:
            return JobTrackerClient(jobtracker, token)
        return JobTrackerClient.from_cluster(cluster_dir)

    def submit(self) -> RunningJob:
        payload = dumps(self.functions)  # fails here, before anything runs, if unpicklable
        client = self._connect()
        try:
            return RunningJob(client, client.submit(self._request(client.seal(payload))))
        except BaseException:
            client.close()
            raise

    def _request(self, payload: bytes) -> SubmitRequest:
        user = current_user()  # relative paths are under its home, as HDFS resolves them
        return SubmitRequest(
            name=str(self.name)[:200],
            user=user,
            inputs=[paths.normalize(paths.resolve(p, user)) for p in self.inputs],
            output=paths.normalize(paths.resolve(self.output, user)),
            num_reducers=self.num_reducers,
            payload=base64.b64encode(payload).decode(),
            max_attempts=self.max_attempts,
            speculative=self.speculative,
            whole_files=self.functions.input_format == "wholefile",
        )

    def run(
        self,
        *,
        progress: Callable[[dict[str, Any]], None] | None = None,
        local: bool = False,
        processes: int = 1,
        split_size: int | None = None,
    ) -> JobResult:
        """Submit the job and wait for it; with `local`, run it here instead, without a
        cluster, over local input files into a local output folder (`mapreduce.local`),
        in `processes` processes."""
        if not local:
            return self.submit().wait(progress=progress)
        from mapreduce.local import SPLIT_SIZE, run_local

        done = run_local(
            self.functions,
            self.inputs,
            self.output,
            num_reducers=self.num_reducers,
            processes=processes,
            split_size=split_size or SPLIT_SIZE,
        )
        return JobResult(
            id="local",
            state=JobState.SUCCEEDED,
            output=done.output,
            counters=done.counters,
            duration=done.duration,
        )
