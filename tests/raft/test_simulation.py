"""Many seeded runs of the Raft simulation (tests/raft/sim.py), each checking Raft's safety
properties after every step and liveness once faults stop.

    RAFT_SIM_SEEDS=100000 pytest tests/raft/test_simulation.py   # a soak: more seeds
    SEED=123 NODES=5 pytest tests/raft/test_simulation.py::test_replay -s   # one run, traced
"""

from __future__ import annotations

import os

import pytest

from tests.raft.sim import Simulation

SEEDS = int(os.environ.get("RAFT_SIM_SEEDS", "1000"))
BATCH = 100  # seeds per test, so a failure names a small range and progress shows


def run_seed(seed: int, nodes: int, *, trace: bool = False) -> None:
    try:
        Simulation(seed, nodes, trace=trace).run()
    except Exception as e:
        replay = f"SEED={seed} NODES={nodes} pytest tests/raft/test_simulation.py::test_replay -s"
        raise AssertionError(f"seed {seed}, {nodes} nodes: {e}\nreplay: {replay}") from e


@pytest.mark.parametrize("nodes", [3, 5])
@pytest.mark.parametrize("start", range(0, SEEDS, BATCH))
def test_seeds(nodes: int, start: int) -> None:
    for seed in range(start, min(start + BATCH, SEEDS)):
        run_seed(seed, nodes)


def test_replay(capsys: pytest.CaptureFixture[str]) -> None:
    """One run, traced: the seed in $SEED (0 when unset, so the replay path itself is
    exercised on every run), and it replays exactly — the same trace twice."""
    seed, nodes = int(os.environ.get("SEED", "0")), int(os.environ.get("NODES", "3"))
    run_seed(seed, nodes, trace=True)
    first = capsys.readouterr().out
    run_seed(seed, nodes, trace=True)
    assert capsys.readouterr().out == first != ""
    print(first)
