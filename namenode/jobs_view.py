"""The dashboard's window on the job tracker: its read API, asked with a short timeout.

The job tracker publishes its URL in the namenodes' lock service
(`Namesystem.jobtracker_url`: replicated, and gone with the job tracker's session). The
storage pages never wait on it: only the jobs area does, for at most `timeout` seconds, and
a job tracker that is unknown, down or answering garbage becomes `JobTrackerUnavailable`,
which the pages show as a message.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import httpx

from minihadoop.errors import FileNotFoundError_, IllegalArgumentError
from minihadoop.rest import tls_verify
from minihadoop.signing import ClusterAuth

JOB_ID = re.compile(r"^[A-Za-z0-9_-]{1,100}$")
LOG_KINDS = ("stdout", "stderr", "syslog")


class JobTrackerUnavailable(Exception):
    """No job tracker, or it did not answer in time; the message says which."""


class JobTrackerView:
    def __init__(
        self,
        url_of: Callable[[], str | None],
        token: str | None,
        *,
        timeout: float = 2.0,
        tls_ca: str = "",
    ) -> None:
        self._url_of = url_of
        self._auth = ClusterAuth(token) if token else None
        self._verify = tls_verify(tls_ca)
        self._timeout = timeout

    @property
    def url(self) -> str | None:
        return self._url_of()

    def jobs(self, limit: int = 100) -> list[dict[str, Any]]:
        result = self._get("/mr/v1/jobs", params={"limit": limit})
        return [j for j in result if isinstance(j, dict)] if isinstance(result, list) else []

    def job(self, job_id: str) -> dict[str, Any]:
        if not JOB_ID.match(job_id):
            raise IllegalArgumentError(f"not a job id: {job_id!r}")
        result = self._get(f"/mr/v1/jobs/{job_id}")
        if not isinstance(result, dict):
            raise JobTrackerUnavailable(f"{self.url} sent an unexpected answer")
        return result

    def workers(self) -> list[dict[str, Any]]:
        result = self._get("/mr/v1/workers")
        return [w for w in result if isinstance(w, dict)] if isinstance(result, list) else []

    def attempt_logs(self, job_id: str, attempt_id: str) -> dict[str, str]:
        """The logs of one attempt of `job_id` (`mapreduce.tasklogs`), log -> text, from
        the worker that ran it; a log it does not have is left out."""
        attempts = [a for a in self.job(job_id).get("attempts", []) if isinstance(a, dict)]
        found = [a for a in attempts if a.get("id") == attempt_id]
        if not found:
            raise FileNotFoundError_(f"job {job_id} has no attempt {attempt_id[:100]}")
        urls = {w.get("id"): w.get("url") for w in self.workers()}
        url = urls.get(found[0].get("worker"))
        if not isinstance(url, str):
            raise FileNotFoundError_(f"the worker that ran {attempt_id} is gone, and its logs")
        logs: dict[str, str] = {}
        try:
            with httpx.Client(
                timeout=self._timeout, auth=self._auth, verify=self._verify
            ) as client:
                for kind in LOG_KINDS:
                    r = client.get(f"{url.rstrip('/')}/mr/v1/logs/{attempt_id}/{kind}")
                    if r.status_code == 200:
                        logs[kind] = r.content.decode("utf-8", "replace")
        except httpx.HTTPError as exc:
            raise JobTrackerUnavailable(f"cannot reach the worker {url}: {exc}") from exc
        return logs

    def _get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        base = self._url_of()
        if not base:
            raise JobTrackerUnavailable("no job tracker has announced itself to the namenode")
        try:
            with httpx.Client(
                timeout=self._timeout, auth=self._auth, verify=self._verify
            ) as client:
                response = client.get(f"{base}{path}", params=params)
        except httpx.HTTPError as exc:
            raise JobTrackerUnavailable(f"cannot reach {base}: {exc}") from exc
        if response.status_code == 404:
            raise FileNotFoundError_(_message(response) or f"not found: {path}")
        if response.status_code != 200:
            detail = _message(response) or f"HTTP {response.status_code}"
            raise JobTrackerUnavailable(f"{base} answered: {detail}")
        try:
            return response.json()
        except ValueError as exc:
            raise JobTrackerUnavailable(f"{base} sent invalid JSON") from exc


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
        return str(body["RemoteException"]["message"])
    except (ValueError, KeyError, TypeError):
        return ""
