"""The `minihadoop` command as a user runs it: a real process against a real cluster."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from minihadoop.config import JOBTRACKER_KEY, current_user
from minihadoop.filesystem import FileSystem
from minihadoop.localcluster import LocalCluster
from tests.support import wait_for

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
    run(home, "fs", "mkdir", "-p", "/cli/in")
    out = run(home, "fs", "put", str(local), "/cli/in/", "--replication", "2").stdout
    assert "/cli/in/words.txt" in out and "replication 2" in out
    listing = run(home, "fs", "ls", "/cli/in").stdout
    assert "Found 1 items" in listing and "/cli/in/words.txt" in listing
    assert run(home, "fs", "cat", "/cli/in/words.txt").stdout == local.read_text()
    run(home, "fs", "get", "/cli/in/words.txt", str(tmp_path / "back.txt"))
    assert (tmp_path / "back.txt").read_bytes() == local.read_bytes()
    assert "type               FILE" in run(home, "fs", "stat", "-a", "/cli/in/words.txt").stdout
    assert run(home, "fs", "du", "-s", "/cli").stdout.split() == ["1000000", "2000000", "/cli"]
    extra = tmp_path / "more.txt"
    extra.write_text("jumps over the lazy dog\n")
    run(home, "fs", "append", str(extra), "/cli/in/words.txt")
    assert (
        run(home, "fs", "cat", "/cli/in/words.txt").stdout == local.read_text() + extra.read_text()
    )
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
        (["fs", "mkdir", "/no/such/parent"], "/no/such: no such folder (-p makes it)"),
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
    assert "stopped 6 daemons" in down.stdout  # namenode, 2 datanodes, job tracker, 2 workers
    assert run(home, "cluster", "status", check=False).returncode == 1


EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_job_submit_script_list_status_counters(cluster: LocalCluster, tmp_path: Path) -> None:
    home = cluster.directory
    book = tmp_path / "book.txt"
    book.write_text("It was the best of times, it was the worst of times.\n" * 200)
    run(home, "fs", "put", str(book), "/clijob/in/book.txt", "--block-size", "4k")
    submitted = run(
        home, "job", "submit", str(EXAMPLES / "wordcount.py"),
        "--input", "/clijob/in", "--output", "/clijob/out", "--reducers", "2",
    ).stdout  # fmt: skip
    assert "SUCCEEDED" in submitted and "output: /clijob/out" in submitted
    job_id = submitted.split()[1]
    counts = {}
    for part in ("part-r-00000", "part-r-00001"):
        for line in run(home, "fs", "cat", f"/clijob/out/{part}").stdout.splitlines():
            word, n = line.split("\t")
            counts[word] = int(n)
    assert counts == {"it": 400, "was": 400, "the": 400, "best": 200, "of": 400,
                      "times": 400, "worst": 200}  # fmt: skip
    assert job_id in run(home, "job", "list").stdout
    assert "SUCCEEDED" in run(home, "job", "status", job_id).stdout
    counters = run(home, "job", "counters", job_id).stdout
    assert "MAP_INPUT_RECORDS" in counters and "200" in counters


def test_chained_jobs_with_a_helper_module_beside_the_script(cluster: LocalCluster) -> None:
    home = cluster.directory
    run(home, "fs", "put", str(EXAMPLES / "wordcount.py"), "/chain/in/text.txt")
    env_run = subprocess.run(
        [sys.executable, str(EXAMPLES / "topwords.py"), "/chain/in", "/chain/work", "3"],
        capture_output=True,
        text=True,
        env={**os.environ, "MINIHADOOP_HOME": str(home)},
        timeout=120,
    )
    assert env_run.returncode == 0, env_run.stderr
    lines = env_run.stdout.splitlines()
    assert len(lines) == 3 and lines[0].startswith("  1. ")


def test_job_errors_are_one_line(cluster: LocalCluster, tmp_path: Path) -> None:
    home = cluster.directory
    not_a_job = tmp_path / "nojob.py"
    not_a_job.write_text("x = 1\n")
    result = run(home, "job", "submit", str(not_a_job), "-i", "/x", "-o", "/y", check=False)
    assert result.returncode == 1 and "defines no mapper" in result.stderr
    result = run(home, "job", "status", "job_nope", check=False)
    assert result.returncode == 1 and "no job job_nope" in result.stderr
    result = run(
        home,
        "job",
        "submit",
        str(EXAMPLES / "wordcount.py"),
        "-i",
        "/missing",
        "-o",
        "/y",
        check=False,
    )
    assert result.returncode == 1 and "/missing" in result.stderr
    assert "Traceback" not in result.stderr


def test_rm_says_where_it_went_and_rm_in_the_trash_deletes_for_good(
    cluster: LocalCluster, fs: FileSystem, tmp_path: Path
) -> None:
    home = cluster.directory
    trash = f"/user/{current_user()}/.Trash/Current"
    local = tmp_path / "f"
    local.write_text("x")
    run(home, "fs", "put", str(local), "/clirm/f")
    moved = run(home, "fs", "rm", "/clirm/f").stdout
    assert f"Moved /clirm/f to the trash at {trash}/clirm/f" in moved
    gone = run(home, "fs", "rm", f"{trash}/clirm/f").stdout
    assert f"Deleted {trash}/clirm/f" in gone and "Moved" not in gone
    assert fs.ls(f"{trash}/clirm") == [] and not fs.exists(f"{trash}/user")


def test_a_remote_user_needs_only_the_namenode_to_find_the_job_tracker(
    make_cluster: Callable[..., LocalCluster], tmp_path: Path
) -> None:
    """The job tracker publishes its URL in the namenodes' lock service: a remote user with
    MINIHADOOP_NAMENODE and MINIHADOOP_TOKEN submits jobs without MINIHADOOP_JOBTRACKER, and
    once the job tracker dies its session expires and the URL goes with it."""
    cluster = make_cluster(datanodes=1, replication=1)
    info = cluster._require()
    with FileSystem(info.namenode, info.token) as fs:
        wait_for(
            lambda: fs.get_key(JOBTRACKER_KEY)["value"] == info.jobtracker,
            what="the job tracker's URL in the lock service",
        )
        fs.write_bytes("/remote/in/a.txt", b"to be or not to be\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MINIHADOOP_")}
    env.update(
        MINIHADOOP_NAMENODE=info.namenode,
        MINIHADOOP_TOKEN=info.token,
        MINIHADOOP_HOME=str(tmp_path / "nowhere"),  # no local cluster to fall back on
    )

    def remote(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "cli", *args], capture_output=True,
                              text=True, env=env, timeout=120)  # fmt: skip

    submitted = remote("job", "submit", str(EXAMPLES / "wordcount.py"),
                       "-i", "/remote/in", "-o", "/remote/out")  # fmt: skip
    assert submitted.returncode == 0, submitted.stderr
    assert "SUCCEEDED" in submitted.stdout
    cluster.kill("jobtracker")
    with FileSystem(info.namenode, info.token) as fs:
        wait_for(
            lambda: not fs.get_key(JOBTRACKER_KEY)["exists"],
            what="the dead job tracker's URL to expire with its session",
        )
    listed = remote("job", "list")
    assert listed.returncode == 1
    assert listed.stderr.strip() == (
        f"minihadoop: no job tracker is running: none has published itself to the namenodes "
        f"at {info.namenode} (or set MINIHADOOP_JOBTRACKER)"
    )


def ctrl_c_during_submit(home: Path, tmp_path: Path, folder: str, *flags: str) -> tuple[str, str]:
    """`job submit` a slow job from `folder`, Ctrl-C it once it has printed the job's id;
    (that id, what it said on stderr). It must exit with status 130."""
    script = tmp_path / "slow.py"
    script.write_text(
        "import time\n\ndef mapper(key, line):\n    time.sleep(60)\n    yield line, 1\n"
    )
    with FileSystem.from_cluster(home) as fs:
        fs.write_bytes(f"{folder}/in.txt", b"one line\n")
    env = {**os.environ, "MINIHADOOP_HOME": str(home)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli", "job", "submit", str(script), "-i", f"{folder}/in.txt",
         "-o", f"{folder}/out", *flags],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        # Ctrl-C as a terminal sends it, whatever this test runner's own SIGINT handling.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    assert proc.stdout is not None
    first = proc.stdout.readline()  # "submitted <id>": the job is the cluster's now
    assert first.startswith("submitted job_")
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    return first.split()[-1], stderr


def test_ctrl_c_while_following_a_job_leaves_it_running_and_says_how_to_stop_it(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    home = cluster.directory
    job_id, stderr = ctrl_c_during_submit(home, tmp_path, "/slow")
    assert f"{job_id} keeps running" in stderr and f"minihadoop job kill {job_id}" in stderr
    assert job_id in run(home, "job", "status", job_id).stdout.split()[0]
    assert "RUNNING" in run(home, "job", "status", job_id).stdout
    run(home, "job", "kill", job_id)
    wait_for(lambda: "KILLED" in run(home, "job", "status", job_id).stdout, 60, "the kill")


def test_ctrl_c_with_kill_on_interrupt_kills_the_job(cluster: LocalCluster, tmp_path: Path) -> None:
    home = cluster.directory
    job_id, stderr = ctrl_c_during_submit(home, tmp_path, "/slow-killed", "--kill-on-interrupt")
    assert f"interrupted: {job_id} killed" in stderr, stderr
    assert "KILLED" in run(home, "job", "status", job_id).stdout


def test_a_task_that_fails_the_same_way_each_time_is_reported_once(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    home = cluster.directory
    script = tmp_path / "always_fails.py"
    script.write_text("def mapper(key, line):\n    raise ValueError('the same bug')\n")
    with FileSystem.from_cluster(home) as fs:
        fs.write_bytes("/same-bug/in.txt", b"one line\n")
    done = run(home, "job", "submit", str(script), "-i", "/same-bug/in.txt", "-o",
               "/same-bug/out", check=False)  # fmt: skip
    assert done.returncode == 1
    job_id = done.stdout.split()[1]
    status = run(home, "job", "status", job_id).stdout
    assert "4 attempts FAILED with the same error" in status
    assert status.count("ValueError: the same bug") == 1
