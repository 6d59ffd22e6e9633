"""A job's commit when the namenode goes away between doing a step and answering it: the
step is read back from the namespace, never sent twice, and the job is not failed for it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from coord.errors import StaleFenceError
from mapreduce.history import JobRecord
from mapreduce.jobtracker import JobTracker
from mapreduce.protocol import JobState
from mapreduce.scheduler import FinishJob
from minihadoop.config import Settings
from minihadoop.errors import ConnectionLostError


class Namespace:
    """Paths in memory; the steps named in `lose` are done, then their answer is lost (or,
    with `undone`, lost before they were done)."""

    def __init__(self, lose: str, *, undone: bool = False) -> None:
        self.paths = {"/out/_temporary", "/out/_temporary/committed"}
        self.paths.add("/out/_temporary/committed/part-r-00000")
        self.lose, self.undone = lose, undone
        self.calls: list[str] = []

    def _step(self, name: str, action: Any) -> None:
        self.calls.append(name)
        if name == self.lose and self.undone:
            raise ConnectionLostError(f"{name}: connection lost")
        action()
        if name == self.lose:
            raise ConnectionLostError(f"{name}: connection lost")

    def with_retry_window(self, _seconds: float) -> Namespace:
        return self

    def as_user(self, _user: str) -> Namespace:
        return self

    def close(self) -> None:
        pass

    def exists(self, path: str) -> bool:
        return path in self.paths

    def ls(self, folder: str) -> list[Any]:
        return [
            SimpleNamespace(path=p, name=p.rsplit("/", 1)[1])
            for p in sorted(self.paths)
            if p.rsplit("/", 1)[0] == folder
        ]

    def mv(self, src: str, dst: str) -> None:
        self._step("mv", lambda: (self.paths.remove(src), self.paths.add(dst)))

    def rm(self, path: str, **_kw: Any) -> None:
        gone = {p for p in self.paths if p == path or p.startswith(path + "/")}
        self._step("rm", lambda: self.paths.difference_update(gone))

    def write_bytes(self, path: str, _data: bytes, **_kw: Any) -> None:
        self._step("write", lambda: self.paths.add(path))


@pytest.fixture
def tracker(tmp_path: Path) -> Iterator[Any]:
    made: list[JobTracker] = []

    def make(fs: Namespace) -> JobTracker:
        t = JobTracker(tmp_path / f"jt{len(made)}", fs, Settings(token="t"))  # type: ignore[arg-type]
        made.append(t)
        return t

    yield make
    for t in made:
        t.close()


@pytest.mark.parametrize("lose", ["mv", "rm", "write"])
def test_a_step_done_but_unanswered_is_read_back_not_failed(tracker: Any, lose: str) -> None:
    fs = Namespace(lose)
    tracker(fs)._commit_job(SimpleNamespace(output="/out", user="alice"))
    assert fs.paths == {"/out/part-r-00000", "/out/_SUCCESS"}
    assert fs.calls == ["mv", "rm", "write"]  # each sent once


@pytest.mark.parametrize("lose", ["mv", "rm", "write"])
def test_a_step_that_did_not_happen_still_fails_the_commit(tracker: Any, lose: str) -> None:
    fs = Namespace(lose, undone=True)
    with pytest.raises(ConnectionLostError, match=lose):
        tracker(fs)._commit_job(SimpleNamespace(output="/out", user="alice"))
    assert "/out/_SUCCESS" not in fs.paths


class Fenced(Namespace):
    """A namespace in which this job tracker's token went stale: every change is refused."""

    def _step(self, name: str, action: Any) -> None:
        self.calls.append(name)
        raise StaleFenceError("fencing token 7 of lock minihadoop/jobtracker is no longer current")


def test_a_deposed_job_tracker_neither_commits_nor_fails_nor_cleans_up(tracker: Any) -> None:
    fs = Fenced("")
    t = tracker(fs)
    t.records["j"] = JobRecord(
        id="j", name="wc", user="u", state=JobState.RUNNING, inputs=["/in"], output="/out",
        num_maps=0, num_reducers=0, submitted=0.0, started=0.0, finished=None, error=None,
    )  # fmt: skip
    t.scheduler.add_job("j", [], num_reducers=0, now=0.0)
    assert not t.deposed()
    t._finish_job(FinishJob("j", JobState.SUCCEEDED))
    assert fs.calls == ["mv"] and t.deposed()  # the first refusal says so: nothing more tried
    assert t.records["j"].state is JobState.RUNNING  # its successor resumes it, not fails it
    assert t.cleanups.pending() == {}
    t._finish_job(FinishJob("j", JobState.KILLED))
    assert fs.calls == ["mv"] and t.cleanups.pending() == {}
