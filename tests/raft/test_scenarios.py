"""Raft scenarios as transcripts: each file in testdata/ is a script of commands (see
tests/raft/interaction.py for the vocabulary), each followed by `----` and the trace it must
produce, then a blank line. Lines starting with `#` explain the scenario.

    command arg arg
    ----
    expected output

After a deliberate change of behaviour, rewrite the expected traces and read the diff:

    REWRITE=1 pytest tests/raft/test_scenarios.py
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.raft.interaction import InteractionEnv

TESTDATA = Path(__file__).parent / "testdata"


@dataclass
class Case:
    comments: list[str]
    command: str
    expected: str
    line: int


def parse(text: str) -> list[Case]:
    cases: list[Case] = []
    lines = text.splitlines()
    comments: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.strip() or line.startswith("#"):
            if line.strip():
                comments.append(line)
            i += 1
            continue
        if i + 1 >= len(lines) or lines[i + 1] != "----":
            raise ValueError(f"line {i + 2}: expected ---- after {line!r}")
        end = i + 2
        while end < len(lines) and lines[end].strip():
            end += 1
        cases.append(Case(comments, line, "\n".join(lines[i + 2 : end]), i + 1))
        comments = []
        i = end
    return cases


def render(cases: list[Case], outputs: list[str]) -> str:
    blocks = []
    for case, output in zip(cases, outputs, strict=True):
        body = "\n".join([*case.comments, case.command, "----"])
        blocks.append(body + ("\n" + output if output else ""))
    return "\n\n".join(blocks) + "\n"


@pytest.mark.parametrize("path", sorted(TESTDATA.glob("*.txt")), ids=lambda p: p.stem)
def test_scenario(path: Path) -> None:
    cases = parse(path.read_text())
    env, outputs = InteractionEnv(), []
    for case in cases:
        name, *args = case.command.split()
        outputs.append(env.run(name, args))
    if os.environ.get("REWRITE"):
        path.write_text(render(cases, outputs))
        return
    for case, output in zip(cases, outputs, strict=True):
        assert output == case.expected, f"{path.name}:{case.line}: {case.command}"
