"""The lock service's core is pure, as tests/unit/test_pure_core.py asks of the others: no
I/O, clock or threads, in its own modules or in the project modules they import."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.test_pure_core import FORBIDDEN, PROJECT_PACKAGES, forbidden_imports, imports_of

ROOT = Path(__file__).resolve().parents[2]
CORE = ["coord", "coord.commands", "coord.errors", "coord.leases", "coord.machine"]


@pytest.mark.parametrize("module", CORE)
def test_the_lock_service_core_imports_no_io_clock_or_threads(module: str) -> None:
    base = ROOT.joinpath(*module.split("."))
    path = base / "__init__.py" if base.is_dir() else base.with_suffix(".py")
    found = imports_of(path, module)
    assert {name for name in found if name.split(".")[0] in FORBIDDEN} == set()
    for name in found:
        if name.split(".")[0] in PROJECT_PACKAGES:
            assert forbidden_imports(name, through_packages=False) == {}, name
