"""The pure core rule: the namespace, its commands, the block map, placement, replication,
safe mode and the datanode registry do no I/O, read no clock and start no threads. They
are driven by arguments (`now`, an injected `random.Random`) and return decisions.

Checked by reading import statements, following imports of the project's own modules, so
a core module cannot reach a forbidden one through a helper either.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROJECT_PACKAGES = {"minihadoop", "raft", "coord", "namenode", "datanode", "mapreduce", "cli"}
FORBIDDEN = {
    "asyncio",
    "fastapi",
    "httpx",
    "os",
    "socket",
    "starlette",
    "subprocess",
    "threading",
    "time",
    "uvicorn",
}
PURE = [
    "raft.types",
    "raft.config",
    "raft.core",
    "raft.log",
    "raft.progress",
    "raft.readindex",
    "namenode.namespace",
    "namenode.commands",
    "namenode.permissions",
    "namenode.blockmap",
    "namenode.early_replicas",
    "namenode.replication",
    "namenode.safemode",
    "namenode.datanodes",
    "namenode.placement",
    "mapreduce.scheduler",
    "mapreduce.records",
    "mapreduce.splits",
    "mapreduce.partition",
    "namenode.timeline",
    "namenode.leases",
    "datanode.recovery",
    "raft.framing",
    "raft.records",
    "raft.replay",
    "datanode.fence",
    "datanode.incremental",
    "coord.commands",
    "coord.errors",
    "coord.machine",
    "coord.leases",
]


def module_file(module: str) -> Path | None:
    """The source of a project module, or None for third-party and standard modules."""
    if module.split(".")[0] not in PROJECT_PACKAGES:
        return None
    base = ROOT.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def imports_of(path: Path, module: str) -> set[str]:
    """Every module `path` imports, anywhere in it, as absolute dotted names."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                prefix = ".".join([*base, node.module] if node.module else base)
            else:
                prefix = node.module or ""
            found.add(prefix)
            # `from pkg import name` may import the submodule pkg.name.
            found.update(f"{prefix}.{alias.name}" for alias in node.names)
    return found


def forbidden_imports(module: str, *, through_packages: bool = True) -> dict[str, str]:
    """Forbidden modules reachable from `module`: name -> the project module importing it.

    Follows imports of project modules; `through_packages=False` does not follow into
    package `__init__` files (what `from minihadoop import paths` runs first).
    """
    bad: dict[str, str] = {}
    seen: set[str] = set()
    todo = [module]
    while todo:
        current = todo.pop()
        path = module_file(current)
        if current in seen or path is None:
            continue
        seen.add(current)
        for name in imports_of(path, current):
            target = module_file(name)
            if name.split(".")[0] in FORBIDDEN:
                bad.setdefault(name, current)
            elif target is not None and (through_packages or target.name != "__init__.py"):
                todo.append(name)
    return bad


@pytest.mark.parametrize("module", PURE)
def test_core_module_imports_no_io_clock_or_threads(module: str) -> None:
    path = module_file(module)
    assert path is not None, f"{module} not found"
    direct = {name for name in imports_of(path, module) if name.split(".")[0] in FORBIDDEN}
    assert direct == set()


@pytest.mark.parametrize("module", PURE)
def test_core_module_reaches_none_through_project_modules(module: str) -> None:
    assert forbidden_imports(module, through_packages=False) == {}


def test_importing_the_core_does_not_load_the_client() -> None:
    # At run time, in a fresh interpreter: the package's lazy exports must not drag the HTTP
    # client (or anything else with I/O) into a process that only wants the namespace.
    code = (
        "import sys, namenode.namespace, namenode.replication, namenode.placement\n"
        "print(','.join(sorted(m for m in ('httpx', 'fastapi', 'asyncio') if m in sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_the_check_sees_every_form_of_import(tmp_path: Path) -> None:
    source = tmp_path / "sample.py"
    source.write_text(
        "import os.path\n"
        "from time import monotonic\n"
        "from . import sibling\n"
        "from ..other import thing\n"
        "def f():\n"
        "    import threading\n"
    )
    found = imports_of(source, "namenode.sub.sample")
    assert {"os.path", "time", "threading", "namenode.sub.sibling"} <= found
    assert "namenode.other.thing" in found


def test_the_check_follows_project_imports() -> None:
    # The Raft storage is not pure; reached through the upgrade of old name folders, which
    # imports no os itself, the os of the modules it uses must be reported as theirs.
    assert forbidden_imports("namenode.upgrade")["os"] != "namenode.upgrade"
    assert "threading" in forbidden_imports("namenode.namesystem")
