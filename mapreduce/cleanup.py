"""Output folders still to be cleaned up: the `_temporary` of jobs that failed or were killed.

Removing a job's `_temporary` needs the namenode, which may be down when the job ends (or
when the job tracker restarts and fails the jobs it was running). So the job tracker first
records the job here, then tries; a cleanup that could not be done stays recorded and is
tried again on a timer and after a restart, until it is done.

One small file per job in the job tracker's folder, written to a temporary name and renamed,
so a crash leaves either the whole record or none; removed once the cleanup is done.
"""

from __future__ import annotations

from pathlib import Path

from mapreduce.protocol import checked_job_id
from minihadoop.durable import replace_file


class PendingCleanups:
    """job id -> the job's output folder, for every cleanup not yet done; survives restarts."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    def add(self, job_id: str, output: str) -> None:
        """Record the job's cleanup as pending; durable when this returns."""
        replace_file(self._path(job_id), output)

    def done(self, job_id: str) -> None:
        self._path(job_id).unlink(missing_ok=True)

    def pending(self) -> dict[str, str]:
        """Every pending cleanup, oldest first. Another thread may finish one meanwhile:
        a record gone by the time it is read is simply not listed."""
        found: list[tuple[float, str, str]] = []
        for path in self.directory.iterdir():
            if path.name.startswith("."):
                continue
            try:
                found.append((path.stat().st_mtime, path.name, path.read_text()))
            except FileNotFoundError:
                continue
        return {name: output for _, name, output in sorted(found)}

    def _path(self, job_id: str) -> Path:
        return self.directory / checked_job_id(job_id)
