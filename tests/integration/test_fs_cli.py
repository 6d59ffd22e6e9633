"""`minihadoop fs` as a Hadoop user's hands type it: Hadoop's commands, flags, globs, relative
paths, several paths, stdin/stdout, output scripts can read. Real processes, real cluster."""

from __future__ import annotations

import bz2
import getpass
import gzip
import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from minihadoop.errors import AlreadyBeingCreatedError, FileNotFoundError_
from minihadoop.filesystem import FileSystem
from minihadoop.localcluster import LocalCluster
from tests.support import wait_for

pytestmark = pytest.mark.integration


class Shell:
    """`minihadoop …` as one user of the cluster, with a home folder of their own."""

    def __init__(self, cluster: LocalCluster) -> None:
        self.cluster = cluster
        self.user = f"u{uuid.uuid4().hex[:8]}"
        self.home = f"/user/{self.user}"

    def __call__(
        self, *args: str, ok: bool | None = True, stdin: bytes | None = None, user: str = ""
    ) -> subprocess.CompletedProcess[str]:
        """Run it (as `user`, else the shell's user); `ok` True: it must succeed; False:
        fail with a message and no traceback; None: as it goes."""
        env = {**os.environ, "MINIHADOOP_HOME": str(self.cluster.directory),
               "MINIHADOOP_USER": user or self.user, "COLUMNS": "40"}  # fmt: skip
        env.pop("MINIHADOOP_NAMENODE", None)
        done = subprocess.run(
            [sys.executable, "-m", "cli", *args], input=stdin, capture_output=True,
            env=env, timeout=120,
        )  # fmt: skip
        result = subprocess.CompletedProcess(
            done.args, done.returncode, done.stdout.decode(errors="replace"),
            done.stderr.decode(errors="replace"),
        )  # fmt: skip
        if ok and result.returncode != 0:
            raise AssertionError(f"minihadoop {' '.join(args)} failed: {result.stderr}")
        if ok is False:
            assert result.returncode != 0, f"minihadoop {' '.join(args)} should have failed"
            assert len(result.stderr.strip().splitlines()) >= 1
            assert "Traceback" not in result.stderr
        return result

    def raw(self, *args: str) -> subprocess.CompletedProcess[bytes]:
        env = {**os.environ, "MINIHADOOP_HOME": str(self.cluster.directory),
               "MINIHADOOP_USER": self.user}  # fmt: skip
        return subprocess.run([sys.executable, "-m", "cli", *args], capture_output=True,
                              env=env, timeout=120, check=True)  # fmt: skip

    def fs(self) -> FileSystem:
        return FileSystem.from_cluster(self.cluster.directory, user=self.user)


@pytest.fixture
def sh(cluster: LocalCluster) -> Shell:
    shell = Shell(cluster)
    with FileSystem.from_cluster(cluster.directory) as admin:  # as HDFS's admin makes homes
        admin.mkdir(shell.home)
        admin.chown(shell.home, owner=shell.user)
    return shell


def test_ls_speaks_hadoop_and_pipes_whole_lines(sh: Shell) -> None:
    deep = "a-rather-long-folder-name-that-would-not-fit/" * 3 + "file-with-a-long-name.txt"
    with sh.fs() as fs:
        fs.write_bytes(f"{sh.home}/{deep}", b"x" * 2000, replication=2)
    listing = sh("fs", "ls", "-R").stdout.splitlines()
    # Whole paths, whatever the terminal's width, one entry a line, Hadoop's column order.
    last = listing[-1].split()
    assert last[0] == "-rw-r--r--" and last[1] == "2" and last[2] == sh.user
    assert last[3] == "supergroup" and last[4] == "2000" and last[-1] == f"{sh.home}/{deep}"
    assert listing[0].startswith("drwxr-xr-x") and listing[0].split()[1] == "-"
    # The Hadoop spelling, -d, -C, -h, --json.
    assert sh("fs", "-ls", "-d", sh.home).stdout.split()[-1] == sh.home
    assert sh("fs", "ls", "-C", "-R", ".").stdout.splitlines()[-1] == f"{sh.home}/{deep}"
    assert sh("fs", "ls", "-h", "-R").stdout.splitlines()[-1].split()[4] == "2.0K"
    entries = json.loads(sh("fs", "ls", "--json", "-R").stdout)
    assert entries[-1]["path"] == f"{sh.home}/{deep}" and entries[-1]["length"] == 2000
    # No colour and no escape codes when piped.
    assert "\x1b[" not in sh("fs", "ls", "-R").stdout


def test_globs_relative_paths_and_several_sources(sh: Shell, tmp_path: Path) -> None:
    for name in ("2026-01-01.log", "2026-01-02.log", "2025-12-31.log", "notes.txt"):
        (tmp_path / name).write_text(f"{name}\n")
    locals_ = sorted(str(p) for p in tmp_path.iterdir())
    sh("fs", "put", *locals_, "logs/")  # relative: under the home folder; several sources
    listed = sh("fs", "ls", "-C", "logs/2026-*").stdout.split()
    assert listed == [f"{sh.home}/logs/2026-01-01.log", f"{sh.home}/logs/2026-01-02.log"]
    assert sh("fs", "cat", "logs/{2025-*,notes.txt}").stdout == "2025-12-31.log\nnotes.txt\n"
    assert sh("fs", "ls", "-C", f"hdfs://nn:8020{sh.home}/logs/*.txt").stdout.split() == [
        f"{sh.home}/logs/notes.txt"
    ]
    sh("fs", "rm", "-skipTrash", "logs/2026-*")
    assert sh("fs", "ls", "-C", "logs").stdout.split() == [
        f"{sh.home}/logs/2025-12-31.log", f"{sh.home}/logs/notes.txt",
    ]  # fmt: skip
    # A glob that matches nothing is an error; other paths of the command are still done.
    both = sh("fs", "cat", "logs/none-*", "logs/notes.txt", ok=False)
    assert both.returncode == 1 and both.stdout == "notes.txt\n"
    assert "logs/none-*: no such file or folder" in both.stderr
    # Several sources need a folder to go to.
    assert "not a folder" in sh("fs", "cp", "logs/*", "logs/notes.txt", ok=False).stderr


def test_ctrl_c_stops_a_put_from_a_pipe_that_is_still_open(sh: Shell) -> None:
    """The source is a pipe whose writer has gone quiet: the command must not wait for it
    to end (or fill a block) before it stops, and must leave no file behind."""
    env = {**os.environ, "MINIHADOOP_HOME": str(sh.cluster.directory),
           "MINIHADOOP_USER": sh.user}  # fmt: skip
    path = f"{sh.home}/stalled.txt"
    with subprocess.Popen(
        [sys.executable, "-m", "cli", "fs", "put", "-", path], stdin=subprocess.PIPE,
        stderr=subprocess.PIPE, env=env,
    ) as put, sh.fs() as fs:  # fmt: skip
        assert put.stdin is not None
        put.stdin.write(b"x")
        put.stdin.flush()

        def writing() -> bool:  # the command has made the file and is reading its source
            try:
                fs.append(path).close()
            except AlreadyBeingCreatedError:
                return True
            except FileNotFoundError_:
                return False
            raise AssertionError("appended to a file the command was writing")

        wait_for(writing, timeout=30, what="the put under way")
        put.send_signal(signal.SIGINT)
        assert put.wait(timeout=15) == 130  # stopped while its source is still open
        put.stdin.close()
        wait_for(lambda: not fs.exists(path), timeout=30, what="the abandoned file gone")


def test_stdin_stdout_folders_and_overwrites(sh: Shell, tmp_path: Path) -> None:
    sh("fs", "put", "-", "from-stdin.txt", stdin=b"piped in\n")
    assert sh.raw("fs", "get", "from-stdin.txt", "-").stdout == b"piped in\n"
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "a.txt").write_text("a\n")
    (tree / "sub" / "b.bin").write_bytes(bytes(range(256)) * 100)
    sh("fs", "put", str(tree), "/tmp/" + sh.user)
    back = tmp_path / "back"
    sh("fs", "get", "/tmp/" + sh.user, str(back))
    assert (back / "a.txt").read_text() == "a\n"
    assert (back / "sub" / "b.bin").read_bytes() == (tree / "sub" / "b.bin").read_bytes()
    # get never silently replaces a local file; -f does.
    (tmp_path / "a.txt").write_text("mine\n")
    refused = sh("fs", "get", f"/tmp/{sh.user}/a.txt", str(tmp_path / "a.txt"), ok=False)
    assert "exists (-f replaces it)" in refused.stderr
    assert (tmp_path / "a.txt").read_text() == "mine\n"
    sh("fs", "get", "-f", f"/tmp/{sh.user}/a.txt", str(tmp_path / "a.txt"))
    assert (tmp_path / "a.txt").read_text() == "a\n"
    # put refuses to replace; -f does.
    assert "exists" in sh("fs", "put", str(tree / "a.txt"), f"/tmp/{sh.user}/a.txt",
                          ok=False).stderr  # fmt: skip
    sh("fs", "put", "-f", "-", f"/tmp/{sh.user}/a.txt", stdin=b"new\n")
    assert sh("fs", "cat", f"/tmp/{sh.user}/a.txt").stdout == "new\n"
    sh("fs", "rm", "-r", "-skipTrash", f"/tmp/{sh.user}")


def test_mkdir_rm_rmdir_touchz_test_and_expunge_follow_hadoop(sh: Shell) -> None:
    assert "no such folder (-p makes it)" in sh("fs", "mkdir", "a/b", ok=False).stderr
    sh("fs", "mkdir", "-p", "a/b", "c")
    assert "file exists" in sh("fs", "mkdir", "c", ok=False).stderr
    sh("fs", "mkdir", "-p", "c")  # -p: no error for a folder that is there
    sh("fs", "touchz", "a/empty", "a/empty")
    assert sh("fs", "test", "-z", "a/empty").returncode == 0
    assert sh("fs", "test", "-d", "a", "--dir", str(sh.cluster.directory)).returncode == 0
    assert sh("fs", "test", "-f", "a", ok=None).returncode == 1  # silent, as test(1) is
    assert sh("fs", "test", "-e", "nothing", ok=None).returncode == 1
    sh("fs", "put", "-", "a/full", stdin=b"data")
    assert sh("fs", "test", "-s", "a/full").returncode == 0
    assert "not a zero-length file" in sh("fs", "touchz", "a/full", ok=False).stderr
    assert "is a folder (-r removes it)" in sh("fs", "rm", "a", ok=False).stderr
    assert sh("fs", "rm", "-f", "nothing", "nothing-*").returncode == 0
    assert "not empty" in sh("fs", "rmdir", "a", ok=False).stderr
    sh("fs", "rmdir", "--ignore-fail-on-non-empty", "a")
    sh("fs", "rmdir", "a/b")
    assert "to the trash" in sh("fs", "rm", "-r", "a").stdout
    assert sh("fs", "test", "-d", ".Trash/Current").returncode == 0
    assert "Deleted 1 trash" in sh("fs", "expunge").stdout
    assert sh("fs", "test", "-e", ".Trash/Current", ok=None).returncode == 1
    assert "exactly one of" in sh("fs", "test", "-d", "-e", "c", ok=False).stderr


def test_cp_mv_getmerge_find_checksum_text_head_tail(sh: Shell, tmp_path: Path) -> None:
    sh("fs", "put", "-", "in/one.txt", stdin=b"one\n")
    sh("fs", "put", "-", "in/Two.TXT", stdin=b"two\n")
    sh("fs", "put", "-", "in/z.gz", stdin=gzip.compress(b"zipped\n" * 1000))
    sh("fs", "put", "-", "in/z.bz2", stdin=bz2.compress(b"bzipped\n"))
    sh("fs", "cp", "in", "copy")
    sh("fs", "mkdir", "moved")
    sh("fs", "mv", "copy/one.txt", "copy/Two.TXT", "moved")
    assert sh("fs", "ls", "-C", "moved").stdout.split() == [
        f"{sh.home}/moved/Two.TXT", f"{sh.home}/moved/one.txt",
    ]  # fmt: skip
    assert "into itself" in sh("fs", "cp", "in", "in/deeper", ok=False).stderr
    merged = tmp_path / "merged"
    sh("fs", "getmerge", "-nl", "moved", str(merged))
    assert merged.read_text() == "two\n\none\n\n"
    assert sh("fs", "find", ".", "-name", "*.txt").stdout.split() == [
        f"{sh.home}/in/one.txt", f"{sh.home}/moved/one.txt",
    ]  # fmt: skip
    assert sh("fs", "find", "in", "-iname", "*.txt").stdout.split() == [
        f"{sh.home}/in/Two.TXT", f"{sh.home}/in/one.txt",
    ]  # fmt: skip
    with sh.fs() as fs:
        expected = fs.checksum(f"{sh.home}/in/one.txt")
    line = sh("fs", "checksum", "in/one.txt").stdout.rstrip("\n").split("\t")
    assert line == [f"{sh.home}/in/one.txt", expected["algorithm"], expected["bytes"]]
    assert sh("fs", "text", "in/z.gz").stdout == "zipped\n" * 1000
    assert sh("fs", "text", "in/z.bz2", "in/one.txt").stdout == "bzipped\none\n"
    sh("fs", "put", "-", "big.txt", stdin=b"".join(b"%05d\n" % i for i in range(1000)))
    assert (
        sh.raw("fs", "head", "big.txt").stdout == b"".join(b"%05d\n" % i for i in range(171))[:1024]
    )
    tail = sh("fs", "tail", "big.txt").stdout
    assert len(tail) == 1024 and tail.endswith("00999\n")


def test_reports_du_count_df_stat_in_columns_and_json(sh: Shell) -> None:
    sh("fs", "put", "-", "r/a", stdin=b"x" * 1000)
    sh("fs", "put", "-", "r/sub/b", stdin=b"y" * 500)
    du = sh("fs", "du", "r").stdout.splitlines()
    assert [line.split() for line in du] == [
        ["1000", "3000", f"{sh.home}/r/a"], ["500", "1500", f"{sh.home}/r/sub"],
    ]  # fmt: skip
    assert sh("fs", "du", "-s", "-h", "r").stdout.split() == ["1.5K", "4.4K", f"{sh.home}/r"]
    count = sh("fs", "count", "-v", "-q", "r").stdout.splitlines()
    assert count[0].split()[:4] == ["QUOTA", "REM_QUOTA", "SPACE_QUOTA", "REM_SPACE_QUOTA"]
    assert count[1].split() == ["none", "inf", "none", "inf", "2", "2", "1500", f"{sh.home}/r"]
    assert json.loads(sh("fs", "count", "--json", "r").stdout)[0]["file_count"] == 2
    df = json.loads(sh("fs", "df", "--json").stdout)
    assert df["size"] >= df["available"] > 0 and df["used"] >= 4500
    assert sh("fs", "df").stdout.splitlines()[0].split() == [
        "Filesystem", "Size", "Used", "Available", "Use%",
    ]  # fmt: skip
    assert sh("fs", "stat", "%n %b %r %F %u:%g %a", "r/a", "r/sub").stdout.splitlines() == [
        f"a 1000 3 regular file {sh.user}:supergroup 644",
        f"sub 0 0 directory {sh.user}:supergroup 755",
    ]
    assert sh("fs", "stat", "r/a").stdout.startswith("20")  # Hadoop's default: %y, a date
    assert "modification_time  20" in sh("fs", "stat", "--all", "r/a").stdout
    assert json.loads(sh("fs", "stat", "--json", "r/a").stdout)[0]["length"] == 1000
    assert "unknown stat format %q" in sh("fs", "stat", "%q", "r/a", ok=False).stderr


def test_chmod_chown_chgrp_and_setrep_wait(sh: Shell) -> None:
    sh("fs", "put", "-", "p/f", stdin=b"data")
    sh("fs", "chmod", "-R", "go-rx,u+x", "p")
    assert sh("fs", "stat", "%a %A", "p", "p/f").stdout.splitlines() == [
        "700 rwx------", "700 rwx------",
    ]  # fmt: skip
    sh("fs", "chmod", "1777", "p")
    assert sh("fs", "stat", "%A", "p").stdout.strip() == "rwxrwxrwt"
    # Only a superuser gives files away; an owner may not even name itself a group it is
    # not in.
    assert "is not a super user" in sh("fs", "chown", "-R", "alice:staff", "p", ok=False).stderr
    assert "does not belong to eng" in sh("fs", "chgrp", "eng", "p/f", ok=False).stderr
    admin = getpass.getuser()
    sh("fs", "chown", "-R", "alice:staff", f"{sh.home}/p", user=admin)
    sh("fs", "chgrp", "eng", f"{sh.home}/p/f", user=admin)
    assert sh("fs", "stat", "%u:%g", "p", "p/f").stdout.splitlines() == [
        "alice:staff", "alice:eng",
    ]  # fmt: skip
    assert "not a mode" in sh("fs", "chmod", "u+q", "p", ok=False).stderr
    done = sh("fs", "setrep", "-w", "2", f"{sh.home}/p/f", user=admin).stdout
    assert "Replication 2 set" in done and done.rstrip().endswith("done")
    assert sh("fs", "stat", "%r", "p/f").stdout.strip() == "2"
    # alice's now: its owner's bits no longer apply to the shell's user.
    assert "Permission denied" in sh("fs", "setrep", "3", "p/f", ok=False).stderr


def test_usage_errors_are_one_line_and_debug_shows_the_traceback(sh: Shell, tmp_path: Path) -> None:
    bad = sh("fs", "ls", "--bogus", ok=False)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1
    assert "No such option: --bogus" in bad.stderr
    assert sh("fs", "nosuch", ok=False).stderr.count("\n") == 1
    assert sh("--version").stdout.startswith("minihadoop ")
    missing = sh("fs", "cat", "/definitely/not/here", ok=False)
    assert missing.stderr.count("\n") == 1
    debug = sh("--debug", "fs", "cat", "/definitely/not/here", ok=None)
    assert debug.returncode == 1 and debug.stderr.startswith("Traceback")
    assert debug.stderr.rstrip().endswith("File does not exist: /definitely/not/here")
    script = tmp_path / "broken.py"
    script.write_text(
        "import os\n\ndef mapper(k, v):\n    yield k, v\n\nraise RuntimeError('no')\n"
    )
    failed = sh("job", "submit", str(script), "--input", "/x", "--output", "/y", ok=False)
    assert failed.stderr.strip() == (
        f"minihadoop: cannot load the job script {script} (line 6): RuntimeError: no"
    )


def test_progress_moves_as_bytes_are_sent_not_a_block_at_a_time(sh: Shell, tmp_path: Path) -> None:
    local = tmp_path / "ten.bin"
    local.write_bytes(os.urandom(10 << 20))
    steps: list[int] = []
    with sh.fs() as fs:
        fs.put(local, f"{sh.home}/ten.bin", block_size=4 << 20, progress=steps.append)
        assert fs.read_bytes(f"{sh.home}/ten.bin") == local.read_bytes()
    assert sum(steps) == 10 << 20
    assert max(steps) <= 1 << 20 and len(steps) >= 10  # 1 MiB at most: not 4 MiB blocks


def test_concat_joins_files_by_moving_their_blocks(sh: Shell) -> None:
    parts = [os.urandom(n) for n in (5000, 4096, 1)]
    with sh.fs() as fs:
        for i, data in enumerate(parts):
            fs.write_bytes(f"{sh.home}/c/part-{i}", data, block_size=4096, replication=2)
        blocks = [
            b.block.block_id for i in range(3) for b in fs.blocks(f"{sh.home}/c/part-{i}").blocks
        ]
    sh("fs", "concat", "c/part-0", "c/part-[12]")
    with sh.fs() as fs:
        assert fs.read_bytes(f"{sh.home}/c/part-0") == b"".join(parts)
        assert [b.block.block_id for b in fs.blocks(f"{sh.home}/c/part-0").blocks] == blocks
        assert [e.name for e in fs.ls(f"{sh.home}/c")] == ["part-0"]
        assert fs.fsck(f"{sh.home}/c")["status"] == "HEALTHY"
    refused = sh("fs", "concat", "c/part-0", "c/part-0", ok=False)
    assert "among the sources" in refused.stderr


def test_names_with_url_characters_globs_for_one_path_and_pipes(sh: Shell) -> None:
    sh("fs", "mkdir", "-p", "odd")
    for name in ("h#x", "q?y", "p%20z"):
        sh("fs", "put", "-", f"odd/{name}", stdin=name.encode())
    assert sh("fs", "ls", "-C", "odd").stdout.split() == [
        f"{sh.home}/odd/h#x", f"{sh.home}/odd/p%20z", f"{sh.home}/odd/q?y",
    ]  # fmt: skip
    assert sh("fs", "cat", "odd/q\\?y").stdout == "q?y"  # an escaped wildcard is itself
    assert sh("fs", "stat", "%b", "odd/h#x").stdout.strip() == "3"
    assert sh("fs", "head", "odd/p*").stdout == "p%20z"  # a glob that names one file
    assert "matches 3 paths" in sh("fs", "tail", "odd/*", ok=False).stderr
    assert sh("fs", "test", "-e", "odd/h*").returncode == 0
    sh("fs", "rm", "-skipTrash", "odd/h#x")
    assert "is a folder" in sh("fs", "tail", "odd", ok=False).stderr
    # A reader that goes away is no error of ours.
    sh("fs", "put", "-", "lines", stdin=b"".join(b"line %d\n" % i for i in range(200_000)))
    piped = subprocess.run(
        f'{sys.executable} -m cli fs cat lines | head -1; echo "cat: ${{PIPESTATUS[0]}}"',
        shell=True, executable="/bin/bash", capture_output=True, timeout=120,
        env={**os.environ, "MINIHADOOP_HOME": str(sh.cluster.directory),
             "MINIHADOOP_USER": sh.user},
    )  # fmt: skip
    # As cat's: killed by SIGPIPE, which a shell reports as 141.
    assert piped.stdout == b"line 0\ncat: 141\n" and piped.stderr == b""


def test_destinations_must_exist_and_usage_mistakes_exit_2(sh: Shell, tmp_path: Path) -> None:
    sh("fs", "put", "-", "src", stdin=b"x")
    assert "no such folder" in sh("fs", "cp", "src", "nowhere/", ok=False).stderr
    assert "no such folder" in sh("fs", "cp", "src", "no/where", ok=False).stderr
    assert "no such folder" in sh("fs", "mv", "src", "no/where/", ok=False).stderr
    assert sh("fs", "test", "-e", "src").returncode == 0  # nothing moved
    lost = sh("fs", "get", "src", str(tmp_path / "no" / "such" / "x"), ok=False)
    assert "no such local folder" in lost.stderr and ".part" not in lost.stderr
    assert sh("fs", "rm", ok=False).returncode == 2
    assert sh("fs", "test", "src", ok=False).returncode == 2
    assert sh("fs", "chgrp", "", "src", ok=False).returncode == 2
    lsr = sh("fs", "-lsr", ".").stdout  # Hadoop's old spelling of ls -R
    assert f"{sh.home}/src" in lsr
    assert "No such option: -foo" in sh("fs", "ls", "-foo", ok=False).stderr
    assert "Usage: minihadoop fs ls" in sh("fs", "-help", "ls").stdout
    assert "can never be reached" in sh("fs", "setrep", "-w", "9", "src", ok=False).stderr


def test_a_hostile_neighbour_gets_nothing(sh: Shell, tmp_path: Path) -> None:
    sh("fs", "put", "-", "h/a", stdin=b"dfs bytes\n")
    # Links planted where a download's temporary or final files would go are not followed.
    victim = tmp_path / "victim.txt"
    victim.write_text("mine\n")
    shared = tmp_path / "shared"
    shared.mkdir()
    for guess in (".merged.part", ".merged.0.part"):
        (shared / guess).symlink_to(victim)
    sh("fs", "getmerge", "h/a", str(shared / "merged"))
    assert victim.read_text() == "mine\n"
    assert (shared / "merged").read_text() == "dfs bytes\n"
    assert not (shared / "merged").is_symlink()
    (shared / "h").symlink_to(tmp_path)  # get of a folder into a planted link: refused
    assert "symbolic link" in sh("fs", "get", "-f", "h", str(shared), ok=False).stderr
    real = tmp_path / "real"
    (real / "h").mkdir(parents=True)
    assert "folder exists" in sh("fs", "get", "h", str(real), ok=False).stderr
    # Names that would rewrite a terminal, modes past 1777, look-alike owners: refused.
    assert "control characters" in sh("fs", "mkdir", "h/\u009b2J", ok=False).stderr
    assert "at most 1777" in sh("fs", "chmod", "7777", "h/a", ok=False).stderr
    assert "invalid owner" in sh("fs", "chown", "h\u0430doop", "h/a", ok=False).stderr
    assert sh("fs", "stat", "%a %u", "h/a").stdout.strip() == f"644 {sh.user}"
    # Globs that would spell too much, or nest too deep: one line, at once.
    assert "more than 1024" in sh("fs", "ls", "h/" + "{a,b}" * 11, ok=False).stderr
    deep = sh("fs", "ls", "-C", "h/" + "{a," * 2000 + "b" + "}" * 2000)  # h/a or h/b
    assert deep.stdout.split() == [f"{sh.home}/h/a"]
    assert "Traceback" not in sh("fs", "ls", "h/" + "{a}" * 1100, ok=None).stderr
    assert sh("fs", "tail", "-f", "-s", "1e10", "h/a", ok=False).returncode == 2


def test_a_bad_namenode_url_is_refused_at_once(tmp_path: Path) -> None:
    for url in ("not a url", "ftp://x:1", "http://"):
        done = subprocess.run(
            [sys.executable, "-m", "cli", "fs", "ls", "/"], capture_output=True, text=True,
            env={**os.environ, "MINIHADOOP_NAMENODE": url}, timeout=30,
        )  # fmt: skip
        assert done.returncode == 1 and "not a namenode URL" in done.stderr, done.stderr
        assert "retrying" not in done.stderr
