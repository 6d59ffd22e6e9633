"""What every benchmark script shares: the commit it measured, and clean stops."""

from __future__ import annotations

import subprocess
from pathlib import Path
from types import FrameType

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
