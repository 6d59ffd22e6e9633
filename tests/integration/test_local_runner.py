"""The local runner (mapreduce.local): a job without a cluster writes, byte for byte, what
the cluster writes for the same input, splits, reducers, combiner and partitioner."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from mapreduce import context, counter
from mapreduce.job import Job
from minihadoop.errors import FileAlreadyExistsError, FileNotFoundError_
from minihadoop.filesystem import FileSystem
from minihadoop.localcluster import LocalCluster

pytestmark = pytest.mark.integration

SPLIT = 64 << 10


def mapper(_offset: int, line: str) -> Iterator[tuple[str, int]]:
    for word in line.split():
        yield word.lower(), 1


def summing(word: str, counts: Iterable[int]) -> Iterator[tuple[str, int]]:
    yield word, sum(counts)


def by_first_letter(key: str, n: int) -> int:
    return ord(key[0]) % n


def text(seed: int, lines: int) -> bytes:
    rng = random.Random(seed)
    words = [f"w{i}" for i in range(3000)] + ["The", "the", "été", "naïve"]
    return "".join(
        " ".join(rng.choice(words) for _ in range(rng.randint(0, 12))) + "\n" for _ in range(lines)
    ).encode()


def stage(cluster: LocalCluster, tmp_path: Path, name: str, data: list[bytes]) -> tuple[Path, str]:
    """The same files `f<i>.txt` in a local folder and in a fresh DFS folder (blocks of
    SPLIT bytes): (the local folder, the DFS folder holding ``in/``)."""
    local_in = tmp_path / "in"
    local_in.mkdir()
    base = f"/{name}-{os.urandom(4).hex()}"
    with FileSystem.from_cluster(cluster.directory) as fs:
        for i, d in enumerate(data):
            (local_in / f"f{i}.txt").write_bytes(d)
            fs.write_bytes(f"{base}/in/f{i}.txt", d, block_size=SPLIT)
    return local_in, base


@pytest.mark.parametrize("partitioner", [None, by_first_letter])
def test_local_output_is_the_clusters_byte_for_byte(
    cluster: LocalCluster, tmp_path: Path, partitioner: object
) -> None:
    data = [text(1, 9000), text(2, 4000), b""]  # several splits each, and an empty file
    local_in, base = stage(cluster, tmp_path, "local", data)
    run = base.removeprefix("/local-")

    def job(inputs: str, output: str) -> Job:
        return Job(mapper, summing, combiner=summing, partitioner=partitioner,  # type: ignore[arg-type]
                   inputs=[inputs], output=output, num_reducers=3,
                   cluster_dir=cluster.directory)  # fmt: skip

    on_cluster = job(f"/local-{run}/in", f"/local-{run}/out").run()
    assert on_cluster.ok, on_cluster.error
    here = job(str(local_in), str(tmp_path / "out")).run(local=True, split_size=SPLIT)
    forked = job(str(local_in), str(tmp_path / "out2")).run(
        local=True, split_size=SPLIT, processes=2
    )
    with FileSystem.from_cluster(cluster.directory) as fs:
        for part in ("part-r-00000", "part-r-00001", "part-r-00002", "_SUCCESS"):
            expected = fs.read_bytes(f"/local-{run}/out/{part}")
            assert (tmp_path / "out" / part).read_bytes() == expected, part
            assert (tmp_path / "out2" / part).read_bytes() == expected, part
    for name in ("MAP_INPUT_RECORDS", "MAP_OUTPUT_RECORDS", "REDUCE_INPUT_GROUPS",
                 "REDUCE_INPUT_RECORDS", "REDUCE_OUTPUT_RECORDS"):  # fmt: skip
        assert here.counters[name] == on_cluster.counters[name] == forked.counters[name], name
    assert here.counters["MAP_TASKS"] == on_cluster.status["maps"]


def test_map_only_errors_and_the_command(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("Hello World\nhello\n")
    (tmp_path / "_ignored.txt").write_text("not input\n")
    result = Job(mapper, inputs=[str(tmp_path)], output=str(tmp_path / "o"),
                 num_reducers=0).run(local=True)  # fmt: skip
    assert (tmp_path / "o" / "part-m-00000").read_text() == "hello\t1\nworld\t1\nhello\t1\n"
    assert result.counters["MAP_INPUT_RECORDS"] == 2
    with pytest.raises(FileAlreadyExistsError):
        Job(mapper, inputs=[str(tmp_path)], output=str(tmp_path / "o")).run(local=True)
    with pytest.raises(FileNotFoundError_):
        Job(mapper, inputs=["/no/such"], output=str(tmp_path / "p")).run(local=True)

    def failing(_offset: int, _line: str) -> Iterator[tuple[str, int]]:
        raise ValueError("the user's own bug")

    with pytest.raises(ValueError, match="the user's own bug"):  # their traceback, as is
        Job(failing, inputs=[str(tmp_path / "a.txt")], output=str(tmp_path / "q")).run(local=True)

    script = Path(__file__).resolve().parents[2] / "examples" / "wordcount.py"
    done = subprocess.run(
        [sys.executable, "-m", "cli", "job", "run", "--local", str(script), "-i",
         str(tmp_path / "a.txt"), "-o", str(tmp_path / "cli"), "--local-processes", "2"],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "MINIHADOOP_HOME": str(tmp_path / "none")},  # no cluster at all
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "local SUCCEEDED" in done.stdout
    assert (tmp_path / "cli" / "part-r-00000").read_text() == "hello\t2\nworld\t1\n"


def tagging(_offset: int, line: str) -> Iterator[tuple[str, str]]:
    """An inverted index needs to know which file a line is from."""
    ctx = context()
    counter("lines seen")
    for word in line.split():
        yield word, f"{Path(ctx.input_file or '?').name}@{ctx.split_start}"


def files(word: str, where: Iterable[str]) -> Iterator[tuple[str, str]]:
    yield word, ",".join(sorted(set(where)))


def picky(offset: int, line: str) -> Iterator[tuple[str, int]]:
    if "poison" in line:
        raise ValueError(f"cannot map {line!r}")
    yield line, offset


def test_mappers_know_their_input_and_failures_say_which_record(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    run = os.urandom(4).hex()
    inputs = {"a.txt": b"apple pear\n", "b.txt": b"pear\n", "c.txt": b"fine\nfine\npoison\n"}
    with FileSystem.from_cluster(cluster.directory) as fs:
        for name, data in inputs.items():
            (tmp_path / name).write_bytes(data)
            fs.write_bytes(f"/ctx-{run}/{name}", data)
    index_job = Job(tagging, files, inputs=[f"/ctx-{run}/a.txt", f"/ctx-{run}/b.txt"],
                    output=f"/ctx-{run}/index", cluster_dir=cluster.directory)  # fmt: skip
    done = index_job.run()
    assert done.ok, done.error
    with FileSystem.from_cluster(cluster.directory) as fs:
        index = fs.read_bytes(f"/ctx-{run}/index/part-r-00000").decode()
    assert index == "apple\ta.txt@0\npear\ta.txt@0,b.txt@0\n"
    assert done.counters["user:lines seen"] == 2
    here = Job(tagging, files, inputs=[str(tmp_path / "a.txt"), str(tmp_path / "b.txt")],
               output=str(tmp_path / "index")).run(local=True)  # fmt: skip
    assert (tmp_path / "index" / "part-r-00000").read_text() == index
    assert here.counters["user:lines seen"] == 2

    failed = Job(picky, inputs=[f"/ctx-{run}/c.txt"], output=f"/ctx-{run}/picky",
                 max_attempts=1, cluster_dir=cluster.directory).run()  # fmt: skip
    assert not failed.ok and failed.error is not None
    assert (
        f"while mapping /ctx-{run}/c.txt (split at byte 0, 17 bytes): the record at byte 10"
        in failed.error
    )
    with pytest.raises(ValueError) as info:
        Job(picky, inputs=[str(tmp_path / "c.txt")], output=str(tmp_path / "p")).run(local=True)
    assert "the record at byte 10" in "".join(getattr(info.value, "__notes__", []))
    with pytest.raises(RuntimeError, match="only known inside"):
        context()


def sales_by_region(region: str, amount: str) -> Iterator[tuple[str, int]]:
    yield region, int(amount or 0)


def words_per_file(path: str, data: bytes) -> Iterator[tuple[str, int]]:
    yield path.rsplit("/", 1)[-1], len(data.split())


@pytest.mark.parametrize(
    ("input_format", "mapper_", "reducer_"),
    [("keyvalue", sales_by_region, summing), ("wholefile", words_per_file, None)],
)
def test_input_and_output_formats_alike_here_and_on_the_cluster(
    cluster: LocalCluster, tmp_path: Path, input_format: str, mapper_: object, reducer_: object
) -> None:
    rng = random.Random(7)
    lines = "".join(f"{rng.choice(['north', 'south', 'été'])}\t{rng.randint(0, 99)}\n"
                    for _ in range(20_000))  # fmt: skip
    data = [lines.encode() + b"no-tab-here\n", text(3, 3000)]
    local_in, base = stage(cluster, tmp_path, "formats", data)
    run = base.removeprefix("/formats-")
    with FileSystem.from_cluster(cluster.directory) as fs:
        assert len(fs.blocks(f"{base}/in/f0.txt").blocks) > 1  # cut into blocks

    def job(inputs: str, output: str) -> Job:
        return Job(mapper_, reducer_, inputs=[inputs], output=output,  # type: ignore[arg-type]
                   num_reducers=1 if reducer_ else 0, input_format=input_format,
                   output_format="jsonl", cluster_dir=cluster.directory)  # fmt: skip

    on_cluster = job(f"/formats-{run}/in", f"/formats-{run}/out").run()
    assert on_cluster.ok, on_cluster.error
    here = job(str(local_in), str(tmp_path / "out")).run(local=True, split_size=SPLIT)
    with FileSystem.from_cluster(cluster.directory) as fs:
        parts = sorted(s.name for s in fs.ls(f"/formats-{run}/out") if s.name.startswith("part"))
        got = {p: fs.read_bytes(f"/formats-{run}/out/{p}") for p in parts}
    assert got == {p: (tmp_path / "out" / p).read_bytes() for p in parts}
    records = [json.loads(line) for b in got.values() for line in b.decode().splitlines()]
    if input_format == "wholefile":  # one record a file, however many blocks it has
        assert on_cluster.status["maps"] == 2
        assert records == [{"key": "f0.txt", "value": len(data[0].split())},
                           {"key": "f1.txt", "value": len(data[1].split())}]  # fmt: skip
    else:
        assert {r["key"] for r in records} >= {"north", "south", "été", "no-tab-here"}
        total = sum(int(line.split("\t")[1]) for line in lines.splitlines())
        assert sum(r["value"] for r in records) == total
    assert here.counters["MAP_INPUT_RECORDS"] == on_cluster.counters["MAP_INPUT_RECORDS"]


def test_job_inputs_are_globs_as_in_hadoop(cluster: LocalCluster) -> None:
    run = os.urandom(4).hex()
    with FileSystem.from_cluster(cluster.directory) as fs:
        for name, body in (("2026-01.txt", b"a b\n"), ("2026-02.txt", b"c\n"), ("x.csv", b"z\n")):
            fs.write_bytes(f"/glob-{run}/{name}", body)

    def job(*inputs: str, output: str) -> Job:
        return Job(mapper, summing, inputs=list(inputs), output=f"/glob-{run}/{output}",
                   cluster_dir=cluster.directory)  # fmt: skip

    done = job(f"/glob-{run}/2026-*.txt", output="out").run()
    assert done.ok and done.counters["MAP_INPUT_RECORDS"] == 2
    assert done.status["maps"] == 1  # two small files: packed into one map
    both = job(f"/glob-{run}/{{2026-01.txt,x.csv}}", output="out2").run()
    assert both.ok and both.counters["MAP_INPUT_RECORDS"] == 2
    with pytest.raises(FileNotFoundError_, match="matches 0 files"):
        job(f"/glob-{run}/1999-*", output="none").submit()
