"""The job tracker's long poll of a job's status (``GET /mr/v1/jobs/<id>?wait=&since=``), in
process: held until the job changes, answered at once when it has, bounded, validated, and
behind the same access rule as a plain status."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from mapreduce.history import JobRecord
from mapreduce.jobtracker import JobTracker
from mapreduce.jobtracker_app import JobChanges, Role, create_app
from mapreduce.protocol import JobState, Split
from minihadoop.config import Settings
from tests.support import cluster_auth

TOKEN = "long-poll-token"
URL = "/mr/v1/jobs/j"


class Quiet:
    """A DFS that takes what a killed job's cleanup asks of it, and keeps nothing."""

    def with_retry_window(self, _seconds: float) -> Quiet:
        return self

    def as_user(self, _user: str) -> Quiet:
        return self

    def rm(self, _path: str, **_kw: Any) -> None:
        pass

    def close(self) -> None:
        pass


@pytest.fixture
def tracker(tmp_path: Path) -> Iterator[JobTracker]:
    """A job tracker with one running job, "j": one map, not launched."""
    t = JobTracker(tmp_path / "jt", Quiet(), Settings(token=TOKEN))  # type: ignore[arg-type]
    t.records["j"] = JobRecord(
        id="j", name="wc", user="u", state=JobState.RUNNING, inputs=["/in"], output="/out",
        num_maps=1, num_reducers=0, submitted=0.0, started=0.0, finished=None, error=None,
    )  # fmt: skip
    t._unjournaled.add("j")  # nothing to journal its end in: Quiet keeps no files
    split = Split(path="/in", start=0, length=1, file_length=1)
    with t.lock:
        t._apply(t.scheduler.add_job("j", [split], num_reducers=0, now=0.0))
    yield t
    t.close()


def client(tracker: JobTracker | Role, *, auth: bool = True) -> httpx.AsyncClient:
    app = create_app(tracker, Settings(token=TOKEN, read_policy="token"))
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://127.0.0.1",
        auth=cluster_auth(TOKEN) if auth else None,
    )


def test_a_held_status_is_answered_when_the_job_ends(tracker: JobTracker) -> None:
    looked = threading.Event()
    status = tracker.job_status

    def spied(job_id: str) -> dict[str, Any]:  # the test kills the job once the poll looked
        found = status(job_id)
        looked.set()
        return found

    tracker.job_status = spied  # type: ignore[method-assign]

    async def scenario() -> tuple[dict[str, Any], httpx.Response]:
        async with client(tracker) as c:
            before = (await c.get(URL)).json()
            looked.clear()
            params = {"wait": 30, "since": before["version"]}
            poll = asyncio.create_task(c.get(URL, params=params))
            assert await asyncio.to_thread(looked.wait, 30)
            await asyncio.to_thread(tracker.kill, "j")
            return before, await poll

    before, after = asyncio.run(scenario())
    assert before["state"] == "RUNNING"
    # Woken by the kill: had it waited out its 30 s, it would have said RUNNING.
    assert after.status_code == 200, after.text
    assert after.json()["state"] == "KILLED"
    assert after.json()["version"] != before["version"]


def test_a_status_that_changed_or_ended_is_answered_at_once(tracker: JobTracker) -> None:
    async def scenario() -> list[dict[str, Any]]:
        async with client(tracker) as c:
            stale = (await c.get(URL, params={"wait": 30, "since": "old"})).json()
            tracker.kill("j")
            ended = (await c.get(URL, params={"wait": 30, "since": stale["version"]})).json()
            again = (await c.get(URL, params={"wait": 30, "since": ended["version"]})).json()
            return [stale, ended, again]

    stale, ended, again = asyncio.run(scenario())
    assert stale["state"] == "RUNNING"
    assert ended["state"] == again["state"] == "KILLED"  # an ended job never changes: no wait
    assert again == ended


def test_a_held_status_that_sees_no_change_is_answered_when_its_wait_ends(
    tracker: JobTracker,
) -> None:
    async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
        async with client(tracker) as c:
            before = (await c.get(URL)).json()
            after = (await c.get(URL, params={"wait": 0.05, "since": before["version"]})).json()
            return before, after

    before, after = asyncio.run(scenario())
    assert after["state"] == "RUNNING" and after["version"] == before["version"]


def test_polls_beyond_the_most_held_are_answered_at_once(
    tracker: JobTracker, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(JobChanges, "MAX_HELD", 2)
    role = Role.fixed(tracker)

    async def scenario() -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
        async with client(role) as c:
            before = (await c.get(URL)).json()
            params = {"wait": 30, "since": before["version"]}
            held = [asyncio.create_task(c.get(URL, params=params)) for _ in range(2)]
            deadline = asyncio.get_running_loop().time() + 30
            while role.changes._held < 2:  # both polls read the job and wait
                assert asyncio.get_running_loop().time() < deadline, "the polls never waited"
                await asyncio.sleep(0.01)
            asked = asyncio.create_task(c.get(URL, params=params))  # not held: answered as is
            while not asked.done():
                assert role.changes._held <= 2, "a third poll was held"
                assert asyncio.get_running_loop().time() < deadline, "no answer"
                await asyncio.sleep(0.005)
            third = (await asked).json()
            assert not any(task.done() for task in held)
            await asyncio.to_thread(tracker.kill, "j")
            return before, third, [(await task).json() for task in held]

    before, third, woken = asyncio.run(scenario())
    assert third["state"] == "RUNNING" and third["version"] == before["version"]
    assert [w["state"] for w in woken] == ["KILLED", "KILLED"]
    assert role.changes._held == 0


@pytest.mark.parametrize("wait", ["-1", "30.5", "nan", "inf", "soon", ""])
def test_a_bad_wait_is_refused_and_changes_nothing(tracker: JobTracker, wait: str) -> None:
    async def scenario() -> tuple[httpx.Response, dict[str, Any], dict[str, Any]]:
        async with client(tracker) as c:
            before = (await c.get(URL)).json()
            refused = await c.get(URL, params={"wait": wait, "since": before["version"]})
            return refused, before, (await c.get(URL)).json()

    refused, before, after = asyncio.run(scenario())
    assert refused.status_code == 400, refused.text
    error = refused.json()["RemoteException"]
    assert error["exception"] == "IllegalArgumentException"
    assert "wait" in error["message"]
    assert after == {**before, "duration": after["duration"]}


def test_a_bad_since_is_refused(tracker: JobTracker) -> None:
    async def scenario() -> httpx.Response:
        async with client(tracker) as c:
            return await c.get(URL, params={"wait": 1, "since": "x" * 65})

    refused = asyncio.run(scenario())
    assert refused.status_code == 400 and "since" in refused.json()["RemoteException"]["message"]


def test_a_long_poll_needs_what_a_status_needs(tracker: JobTracker) -> None:
    """Under the "token" read policy a status needs the cluster's signature: held or not."""

    async def scenario() -> list[httpx.Response]:
        async with client(tracker, auth=False) as c:
            plain = await c.get(URL)
            held = await c.get(URL, params={"wait": 30, "since": "0.1"})
            return [plain, held]

    plain, held = asyncio.run(scenario())
    assert plain.status_code in (401, 403)
    assert held.status_code == plain.status_code
    assert held.json() == plain.json()
