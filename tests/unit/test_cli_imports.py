"""A command imports what it needs and not what other commands do: `minihadoop fs ls` is
mostly import time, so a module-level import of a server framework, the job client or the
local cluster in the wrong place shows at every command. Each command runs in a fresh
interpreter, against a folder with no cluster in it (it fails after its imports are done),
and the modules it loaded are compared with what it must not load."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = """
import sys
from cli.main import main
sys.argv = ["minihadoop", *sys.argv[1:]]
try:
    main()
except SystemExit:
    pass
print("MODULES", *sorted(sys.modules))
"""
SERVERS = ["fastapi", "uvicorn", "httptools", "uvloop"]
GROUPS = ["cli.fs", "cli.job", "cli.admin", "cli.cluster", "cli.lock"]
# The daemons' commands and settings: pydantic-settings, for `Settings`, is for daemons only.
DAEMONS = ["cli.daemons", "minihadoop.config", "pydantic_settings"]


def loaded(tmp_path: Path, *argv: str) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, *argv],
        cwd=ROOT,  # this checkout's code, whatever is installed
        env={"PATH": "/usr/bin:/bin", "MINIHADOOP_HOME": str(tmp_path)},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert "no cluster found" in done.stderr, done.stderr  # it got as far as its client
    line = next(x for x in done.stdout.splitlines() if x.startswith("MODULES "))
    return set(line.split()[1:])


def below(modules: set[str], names: list[str]) -> set[str]:
    """Those of `modules` that are one of `names` or inside one."""
    return {m for m in modules for n in names if m == n or m.startswith(n + ".")}


def test_fs_ls_loads_neither_servers_nor_other_commands(tmp_path: Path) -> None:
    modules = loaded(tmp_path, "fs", "ls", "/")
    assert "cli.fs" in modules
    others = [g for g in GROUPS if g != "cli.fs"]
    heavy = ["mapreduce", "cloudpickle", "minihadoop.localcluster", "minihadoop.locks",
             "coord.leases", "cli.progress"]  # fmt: skip
    assert below(modules, SERVERS + DAEMONS + others + heavy) == set()


@pytest.mark.parametrize("command", ["list", "submit"])
def test_job_commands_load_neither_servers_nor_other_commands(tmp_path: Path, command: str) -> None:
    script = tmp_path / "job.py"
    script.write_text("def mapper(key, value):\n    yield key, value\n")
    argv = ["-i", "/in", "-o", "/out"] if command == "submit" else []
    modules = loaded(tmp_path, "job", command, *([str(script)] if argv else []), *argv)
    assert "cli.job" in modules
    others = [g for g in GROUPS if g != "cli.job"]
    heavy = ["minihadoop.localcluster", "minihadoop.locks", "coord.leases"]
    assert below(modules, SERVERS + DAEMONS + others + heavy) == set()


@pytest.mark.parametrize("argv", [["fs", "-ls", "/"], ["--debug", "fs", "ls", "/"]])
def test_hadoop_spellings_and_debug_load_no_more(tmp_path: Path, argv: list[str]) -> None:
    modules = loaded(tmp_path, *argv)
    assert below(modules, [*SERVERS, "cli.job", "cli.admin", "mapreduce"]) == set()
