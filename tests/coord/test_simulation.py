"""Seeded runs of the lock service simulation (tests/coord/sim.py), each checking after
every step that no lock is held twice — in the replicas, in the clients' beliefs, at the
resource — and, once healed, that every client is granted its locks.

    COORD_SIM_SEEDS=2000 pytest tests/coord/test_simulation.py   # a soak: more seeds
    SEED=123 NODES=5 pytest tests/coord/test_simulation.py::test_replay -s   # one, traced
"""

from __future__ import annotations

import os
from collections import Counter

import pytest

from tests.coord.sim import CoordSimulation

SEEDS = int(os.environ.get("COORD_SIM_SEEDS", "80"))
BATCH = 20  # seeds per test, so a failure names a small range and progress shows
NODES = {3: SEEDS, 5: max(BATCH, SEEDS // 4)}  # five nodes cost twice as much per seed


def run_seed(seed: int, nodes: int, *, trace: bool = False) -> Counter[str]:
    sim = CoordSimulation(seed, nodes, trace=trace)
    try:
        sim.run()
    except Exception as e:
        replay = f"SEED={seed} NODES={nodes} pytest tests/coord/test_simulation.py::test_replay -s"
        raise AssertionError(f"seed {seed}, {nodes} nodes: {e}\nreplay: {replay}") from e
    return sim.stats


@pytest.mark.parametrize(
    ("nodes", "start"), [(n, s) for n, seeds in NODES.items() for s in range(0, seeds, BATCH)]
)
def test_seeds(nodes: int, start: int) -> None:
    stats: Counter[str] = Counter()
    for seed in range(start, min(start + BATCH, NODES[nodes])):
        stats += run_seed(seed, nodes)
    # The runs reach what the checks are for: sessions expired and locks passed on, and
    # a holder paused past its lease that writes with its old token, refused.
    assert stats["grants"] and stats["ended"] and stats["stale writes refused"], stats


def test_replay(capsys: pytest.CaptureFixture[str]) -> None:
    """One run, traced: the seed in $SEED (0 when unset), and it replays exactly."""
    seed, nodes = int(os.environ.get("SEED", "0")), int(os.environ.get("NODES", "3"))
    run_seed(seed, nodes, trace=True)
    first = capsys.readouterr().out
    run_seed(seed, nodes, trace=True)
    assert capsys.readouterr().out == first != ""
    print(first)
