"""Shipping a job's code (mapreduce.serialization) and naming a job: the errors a user can
act on when code cannot travel, and a name that says which job it is."""

from __future__ import annotations

import importlib
import subprocess
import sys
import textwrap
from pathlib import Path

import cloudpickle
import pytest

from mapreduce.job import default_name
from mapreduce.serialization import JobFunctions, UnloadableJobError, loads, seal_payload

KEY = b"k" * 32


def test_a_module_the_worker_lacks_is_named_with_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Installed where the job was submitted (importable by name: pickled by reference)…
    (tmp_path / "mh_only_here.py").write_text("def mapper(k, v):\n    yield v, 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("mh_only_here")
    sealed = seal_payload(cloudpickle.dumps(JobFunctions(mapper=module.mapper)), KEY)
    # …and not where it runs.
    monkeypatch.delitem(sys.modules, "mh_only_here")
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p != str(tmp_path)])
    with pytest.raises(UnloadableJobError) as info:
        loads(sealed, KEY)
    message = str(info.value)
    assert "needs the module 'mh_only_here'" in message
    assert "install it on every worker" in message and "beside the job script" in message


def test_a_job_is_named_after_its_script_not___main__(tmp_path: Path) -> None:
    script = tmp_path / "wordcount.py"
    script.write_text(
        textwrap.dedent(
            """
            from mapreduce.job import default_name

            def mapper(key, line):
                yield line, 1

            print(default_name(mapper))
            """
        )
    )
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "wordcount"
    assert default_name(test_a_job_is_named_after_its_script_not___main__) == __name__
