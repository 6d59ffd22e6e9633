"""How long the `minihadoop` command takes, from the shell's point of view, in one run.

On a local cluster started with `minihadoop cluster up` and its default settings (namenode,
3 datanodes, job tracker, 3 workers), `--repeat` times each (default 10), each a new process
timed from its start to its exit:

* **python -c pass** — the interpreter starting and stopping: the floor of any command.
* **import cli.main** — ``python -c "import cli.main"``: what every command imports before it
  parses its arguments.
* **fs ls /** — `minihadoop fs ls /` on a root folder of a few entries: import, read
  cluster.json, one listing call, print.
* **job submit** — `minihadoop job submit` of a word count script (one map over a one-line
  file, one reduce) until the command exits, having seen the job end; each to a new output
  folder. Its output is checked. The job tracker's own duration of each job (what the command
  prints) is recorded beside it: the rest is the command's share (start, submit, the wait).

Ratios divide a row's median by the `python -c pass` median. The first job runs pay for what
later ones reuse (the workers' forkservers); each job's time is printed. Results are appended
as one JSON line to `bench/results/cli_latency.jsonl`.

Run: ``.venv/bin/python bench/cli_latency.py [--repeat 10]``
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from common import BENCH_DIR, append_result, run_in_workdir, workdir_options

RESULTS = BENCH_DIR / "results" / "cli_latency.jsonl"
LINE = 'The quick brown fox jumps over the lazy dog\'s back; "twice," said the Fox.\n'
SCRIPT = """\
def mapper(_offset, line):
    for word in line.split():
        yield word, 1


def reducer(word, counts):
    yield word, sum(counts)
"""
DURATION = re.compile(r" SUCCEEDED in (\d+\.\d+)s")


def minihadoop() -> list[str]:
    """The console script beside this interpreter (what a user runs), else ``-m cli``."""
    script = Path(sys.executable).parent / "minihadoop"
    return [str(script)] if script.exists() else [sys.executable, "-m", "cli"]


def command_env(work: Path) -> dict[str, str]:
    """The commands' environment: this run's cluster, not one the shell points at; and
    bytecode written and reused, as in any install (a shell that forbids writing it, as
    some CI and sandboxes do, would time the compiler at every start)."""
    env = {**os.environ, "MINIHADOOP_HOME": str(work / "cluster")}
    for name in ("MINIHADOOP_NAMENODE", "MINIHADOOP_JOBTRACKER", "PYTHONDONTWRITEBYTECODE"):
        env.pop(name, None)
    return env


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, str]:
    """Wall time of `argv` from start to exit, and its stdout; a failure stops the run."""
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"FAIL: {' '.join(argv)} exited {done.returncode}: {done.stderr[-2000:]}")
    return seconds, done.stdout


def row(name: str, seconds: list[float], floor: float) -> dict[str, Any]:
    median = statistics.median(seconds)
    return {"name": name, "seconds": seconds, "min": min(seconds), "median": median,
            "max": max(seconds), "vs_python": median / floor}  # fmt: skip


def measure(work: Path, repeat: int) -> list[dict[str, Any]]:
    cmd = minihadoop()
    env = command_env(work)
    (work / "line.txt").write_text(LINE)
    (work / "count.py").write_text(SCRIPT)
    timed([*cmd, "fs", "put", str(work / "line.txt"), "/in.txt"], env)
    runs: dict[str, list[float]] = {"python -c pass": [], "import cli.main": [], "fs ls /": []}
    for _ in range(repeat):  # interleaved, so that noise falls on every row alike
        runs["python -c pass"].append(timed([sys.executable, "-c", "pass"], env)[0])
        runs["import cli.main"].append(timed([sys.executable, "-c", "import cli.main"], env)[0])
        runs["fs ls /"].append(timed([*cmd, "fs", "ls", "/"], env)[0])
    submit, tracker = [], []
    for i in range(repeat):
        argv = [*cmd, "job", "submit", str(work / "count.py"), "-i", "/in.txt", "-o", f"/out-{i}"]
        seconds, out = timed(argv, env)
        found = DURATION.search(out)
        if found is None:
            raise SystemExit(f"FAIL: job {i} did not say it succeeded: {out}")
        _, text = timed([*cmd, "fs", "cat", f"/out-{i}/part-r-00000"], env)
        got = Counter({w: int(n) for w, n in (line.split("\t") for line in text.splitlines())})
        if got != Counter(LINE.split()):
            raise SystemExit(f"FAIL: job {i} counted {got}, expected {Counter(LINE.split())}")
        submit.append(seconds)
        tracker.append(float(found.group(1)))
        print(f"  job {i + 1:>2}/{repeat} {seconds:6.2f} s (job tracker: {found.group(1)} s)")
    floor = statistics.median(runs["python -c pass"])
    rows = [row(name, seconds, floor) for name, seconds in runs.items()]
    return [
        *rows,
        row("job submit", submit, floor),
        row("job (tracker's duration)", tracker, floor),
    ]


def table(rows: list[dict[str, Any]]) -> str:
    header = f"{'measurement':<26} {'min s':>7} {'median s':>9} {'max s':>7} {'vs python':>10}"
    lines = [header, "-" * len(header)]
    for r in rows:
        lines.append(f"{r['name']:<26} {r['min']:7.3f} {r['median']:9.3f} {r['max']:7.3f} "
                     f"{r['vs_python']:9.1f}x")  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("--repeat", type=int, default=10, help="runs of each measurement")
    workdir_options(parser)
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    print("machine shared with other work: expect noise, the max above all")

    def run(args: argparse.Namespace, work: Path) -> None:
        cmd, env = minihadoop(), command_env(work)
        timed([*cmd, "cluster", "up"], env)
        try:
            rows = measure(work, args.repeat)
        finally:
            subprocess.run([*cmd, "cluster", "down"], env=env, capture_output=True, timeout=120)
        print(f"\n{args.repeat} runs each; 'vs python' = median / python -c pass's median")
        print(table(rows))
        append_result(RESULTS, repeat=args.repeat, results=rows)
        print(f"\nappended to {RESULTS}")

    return run_in_workdir(args, run, prefix="minihadoop-bench-cli-")


if __name__ == "__main__":
    sys.exit(main())
