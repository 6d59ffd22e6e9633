"""Job tracker takeover: how long after kill -9 of the active job tracker the standby is
active, how many finished maps it runs again, and what the failover costs the job.

A local cluster of one namenode, three datanodes (replication 2), three workers and two job
trackers. Each round submits a word count (`--mb` of text in 1 MiB blocks, 3 reduces that
take a few seconds), waits until every map is done and the reduces run, kills -9 the active
job tracker and times until the other one says it is active; the killed one is started
again as the standby, and the job must end SUCCEEDED with the right counts. The baseline,
measured in the same run: the same job with no failover. Figures: takeover time (median,
worst) beside the session TTL it is bounded by; maps run again after the takeovers; the
job's duration with a failover over its duration without.

Results are appended to `bench/results/jobtracker_failover.jsonl`.

Run: ``.venv/bin/python bench/jobtracker_failover.py [--rounds 5] [--ttl 10]``
"""

from __future__ import annotations

import argparse
import signal
import statistics
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from common import append_result, run_in_workdir, workdir_options
from corpus import cached

from mapreduce import Job
from mapreduce.job import RunningJob
from minihadoop.filesystem import FileSystem
from minihadoop.localcluster import LocalCluster

RESULTS = Path(__file__).resolve().parent / "results" / "jobtracker_failover.jsonl"
REDUCERS = 3


def mapper(_offset: int, line: str) -> Iterator[tuple[str, int]]:
    for word in line.split():
        yield word, 1


def slow_reducer(word: str, counts: Iterator[int]) -> Iterator[tuple[str, int]]:
    import time

    time.sleep(0.0005)  # reduces that last seconds, so the kill finds them running
    yield word, sum(counts)


def role(url: str) -> str:
    try:
        return str(httpx.get(f"{url}/health", timeout=2).json()["role"])
    except (httpx.HTTPError, ValueError, KeyError):
        return ""


def wait(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout:.0f} s")
        time.sleep(0.02)


def submit(cluster: LocalCluster, output: str) -> RunningJob:
    return Job(mapper, slow_reducer, combiner=None, inputs=["/bench/in"], output=output,
               num_reducers=REDUCERS, cluster_dir=cluster.directory).submit()  # fmt: skip


def reducing(running: RunningJob) -> bool:
    status = running.status()
    return status["maps_done"] == status["maps"] and any(
        a["kind"] == "REDUCE" and a["state"] == "RUNNING" for a in status["attempts"]
    )


def check(fs: FileSystem, output: str, expected: Counter[str]) -> None:
    names = sorted(e.name for e in fs.ls(output))
    assert names == ["_SUCCESS", *(f"part-r-{r:05d}" for r in range(REDUCERS))], names
    counts: Counter[str] = Counter()
    for name in names[1:]:
        for line in fs.read_bytes(f"{output}/{name}").decode().splitlines():
            word, count = line.split("\t")
            counts[word] += int(count)
    assert counts == expected, "wrong counts"


def main(args: argparse.Namespace, work: Path) -> int:
    text = cached(work, args.mb).read_text()
    expected = Counter(text.split())
    cluster = LocalCluster(work / "cluster")
    settings = {"replication": 2, "jobtracker_session_ttl": args.ttl, "block_size": 1 << 20}
    cluster.start(datanodes=3, jobtrackers=2, settings=settings, timeout=90.0)
    takeovers: list[float] = []
    with_failover: list[float] = []
    rerun = maps = 0
    try:
        with FileSystem.from_cluster(cluster.directory) as fs:
            fs.write_bytes("/bench/in", text.encode())
            started = time.monotonic()
            baseline = submit(cluster, "/bench/baseline").wait()
            plain = time.monotonic() - started
            assert baseline.ok, baseline.error
            check(fs, "/bench/baseline", expected)
            for i in range(args.rounds):
                urls = {d.url: d.name for d in cluster._require().daemons}
                active = cluster.active_jobtracker()
                standby = next(u for u in cluster.jobtracker_urls() if u != active)
                started = time.monotonic()
                running = submit(cluster, f"/bench/out{i}")
                wait(lambda r=running: reducing(r), 120, "maps done, reduces running")
                cluster.kill(urls[active], signal.SIGKILL)
                killed = time.monotonic()
                wait(lambda s=standby: role(s) == "active", 120, "the standby active")
                takeovers.append(time.monotonic() - killed)
                cluster.restart(urls[active])  # the next round's standby
                result = running.wait()
                with_failover.append(time.monotonic() - started)
                assert result.ok, result.error
                check(fs, f"/bench/out{i}", expected)
                done = [a for a in result.status["attempts"] if a["kind"] == "MAP"]
                maps += result.status["maps"]
                rerun += sum(1 for a in done if int(a["id"].rsplit("_", 1)[1]) >= 1000)
                print(f"round {i + 1}: takeover {takeovers[-1]:.2f} s, job "
                      f"{with_failover[-1]:.1f} s", flush=True)  # fmt: skip
    finally:
        cluster.stop()
    median, worst = statistics.median(takeovers), max(takeovers)
    ratio = statistics.median(with_failover) / plain
    print(
        f"takeover after kill -9 of the active job tracker: median {median:.2f} s, worst "
        f"{worst:.2f} s (session TTL {args.ttl:g} s); maps run again: {rerun} of {maps}; "
        f"job with a failover {statistics.median(with_failover):.1f} s vs {plain:.1f} s "
        f"without: {ratio:.2f}x"
    )
    append_result(RESULTS, rounds=args.rounds, ttl=args.ttl, mb=args.mb,
                  takeover_median_s=round(median, 3), takeover_worst_s=round(worst, 3),
                  maps_rerun=rerun, maps=maps, job_plain_s=round(plain, 2),
                  job_with_failover_s=round(statistics.median(with_failover), 2),
                  ratio=round(ratio, 3))  # fmt: skip
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--ttl", type=float, default=10.0, help="the job trackers' session TTL")
    parser.add_argument("--mb", type=float, default=8.0, help="MiB of text to count")
    workdir_options(parser)
    sys.exit(run_in_workdir(parser.parse_args(), main))
