"""Pending cleanups (mapreduce.cleanup): recorded before they are tried, kept until done,
and still there for a job tracker started again on the same folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from mapreduce.cleanup import PendingCleanups
from minihadoop.errors import IllegalArgumentError


def test_a_cleanup_stays_pending_until_done_and_across_a_restart(tmp_path: Path) -> None:
    store = PendingCleanups(tmp_path / "cleanup")
    store.add("job_1_a", "/out/a")
    store.add("job_2_b", "/out/b")
    again = PendingCleanups(tmp_path / "cleanup")  # the job tracker restarted
    assert again.pending() == {"job_1_a": "/out/a", "job_2_b": "/out/b"}
    again.done("job_1_a")
    again.done("job_1_a")  # a second try that finds it done already is fine
    assert PendingCleanups(tmp_path / "cleanup").pending() == {"job_2_b": "/out/b"}
    assert not list((tmp_path / "cleanup").glob(".*"))  # no temporary files left behind


@pytest.mark.parametrize("job_id", ["", "..", "a/b", "../etc"])
def test_a_job_id_cannot_name_a_file_outside_the_folder(tmp_path: Path, job_id: str) -> None:
    with pytest.raises(IllegalArgumentError):
        PendingCleanups(tmp_path).add(job_id, "/out")
