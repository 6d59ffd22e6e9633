"""What every benchmark script shares: the commit it measured, clean stops, and the CPU and
memory of a process tree."""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent


def git_commit() -> str | None:
    """The short commit hash of the tree being measured, or None outside a checkout."""
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=BENCH_DIR,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    return done.stdout.strip() or None


def append_result(path: Path, **fields: Any) -> None:
    """One run as a JSON line at the end of `path`: the commit and time it measured, then
    `fields`."""
    record = {
        "commit": git_commit(),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        **fields,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        f.write(json.dumps(record) + "\n")


def terminate(signum: int, _frame: FrameType | None) -> None:
    """SIGTERM handler: unwind like Ctrl-C, so the finally blocks stop the daemons."""
    raise KeyboardInterrupt(f"signal {signum}")


def workdir_options(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The options `run_in_workdir` reads: where the temp folder goes, and keeping it."""
    parser.add_argument("--tmpdir", type=Path, default=None, help="where the temp folder goes")
    parser.add_argument("--keep", action="store_true", help="keep the temp folder for a look")
    return parser


def run_in_workdir(
    args: Any, run: Callable[[Any, Path], int | None], prefix: str = "minihadoop-bench-"
) -> int:
    """Run a benchmark in a fresh temp folder (args.tmpdir), removed afterwards unless
    args.keep; SIGTERM and Ctrl-C unwind cleanly (exit 130). The exit code is what `run`
    returns (None: 0)."""
    signal.signal(signal.SIGTERM, terminate)
    work = Path(tempfile.mkdtemp(prefix=prefix, dir=args.tmpdir))
    try:
        code = run(args, work)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    finally:
        if args.keep:
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    return code or 0


# --- the process tree's memory and CPU ------------------------------------------------------

SAMPLE_EVERY = 0.1
TICK = os.sysconf("SC_CLK_TCK")


def descendants(root: int) -> list[int]:
    """`root` and every live descendant, from /proc/<pid>/task/<tid>/children."""
    found, i = [root], 0
    while i < len(found):
        pid = found[i]
        i += 1
        with contextlib.suppress(OSError):
            for tid in os.listdir(f"/proc/{pid}/task"):
                with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{tid}/children") as f:
                    found += [int(c) for c in f.read().split()]
    return found


def rss_bytes(pid: int) -> int:
    with contextlib.suppress(OSError), open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0  # gone, or a zombie


def cpu_seconds(pid: int) -> float:
    """utime + stime + cutime + cstime: the process's and its reaped descendants' CPU time."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(x) for x in fields[11:15]) / TICK


def machine_busy_seconds() -> float:
    """CPU time every process on the machine has used since boot (all cores), counting time
    the hypervisor gave to other guests (steal), from the first line of /proc/stat."""
    with open("/proc/stat") as f:
        fields = f.readline().split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return (user + nice + system + irq + softirq + steal) / TICK


class TreeSampler:
    """Samples this process's tree every `SAMPLE_EVERY` s while in its `with` block."""

    def __init__(self, root: int | None = None) -> None:
        self.root = root or os.getpid()
        self.idle_rss = self.peak_rss = 0
        self.cpu = self.others = 0.0
        self.samples = 0
        self._busy_start = 0.0
        self._cpu_start: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="tree-sampler", daemon=True)

    def _sample(self) -> list[int]:
        pids = descendants(self.root)
        rss = sum(rss_bytes(p) for p in pids)
        self.peak_rss = max(self.peak_rss, rss)
        self.samples += 1
        return pids

    def _loop(self) -> None:
        while not self._stop.wait(SAMPLE_EVERY):
            self._sample()

    def __enter__(self) -> TreeSampler:
        pids = descendants(self.root)
        self._cpu_start = {p: cpu_seconds(p) for p in pids}
        self.idle_rss = sum(rss_bytes(p) for p in pids)
        self._busy_start = machine_busy_seconds()
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()
        pids = self._sample()
        self.cpu = sum(cpu_seconds(p) - self._cpu_start.get(p, 0.0) for p in pids)
        # the rest of the machine's CPU time: other people's work, the noise
        self.others = max(0.0, machine_busy_seconds() - self._busy_start - self.cpu)
