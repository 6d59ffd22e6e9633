"""Task logs on a real cluster: a job's prints, stderr and log records are kept on the
workers that ran it and `minihadoop job logs` shows them, by task and by log; a failed
attempt's error carries the last lines it wrote to stderr."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mapreduce import Job, JobState, serialization
from minihadoop.filesystem import FileSystem
from minihadoop.localcluster import LocalCluster
from tests.integration.test_cli import run

pytestmark = pytest.mark.integration


def chatty_mapper(offset: int, line: str) -> Iterator[tuple[str, int]]:
    print(f"mapping {line!r}")
    logging.getLogger("wordcount").warning("offset %d", offset)
    for word in line.split():
        yield word, 1


def chatty_reducer(word: str, counts: Iterator[int]) -> Iterator[tuple[str, int]]:
    print(f"reducing {word}", file=sys.stderr)
    yield word, sum(counts)


def failing_mapper(offset: int, line: str) -> Iterator[tuple[str, int]]:
    print(f"about to fail on {line!r}", file=sys.stderr)
    raise ValueError("bad record")


def test_job_logs_shows_what_each_task_printed_and_logged(
    cluster: LocalCluster, fs: FileSystem
) -> None:
    fs.write_bytes("/tasklogs/in", b"b a\n")
    done = Job(
        chatty_mapper, chatty_reducer, inputs=["/tasklogs/in"], output="/tasklogs/out",
        cluster_dir=cluster.directory,
    ).run()  # fmt: skip
    assert done.state is JobState.SUCCEEDED
    shown = run(cluster.directory, "job", "logs", done.id).stdout
    map_attempt = f"attempt_{done.id}_m_000000_0"
    assert f"==> {map_attempt} (map 0, SUCCEEDED, on worker " in shown
    assert "mapping 'b a'" in shown and "WARNING wordcount: offset 0" in shown
    assert "reducing a\nreducing b" in shown
    only = run(cluster.directory, "job", "logs", done.id, "--task", "m0", "--log", "syslog")
    assert "WARNING wordcount: offset 0" in only.stdout
    assert "mapping" not in only.stdout and "reducing" not in only.stdout
    bad = run(cluster.directory, "job", "logs", done.id, "--log", "secrets", check=False)
    assert bad.returncode != 0 and "no log 'secrets'" in bad.stderr


def test_a_failed_attempts_error_ends_with_its_last_stderr_lines(
    cluster: LocalCluster, fs: FileSystem
) -> None:
    fs.write_bytes("/tasklogs-failing/in", b"x y\n")
    done = Job(
        failing_mapper, chatty_reducer, inputs=["/tasklogs-failing/in"],
        output="/tasklogs-failing/out", cluster_dir=cluster.directory, max_attempts=1,
    ).run()  # fmt: skip
    assert done.state is JobState.FAILED
    status = run(cluster.directory, "job", "status", done.id).stdout
    assert "ValueError: bad record" in status
    assert "Last lines of stderr:" in status and "about to fail on 'x y'" in status
    # The error starts at the user's code; the whole traceback is in the attempt's log.
    assert "frames of minihadoop's left out" in status and "in failing_mapper" in status
    assert "mapreduce/task.py" not in status
    assert f"(all of it: minihadoop job logs {done.id} --attempt " in status
    logs = run(cluster.directory, "job", "logs", done.id, "--log", "stderr").stdout
    assert "about to fail on 'x y'" in logs and "ValueError: bad record" in logs
    assert "mapreduce/task.py" in logs


def test_a_module_the_workers_lack_is_named_with_the_fix(
    cluster: LocalCluster, fs: FileSystem, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A package installed here but not on the workers: this machine's site-packages stand
    # in for it (the workers' Python has no such folder on its path).
    site = tmp_path / "site-packages"
    site.mkdir()
    (site / "onlyhere_wordsplit.py").write_text(
        "def mapper(offset, line):\n    for w in line.split():\n        yield w, 1\n"
    )
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setattr(serialization, "_INSTALLED", (*serialization._INSTALLED, str(site)))
    import onlyhere_wordsplit

    fs.write_bytes("/unloadable/in", b"a b\n")
    done = Job(
        onlyhere_wordsplit.mapper, inputs=["/unloadable/in"], output="/unloadable/out",
        cluster_dir=cluster.directory, max_attempts=1,
    ).run()  # fmt: skip
    assert done.state is JobState.FAILED
    assert "UnloadableJobError" in (done.error or "")
    assert "onlyhere_wordsplit" in (done.error or "")
    assert "install it on every worker, or put it beside the job script" in (done.error or "")
    assert "Traceback" not in (done.error or "")
