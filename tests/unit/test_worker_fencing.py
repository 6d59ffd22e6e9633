"""A worker takes instructions only from the newest job tracker it has heard from: a reply
carrying an older fencing token than one it has seen is ignored (nothing launched, killed
or deleted, its results kept for the active one), and the worker turns to the job tracker
the lock service names — else to the next one it was given."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from mapreduce.protocol import AttemptResult, TaskState
from mapreduce.worker import StaleJobTrackerError, WorkerService
from minihadoop.config import Settings

JOB = "job_20260101000000_abcdef"


def worker(tmp_path: Path, replies: list[dict[str, Any]], sent: list[dict[str, Any]],
           **kw: Any) -> WorkerService:  # fmt: skip
    (tmp_path / JOB).mkdir(parents=True)  # a job's files, held from before
    service = WorkerService(
        tmp_path, ["http://jt-a:1", "http://jt-b:2"], Settings(token="t"),
        worker_id="w1", url="http://w1:3", datanode_url=None, slots=2, **kw,
    )  # fmt: skip

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append({"url": str(request.url), **json.loads(request.content)})
        return httpx.Response(200, json=replies.pop(0))

    service.client = httpx.AsyncClient(transport=httpx.MockTransport(answer))
    return service


def test_a_reply_with_an_older_token_changes_nothing(tmp_path: Path) -> None:
    replies = [
        {"token": 7},
        {"token": 5, "kill": ["attempt_x"], "finished_jobs": [JOB],
         "launch": [{"job_id": JOB, "attempt_id": "a1", "kind": "MAP", "index": 0,
                     "num_reducers": 1, "namenode": "http://nn:1", "output": "/o"}]},
        {"token": 7, "finished_jobs": [JOB]},
    ]  # fmt: skip
    sent: list[dict[str, Any]] = []
    service = worker(tmp_path, replies, sent)
    done = AttemptResult(attempt_id="attempt_done", state=TaskState.SUCCEEDED)

    async def scenario() -> None:
        await service.heartbeat()
        assert service.token == 7
        service.finished.append(done)
        with pytest.raises(StaleJobTrackerError, match="fencing token 5, older than 7"):
            await service.heartbeat()
        assert service.running == {} and (tmp_path / JOB).exists()  # nothing acted on
        assert service.finished == [done]  # kept for the active job tracker
        await service.heartbeat()  # the active one, again
        await service.client.aclose()

    asyncio.run(scenario())
    assert [s["token"] for s in sent] == [0, 7, 7]  # a deposed one sees the newer token
    assert sent[2]["finished"][0]["attempt_id"] == "attempt_done"
    assert not (tmp_path / JOB).exists()  # the newest job tracker's word is taken


def test_the_worker_turns_to_the_job_tracker_the_lock_service_names(tmp_path: Path) -> None:
    named: list[str | None] = ["http://jt-b:2/", None]

    async def locate() -> str | None:
        return named.pop(0)

    service = worker(tmp_path, [], [], locate=locate)
    assert service.jobtracker == "http://jt-a:1"

    async def scenario() -> None:
        await service.find_jobtracker()
        assert service.jobtracker == "http://jt-b:2"
        await service.find_jobtracker()  # none named: the next one in the list
        assert service.jobtracker == "http://jt-a:1"
        await service.client.aclose()

    asyncio.run(scenario())
