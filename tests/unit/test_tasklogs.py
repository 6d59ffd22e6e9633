"""Task logs (mapreduce.tasklogs): capped capture of an attempt's prints and log records,
reading them back by attempt id (and nothing else), and expiry by age. Real files."""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path

import pytest

from mapreduce.tasklogs import CappedWriter, Capture, attempt_folder, expire, read
from minihadoop.errors import FileNotFoundError_, IllegalArgumentError

ATTEMPT = "attempt_job_20261205_ab12cd_m_000003_1"


def test_a_capped_log_keeps_its_start_and_its_end(tmp_path: Path) -> None:
    w = CappedWriter(tmp_path / "out", limit=100)
    for i in range(1000):
        w.write(f"line {i:04d}\n")  # 10 bytes each: 10,000 in all
    w.close()
    text = (tmp_path / "out").read_text()
    assert text.startswith("line 0000\nline 0001\n")
    assert text.endswith("line 0998\nline 0999\n")
    assert "[... 9900 bytes left out ...]" in text
    assert len(text.encode()) < 200


def test_a_short_log_is_written_whole(tmp_path: Path) -> None:
    w = CappedWriter(tmp_path / "out", limit=1 << 20)
    w.write("héllo\n")
    w.close()
    assert (tmp_path / "out").read_text() == "héllo\n"


def test_capture_takes_prints_stderr_and_log_records_then_gives_them_back(
    tmp_path: Path,
) -> None:
    saved = sys.stdout, sys.stderr
    capture = Capture(tmp_path / "a", limit=4096)
    try:
        print("to stdout")
        print("to stderr 1\nto stderr 2", file=sys.stderr)
        logging.getLogger("user.code").info("counted %d", 5)
        logging.getLogger("user.code").debug("not kept")
        assert capture.stderr_tail(1) == "to stderr 2"
    finally:
        capture.close()
    assert (sys.stdout, sys.stderr) == saved
    assert (tmp_path / "a" / "stdout").read_text() == "to stdout\n"
    assert (tmp_path / "a" / "stderr").read_text() == "to stderr 1\nto stderr 2\n"
    syslog = (tmp_path / "a" / "syslog").read_text()
    assert "INFO user.code: counted 5" in syslog and "not kept" not in syslog


def test_logs_are_read_by_attempt_id_and_nothing_else(tmp_path: Path) -> None:
    folder = attempt_folder(tmp_path, ATTEMPT)
    assert folder == tmp_path / "job_20261205_ab12cd" / ATTEMPT
    folder.mkdir(parents=True)
    (folder / "stdout").write_bytes(b"0123456789")
    assert read(tmp_path, ATTEMPT, "stdout") == (b"0123456789", 10)
    assert read(tmp_path, ATTEMPT, "stdout", 7) == (b"789", 10)
    assert read(tmp_path, ATTEMPT, "stdout", 99) == (b"", 10)
    with pytest.raises(FileNotFoundError_):
        read(tmp_path, ATTEMPT, "stderr")
    for bad in ("../../etc/passwd", "attempt_job_x_m_000001_0/../..", "attempt_..", ""):
        with pytest.raises(IllegalArgumentError, match="not an attempt id"):
            read(tmp_path, bad, "stdout")
    with pytest.raises(IllegalArgumentError, match="no log"):
        read(tmp_path, ATTEMPT, "../stdout")
    with pytest.raises(IllegalArgumentError, match="offset"):
        read(tmp_path, ATTEMPT, "stdout", -1)


def test_logs_older_than_the_retention_are_deleted(tmp_path: Path) -> None:
    old = attempt_folder(tmp_path, "attempt_job_old_r_000000_0")
    new = attempt_folder(tmp_path, "attempt_job_new_r_000000_0")
    for folder in (old, new):
        folder.mkdir(parents=True)
        (folder / "stdout").write_text("x")
    now = time.time()
    for p in (old, old / "stdout", old.parent):
        os.utime(p, (now - 7200, now - 7200))
    assert expire(tmp_path, retention=3600, now=now) == ["job_old"]
    assert not old.parent.exists() and new.exists()
    assert expire(tmp_path / "none", retention=1) == []
