"""Word count over many small files against the same bytes in one file, in one run.

On a local cluster (namenode, 3 datanodes, job tracker, 3 workers; `minihadoop cluster up`'s
defaults but replication 1, which keeps the upload cheap):

* **one file** — `--files` x `--size` bytes of the bench corpus (`corpus.py`) as one DFS
  file: the baseline.
* **small files** — the same bytes cut at line ends into `--files` files of about `--size`
  bytes each (default 10,000 of 10 KB), in one folder.

Each is counted by the README's word count (`wordcount.mapper`, `mapreduce.sum` as reducer
and combiner, 2 reducers), `--repeat` times, timed from the submit to `run()` returning; the
outputs are checked equal. The figure is the small files' best time over the one file's
(target: at most 2x). The job's map count is printed beside it: small
files are packed into combined splits by the datanode holding them (`mapreduce.splits`),
and the job tracker locates them in batches of 1,000 (`POST /nn/v1/blocks`). The upload is
timed apart and not included. One JSON line per run goes to
`bench/results/small_files.jsonl`.

Run: ``.venv/bin/python bench/small_files.py [--files 10000] [--size 10240] [--repeat 2]``
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import corpus
import wordcount
from common import append_result, run_in_workdir, workdir_options

import mapreduce
from mapreduce import Job
from mapreduce.job import JobResult
from minihadoop.filesystem import FileSystem
from minihadoop.localcluster import LocalCluster

RESULTS = Path(__file__).resolve().parent / "results" / "small_files.jsonl"
SETTINGS: dict[str, Any] = {"replication": 1, "heartbeat_interval": 3.0, "dead_node_timeout": 60.0}
TARGET = 2.0


def pieces(text: bytes, files: int, size: int) -> list[bytes]:
    """`files` pieces of `text` of about `size` bytes each, cut just after a newline."""
    out, at = [], 0
    for _ in range(files):
        end = text.find(b"\n", at + size - 1)
        end = len(text) if end < 0 else end + 1
        out.append(text[at:end])
        at = end
    return [p for p in out if p]


def run_job(cluster: LocalCluster, inputs: str, output: str) -> tuple[float, JobResult]:
    start = time.perf_counter()
    result = Job(
        wordcount.mapper,
        mapreduce.sum,
        combiner=mapreduce.sum,
        inputs=[inputs],
        output=output,
        num_reducers=2,
        name="bench-small-files",
        cluster_dir=cluster.directory,
    ).run()
    return time.perf_counter() - start, result


def run(args: argparse.Namespace, work: Path) -> int:
    source = corpus.cached(args.corpus_dir, (args.files * args.size) / (1 << 20) + 1, 0)
    text = source.read_bytes()
    parts = pieces(text, args.files, args.size)
    whole = b"".join(parts)
    print(f"{len(parts):,} files, {len(whole):,} bytes in all", flush=True)
    cluster = LocalCluster(work / "cluster")
    ok = True
    try:
        cluster.start(datanodes=3, settings=SETTINGS)
        with FileSystem.from_cluster(cluster.directory) as fs:
            start = time.perf_counter()
            fs.write_bytes("/one/all.txt", whole)
            for i, part in enumerate(parts):
                fs.write_bytes(f"/many/{i:06d}.txt", part)
            print(f"uploaded in {time.perf_counter() - start:.1f} s (not timed)", flush=True)
            best: dict[str, float] = {}
            outputs: dict[str, dict[str, str]] = {}
            jobs: dict[str, dict[str, Any]] = {}
            for n in range(args.repeat):
                for name, inputs in (("one file", "/one"), ("small files", "/many")):
                    output = f"/out/{name.replace(' ', '-')}-{n}"
                    seconds, result = run_job(cluster, inputs, output)
                    if not result.ok:
                        print(f"FAIL {name}: {result.error}")
                        return 1
                    status = result.status
                    print(
                        f"  {name:<12} {seconds:6.2f} s  {status['maps']:>4} maps "
                        f"({result.counters.get('DATA_LOCAL_MAPS', 0)} data-local)",
                        flush=True,
                    )
                    best[name] = min(best.get(name, seconds), seconds)
                    jobs[name] = {"maps": status["maps"], "counters": result.counters}
                    outputs[name] = {
                        line.split("\t")[0]: line
                        for e in fs.ls(output)
                        if e.name.startswith("part-")
                        for line in fs.read_bytes(e.path).decode().splitlines()
                    }
            ok = outputs["one file"] == outputs["small files"]
    finally:
        cluster.stop()
    ratio = best["small files"] / best["one file"]
    verdict = "met" if ratio <= TARGET else "NOT met"
    print(
        f"\nsmall files {best['small files']:.2f} s vs one file {best['one file']:.2f} s: "
        f"{ratio:.2f}x the time (target at most {TARGET}x: {verdict}); outputs equal: {ok}"
    )
    append_result(
        RESULTS,
        files=len(parts),
        size=args.size,
        bytes=len(whole),
        repeat=args.repeat,
        best_s=best,
        ratio=ratio,
        jobs=jobs,
        equal=ok,
    )
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("--files", type=int, default=10_000, help="how many small files")
    parser.add_argument("--size", type=int, default=10 * 1024, help="bytes per small file")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each job")
    parser.add_argument(
        "--corpus-dir",
        type=Path,
        default=wordcount.parse_args([]).corpus_dir,
        help="where generated corpora are cached",
    )
    workdir_options(parser)
    args = parser.parse_args(argv)
    if args.files < 1 or args.size < 1 or args.repeat < 1:
        parser.error("--files, --size and --repeat must be at least 1")
    return run_in_workdir(args, run, prefix="minihadoop-bench-small-")


if __name__ == "__main__":
    sys.exit(main())
