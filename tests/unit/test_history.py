"""The job history (mapreduce.history) on real SQLite files: round trips, upserts, ordering,
reopening, kill -9 right after a save, start-up recovery, threads, schema versions."""

from __future__ import annotations

import dataclasses
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from mapreduce.history import (
    SCHEMA_VERSION,
    AttemptRecord,
    HistorySchemaError,
    JobHistory,
    JobRecord,
)
from mapreduce.protocol import JobState, TaskKind, TaskState

ROOT = Path(__file__).resolve().parents[2]


def job(job_id: str = "job_1", submitted: float = 100.0, **changes: object) -> JobRecord:
    record = JobRecord(
        id=job_id,
        name="wordcount",
        user="alice",
        state=JobState.RUNNING,
        inputs=["/in/a.txt", "/in/b.txt"],
        output="/out",
        num_maps=2,
        num_reducers=1,
        submitted=submitted,
        started=submitted + 1,
        finished=None,
        error=None,
        counters={"MAP_INPUT_RECORDS": 10, "user:bad_lines": 2},
    )
    return dataclasses.replace(record, **changes)  # type: ignore[arg-type]


def attempt(
    attempt_id: str, job_id: str = "job_1", started: float = 200.0, **changes: object
) -> AttemptRecord:
    record = AttemptRecord(
        id=attempt_id,
        job_id=job_id,
        kind=TaskKind.MAP,
        index=0,
        worker="worker-1",
        state=TaskState.RUNNING,
        started=started,
        finished=None,
        error=None,
        counters={"MAP_OUTPUT_RECORDS": 7},
        data_local=True,
    )
    return dataclasses.replace(record, **changes)  # type: ignore[arg-type]


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "history" / "jobs.db"


@pytest.fixture
def history(db_path: Path) -> Iterator[JobHistory]:
    h = JobHistory(db_path)
    yield h
    h.close()


def test_a_job_and_its_attempts_round_trip(history: JobHistory) -> None:
    saved = job(finished=150.5, state=JobState.SUCCEEDED, maps_done=2, reduces_done=1)
    history.save_job(saved)
    map_attempt = attempt("attempt_1_m_0_0", speculative=True, data_local=False)
    reduce_attempt = attempt(
        "attempt_1_r_0_0",
        kind=TaskKind.REDUCE,
        index=3,
        state=TaskState.FAILED,
        started=201.0,
        finished=205.25,
        error="Traceback ...\nValueError: boom",
        counters={},
        data_local=None,
    )
    history.save_attempt(map_attempt)
    history.save_attempt(reduce_attempt)

    loaded = history.job("job_1")
    assert loaded == saved
    assert loaded is not None and type(loaded.state) is JobState
    attempts = history.attempts("job_1")
    assert attempts == [map_attempt, reduce_attempt]
    assert type(attempts[0].kind) is TaskKind and type(attempts[0].state) is TaskState


def test_unknown_ids_find_nothing(history: JobHistory) -> None:
    assert history.job("job_missing") is None
    assert history.attempts("job_missing") == []
    assert history.jobs() == []


def test_saving_again_updates_in_place(history: JobHistory) -> None:
    history.save_job(job())
    history.save_attempt(attempt("a0"))
    done = job(
        state=JobState.SUCCEEDED, finished=190.0, counters={"MAP_INPUT_RECORDS": 99}, maps_done=2
    )
    history.save_job(done)
    finished = attempt("a0", state=TaskState.SUCCEEDED, finished=210.0, counters={"X": 1})
    history.save_attempt(finished)

    assert history.job("job_1") == done
    assert history.jobs() == [done]
    assert history.attempts("job_1") == [finished]


def test_jobs_are_newest_first_and_limited(history: JobHistory) -> None:
    for i, submitted in enumerate([30.0, 10.0, 50.0, 20.0, 40.0]):
        history.save_job(job(f"job_{i}", submitted=submitted))
    # Equal submission times are ordered by id, newest-first meaning the higher id first.
    history.save_job(job("job_9", submitted=50.0))

    assert [j.id for j in history.jobs()] == ["job_9", "job_2", "job_4", "job_0", "job_3", "job_1"]
    assert [j.id for j in history.jobs(limit=2)] == ["job_9", "job_2"]
    assert history.jobs(limit=0) == []
    with pytest.raises(ValueError, match="limit"):
        history.jobs(limit=-1)


def test_attempts_are_ordered_by_start_then_id(history: JobHistory) -> None:
    for attempt_id, started in [("c", 5.0), ("b", 1.0), ("a", 5.0), ("d", 3.0)]:
        history.save_attempt(attempt(attempt_id, started=started))
    history.save_attempt(attempt("other", job_id="job_2", started=0.0))

    assert [a.id for a in history.attempts("job_1")] == ["b", "d", "a", "c"]


def test_everything_survives_close_and_reopen(db_path: Path) -> None:
    with JobHistory(db_path) as first:
        jobs = [job(f"job_{i}", submitted=float(i)) for i in range(3)]
        for j in jobs:
            first.save_job(j)
        attempts = [attempt(f"a{i}", started=float(i)) for i in range(4)]
        for a in attempts:
            first.save_attempt(a)

    with JobHistory(db_path) as second:
        assert second.jobs() == jobs[::-1]
        assert second.attempts("job_1") == attempts


def test_a_committed_save_survives_kill_9(db_path: Path) -> None:
    # The saving process dies without closing anything: the commits are only in the WAL
    # file (synchronous=NORMAL, never checkpointed), and the next open must recover them.
    script = textwrap.dedent(
        f"""
        import os, sys
        from pathlib import Path
        from mapreduce.history import AttemptRecord, JobHistory, JobRecord
        from mapreduce.protocol import JobState, TaskKind, TaskState

        h = JobHistory(Path({str(db_path)!r}))
        h.save_job(JobRecord(
            id="job_killed", name="n", user="u", state=JobState.RUNNING, inputs=["/i"],
            output="/o", num_maps=1, num_reducers=1, submitted=1.0, started=2.0,
            finished=None, error=None, counters={{"C": 3}},
        ))
        h.save_attempt(AttemptRecord(
            id="attempt_killed", job_id="job_killed", kind=TaskKind.MAP, index=0,
            worker="w", state=TaskState.RUNNING, started=2.5, finished=None, error=None,
            counters={{}},
        ))
        os.kill(os.getpid(), 9)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert db_path.with_name(db_path.name + "-wal").stat().st_size > 0

    with JobHistory(db_path) as history:
        found = history.job("job_killed")
        assert found is not None
        assert found.state is JobState.RUNNING and found.counters == {"C": 3}
        assert [a.id for a in history.attempts("job_killed")] == ["attempt_killed"]


def test_mark_interrupted_fails_unfinished_jobs_and_kills_their_live_attempts(
    history: JobHistory,
) -> None:
    history.save_job(job("job_prep", submitted=2.0, state=JobState.PREP, started=None))
    history.save_job(job("job_running", submitted=1.0))
    done = job("job_done", submitted=3.0, state=JobState.SUCCEEDED, finished=9.0)
    history.save_job(done)
    history.save_attempt(attempt("r_running", job_id="job_running", started=1.0))
    history.save_attempt(attempt("r_prep", job_id="job_running", state=TaskState.PREP))
    succeeded = attempt(
        "r_ok", job_id="job_running", state=TaskState.SUCCEEDED, finished=4.0, started=3.0
    )
    failed = attempt(
        "r_failed", job_id="job_running", state=TaskState.FAILED, finished=5.0, error="boom"
    )
    history.save_attempt(succeeded)
    history.save_attempt(failed)
    # A finished job's leftover RUNNING attempt (e.g. a speculative copy) is not touched.
    stray = attempt("d_stray", job_id="job_done")
    history.save_attempt(stray)
    assert [j.id for j in history.unfinished_jobs()] == ["job_running", "job_prep"]

    ids = history.mark_interrupted(now=1000.0, reason="job tracker restarted")

    assert ids == ["job_running", "job_prep"]
    for job_id in ids:
        interrupted = history.job(job_id)
        assert interrupted is not None
        assert interrupted.state is JobState.FAILED
        assert interrupted.finished == 1000.0
        assert interrupted.error == "job tracker restarted"
    attempts = {a.id: a for a in history.attempts("job_running")}
    for attempt_id in ("r_running", "r_prep"):
        assert attempts[attempt_id].state is TaskState.KILLED
        assert attempts[attempt_id].finished == 1000.0
        assert attempts[attempt_id].error == "job tracker restarted"
    assert attempts["r_ok"] == succeeded
    assert attempts["r_failed"] == failed
    assert history.job("job_done") == done
    assert history.attempts("job_done") == [stray]
    assert history.unfinished_jobs() == []
    assert history.mark_interrupted(now=2000.0, reason="again") == []


def test_concurrent_saves_from_8_threads_lose_nothing(history: JobHistory) -> None:
    threads, per_thread = 8, 50
    start = threading.Barrier(threads)
    errors: list[BaseException] = []

    def work(t: int) -> None:
        try:
            start.wait()
            for i in range(per_thread):
                history.save_job(job(f"job_{t}_{i}", submitted=float(t * per_thread + i)))
                history.save_attempt(attempt(f"a_{t}_{i}", job_id=f"job_{t}", started=float(i)))
                # Readers interleave with writers on the same connection.
                history.attempts(f"job_{t}")
                # Rewrite one record repeatedly: the last save must win.
                history.save_job(job(f"job_{t}_last", counters={"n": i}))
        except BaseException as e:
            errors.append(e)

    workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=60)
    assert errors == []

    assert len(history.jobs(limit=10_000)) == threads * per_thread + threads
    for t in range(threads):
        assert [a.id for a in history.attempts(f"job_{t}")] == [
            f"a_{t}_{i}" for i in range(per_thread)
        ]
        last = history.job(f"job_{t}_last")
        assert last is not None and last.counters == {"n": per_thread - 1}


def test_a_new_file_is_versioned_and_in_wal_mode(db_path: Path) -> None:
    JobHistory(db_path).close()
    raw = sqlite3.connect(db_path)
    assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    raw.close()


def test_a_newer_schema_version_is_refused_and_left_alone(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    raw = sqlite3.connect(db_path)
    raw.execute("CREATE TABLE future (x)")
    raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    raw.commit()
    raw.close()

    with pytest.raises(HistorySchemaError, match=f"version {SCHEMA_VERSION + 1} is newer"):
        JobHistory(db_path)

    raw = sqlite3.connect(db_path)
    assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 1
    assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    raw.close()


def test_a_file_that_is_not_a_database_is_refused(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    db_path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(HistorySchemaError, match="not a job history database"):
        JobHistory(db_path)


def test_close_is_idempotent_and_final(db_path: Path) -> None:
    history = JobHistory(db_path)
    history.close()
    history.close()
    with pytest.raises(sqlite3.ProgrammingError):
        history.job("job_1")
