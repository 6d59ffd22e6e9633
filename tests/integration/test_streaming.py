"""Streaming jobs on a real cluster: shell commands as mapper and reducer, with Hadoop
Streaming's contract (lines in, key<TAB>value out, the reducer's input sorted and grouped),
shipped files, the task's environment, failures, and the same output from --local."""

from __future__ import annotations

import collections
import json
import sys
from pathlib import Path

import pytest

from minihadoop.filesystem import FileSystem
from minihadoop.localcluster import LocalCluster
from tests.integration.test_cli import run

pytestmark = pytest.mark.integration

MAPPER = """\
import os, sys
where = os.environ["mapreduce_map_input_file"].rsplit("/", 1)[-1]
print("mapping", where, file=sys.stderr)
for line in sys.stdin:
    for word in line.split():
        print(f"{word}\\t1")
"""
# Input sorted by key, every line of a key together: a running sum is enough.
REDUCER = """\
import sys
last, total = None, 0
for line in sys.stdin:
    key, value = line.rstrip("\\n").split("\\t")
    if key != last and last is not None:
        print(f"{last}\\t{total}")
        total = 0
    last, total = key, total + int(value)
if last is not None:
    print(f"{last}\\t{total}")
"""


def test_a_streaming_word_count_on_the_cluster_and_locally(
    cluster: LocalCluster, fs: FileSystem, tmp_path: Path
) -> None:
    text = "".join(f"w{i % 37} w{i % 11} the\n" for i in range(5000))
    fs.write_bytes("/streaming/in/a.txt", text.encode(), block_size=64 << 10)
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.txt").write_text(text)
    (tmp_path / "map.py").write_text(MAPPER)
    (tmp_path / "reduce.py").write_text(REDUCER)
    args = [
        "job", "streaming",
        "--mapper", f"{sys.executable} map.py", "--reducer", f"{sys.executable} reduce.py",
        "--combiner", f"{sys.executable} reduce.py",  # sums are sums of sums
        "--file", str(tmp_path / "map.py"), "--file", str(tmp_path / "reduce.py"),
        "--reducers", "2",
    ]  # fmt: skip
    done = run(cluster.directory, *args, "--input", "/streaming/in", "--output", "/streaming/out")
    assert "output: /streaming/out" in done.stdout
    expected = collections.Counter(text.split())
    got: dict[str, int] = {}
    for part in ("part-r-00000", "part-r-00001"):
        lines = fs.read_bytes(f"/streaming/out/{part}").decode().splitlines()
        assert lines == sorted(lines, key=lambda line: line.split("\t")[0])  # key order
        got.update((k, int(v)) for k, v in (line.split("\t") for line in lines))
    assert got == expected
    job_id = done.stdout.split()[1]
    logs = run(cluster.directory, "job", "logs", job_id, "--log", "stderr")
    assert "mapping a.txt" in logs.stdout  # the task's environment; stderr to the task log
    counters = json.loads(run(cluster.directory, "job", "counters", job_id, "--json").stdout)
    # The combiner ran over each map's output: fewer records left the maps than went in.
    assert counters["COMBINE_INPUT_RECORDS"] == 3 * 5000
    assert counters["COMBINE_OUTPUT_RECORDS"] < counters["COMBINE_INPUT_RECORDS"] // 10

    local = run(cluster.directory, *args, "--local", "--input", str(tmp_path / "in"),
                "--output", str(tmp_path / "out"))  # fmt: skip
    assert local.returncode == 0
    for part in ("part-r-00000", "part-r-00001"):
        assert (tmp_path / "out" / part).read_bytes() == fs.read_bytes(f"/streaming/out/{part}")


def test_map_only_streaming_and_a_failing_command(cluster: LocalCluster, fs: FileSystem) -> None:
    fs.write_bytes("/streaming-tr/in", b"abc\ndef\n")
    done = run(cluster.directory, "job", "streaming", "--mapper", "tr a-z A-Z",
               "--reducer", "NONE", "--input", "/streaming-tr/in",
               "--output", "/streaming-tr/out")  # fmt: skip
    assert done.returncode == 0
    assert fs.read_bytes("/streaming-tr/out/part-m-00000") == b"ABC\nDEF\n"
    failed = run(cluster.directory, "job", "streaming", "--mapper",
                 "echo about to fail >&2; exit 3", "--input", "/streaming-tr/in",
                 "--output", "/streaming-tr/failed", check=False)  # fmt: skip
    assert failed.returncode == 1
    assert "the streaming mapper `echo about to fail >&2; exit 3` failed with exit code 3" in (
        failed.stderr
    )
    assert "about to fail" in failed.stderr  # its stderr's last lines, with the error
    assert "Traceback" not in failed.stderr  # the command failed, not minihadoop
