"""What every benchmark script shares: the commit it measured, and clean stops."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import tempfile
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


def terminate(signum: int, _frame: FrameType | None) -> None:
    """SIGTERM handler: unwind like Ctrl-C, so the finally blocks stop the daemons."""
    raise KeyboardInterrupt(f"signal {signum}")


def run_in_workdir(args: Any, run: Callable[[Any, Path], None]) -> int:
    """Run a benchmark in a fresh temp folder (args.tmpdir), removed afterwards unless
    args.keep; SIGTERM and Ctrl-C unwind cleanly (exit 130)."""
    signal.signal(signal.SIGTERM, terminate)
    work = Path(tempfile.mkdtemp(prefix="minihadoop-bench-", dir=args.tmpdir))
    try:
        run(args, work)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    finally:
        if args.keep:
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0
