"""The `minihadoop` command as a user runs it: a real process against a real cluster."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from minihadoop.localcluster import LocalCluster

pytestmark = pytest.mark.integration


def run(home: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MINIHADOOP_HOME": str(home), "COLUMNS": "200"}
    env.pop("MINIHADOOP_NAMENODE", None)
    result = subprocess.run(
        [sys.executable, "-m", "cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"minihadoop {' '.join(args)} failed: {result.stderr}")
    return result


def test_fs_commands_round_trip(cluster: LocalCluster, tmp_path: Path) -> None:
    home = cluster.directory
    local = tmp_path / "words.txt"
    local.write_text("the quick brown fox\n" * 50_000)  # ~1 MB: two blocks
    run(home, "fs", "mkdir", "/cli/in")
    out = run(home, "fs", "put", str(local), "/cli/in/", "--replication", "2").stdout
    assert "/cli/in/words.txt" in out and "replication 2" in out
    listing = run(home, "fs", "ls", "/cli/in").stdout
    assert "Found 1 items" in listing and "/cli/in/words.txt" in listing
    assert run(home, "fs", "cat", "/cli/in/words.txt").stdout == local.read_text()
    run(home, "fs", "get", "/cli/in/words.txt", str(tmp_path / "back.txt"))
    assert (tmp_path / "back.txt").read_bytes() == local.read_bytes()
    assert "type               FILE" in run(home, "fs", "stat", "/cli/in/words.txt").stdout
    assert "1 files" in run(home, "fs", "du", "/cli").stdout
    run(home, "fs", "mv", "/cli/in/words.txt", "/cli/moved.txt")
    run(home, "fs", "setrep", "3", "/cli/moved.txt")
    fsck = run(home, "fs", "fsck", "/cli", "--files").stdout
    assert "Total files: 1" in fsck
    assert fsck.strip().endswith("The filesystem under path '/cli' is HEALTHY")
    run(home, "fs", "rm", "-r", "--skip-trash", "/cli")
    assert run(home, "fs", "ls", "/cli", check=False).returncode == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["fs", "ls", "/does/not/exist"], "File does not exist: /does/not/exist"),
        (["fs", "mkdir", "relative"], "path must be absolute"),
        (["fs", "cat", "/a/../b"], "'..' is not allowed"),
        (["fs", "put", "/nonexistent-local-file", "/x"], "does not exist"),
        (["fs", "put", "--block-size", "lots", "/etc/hostname", "/x"], "not a size"),
    ],
)
def test_errors_are_one_line_and_exit_nonzero(
    cluster: LocalCluster, args: list[str], message: str
) -> None:
    result = run(cluster.directory, *args, check=False)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_no_cluster_is_a_clear_error(tmp_path: Path) -> None:
    result = run(tmp_path / "nothing-here", "fs", "ls", "/", check=False)
    assert result.returncode == 1
    assert "no cluster found" in result.stderr
    assert "Traceback" not in result.stderr


def test_cluster_up_status_down(tmp_path: Path) -> None:
    home = tmp_path / "home"
    up = run(home, "cluster", "up", "--datanodes", "2", "--block-size", "64k", "--heartbeat", "0.2")
    try:
        assert "cluster up" in up.stdout and "datanode-1" in up.stdout
        assert (home / "cluster.json").stat().st_mode & 0o077 == 0  # the token is private
        status = run(home, "cluster", "status").stdout
        assert status.count("LIVE") == 2
        again = run(home, "cluster", "up", check=False)
        assert again.returncode == 1 and "already running" in again.stderr
    finally:
        down = run(home, "cluster", "down")
    assert "stopped 3 daemons" in down.stdout
    assert run(home, "cluster", "status", check=False).returncode == 1
