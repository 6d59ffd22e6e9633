"""The balancer: moves replicas between datanodes until every node's use is within a
threshold of the cluster's mean, as HDFS's Balancer does.

Each iteration reads every live datanode's use from the namenode and sorts the nodes as
HDFS does — over-utilized (more than the threshold above the mean), above the mean, below
it, under-utilized — then pairs over with under, over with below, above with under, and for
each pair picks blocks of the source that the target does not hold, up to what brings
either to the mean and what the throttle allows each node this iteration. The namenode
carries each move out (`namenode.replication`): the source copies its replica to the
target, and only once the target has it is the source's deleted, so a move never lowers a
block's replication; and it refuses a move that would put a block on fewer racks. The
balancer then waits for the moves, and for the datanodes' next reports, and goes again.

It keeps nothing between runs: stopped at any point, a run started later takes up from
the cluster as it then is. One runs at a time (the lock service's lock ``balancer``).

`plan` is pure; `Balancer` talks to the cluster.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from minihadoop.errors import MiniHadoopError

# The four classes HDFS sorts datanodes into, by their use against the mean.
OVER, ABOVE, BELOW, UNDER = "over-utilized", "above-average", "below-average", "under-utilized"


@dataclass(frozen=True, slots=True)
class NodeUse:
    id: str
    capacity: int
    used: int

    @property
    def utilization(self) -> float:
        """Percent of its capacity in use."""
        return 100.0 * self.used / self.capacity if self.capacity else 0.0


@dataclass(frozen=True, slots=True)
class Move:
    block_id: int
    source: str
    target: str
    length: int


@dataclass(slots=True)
class Classes:
    mean: float
    nodes: dict[str, list[NodeUse]] = field(default_factory=dict)

    @property
    def balanced(self) -> bool:
        return not self.nodes[OVER] and not self.nodes[UNDER]


def classify(nodes: Iterable[NodeUse], threshold: float) -> Classes:
    """The cluster's mean use (over all capacity) and each node's class."""
    live = [n for n in nodes if n.capacity > 0]
    total = sum(n.capacity for n in live)
    mean = 100.0 * sum(n.used for n in live) / total if total else 0.0
    classes = Classes(mean, {OVER: [], ABOVE: [], BELOW: [], UNDER: []})
    for n in live:
        u = n.utilization
        if u > mean + threshold:
            classes.nodes[OVER].append(n)
        elif u > mean:
            classes.nodes[ABOVE].append(n)
        elif u >= mean - threshold:
            classes.nodes[BELOW].append(n)
        else:
            classes.nodes[UNDER].append(n)
    return classes


# A node's blocks for the balancer: (block id, length, the nodes holding it).
BlocksOf = Callable[[str, int], list[tuple[int, int, list[str]]]]


def plan(nodes: list[NodeUse], threshold: float, budget: int, blocks_of: BlocksOf) -> list[Move]:
    """The moves of one iteration: no node sends or receives more than `budget` bytes, no
    source goes below the mean and no target above it, and no block moves twice."""
    classes = classify(nodes, threshold)
    mean = classes.mean

    def room(n: NodeUse, sign: int) -> int:
        """Bytes `n` may shed (sign 1) or take (sign -1) before it reaches the mean."""
        return max(0, int(sign * (n.used - mean * n.capacity / 100.0)))

    shed = {n.id: min(room(n, 1), budget) for n in nodes}
    take = {n.id: min(room(n, -1), budget) for n in nodes}
    moving: set[int] = set()
    moves: list[Move] = []
    pairs = [(OVER, UNDER), (OVER, BELOW), (ABOVE, UNDER)]
    for sources, targets in pairs:
        for source in sorted(classes.nodes[sources], key=lambda n: -n.utilization):
            candidates = None
            for target in sorted(classes.nodes[targets], key=lambda n: n.utilization):
                if shed[source.id] <= 0:
                    break
                if take[target.id] <= 0:
                    continue
                if candidates is None:
                    candidates = blocks_of(source.id, 2 * shed[source.id] + 1)
                for block_id, length, holders in candidates:
                    fits = length <= shed[source.id] and length <= take[target.id]
                    if block_id in moving or target.id in holders or not fits:
                        continue
                    moves.append(Move(block_id, source.id, target.id, length))
                    moving.add(block_id)
                    shed[source.id] -= length
                    take[target.id] -= length
    return moves


class Balancer:
    """Run `plan`'s iterations against a cluster through a `FileSystem` until the cluster
    is balanced, or an iteration can move nothing more. `say` is told each step."""

    def __init__(
        self,
        fs: Any,
        *,
        threshold: float = 10.0,
        bandwidth: int = 100 << 20,
        iteration: float = 10.0,
        say: Callable[[str], None] = print,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not 0 < threshold <= 100:
            raise MiniHadoopError(f"the threshold is a percentage, 0 to 100, not {threshold}")
        self.fs = fs
        self.threshold = threshold
        self.bandwidth = bandwidth
        self.iteration = iteration
        self.say = say
        self.clock = clock
        self.sleep = sleep
        self.moved = 0

    def nodes(self) -> tuple[list[NodeUse], dict[str, Any]]:
        status = self.fs.cluster()
        nodes = [
            NodeUse(n["id"], n["capacity"], n["used"])
            for n in status["datanodes"]
            if n["state"] == "LIVE"
        ]
        return nodes, status

    def run(self, max_idle: int = 5) -> bool:
        """Balance; True when the cluster is balanced, False when it can move no more."""
        self.fs.balancer_move([])  # a superuser's, as HDFS's: anybody else stops here
        idle = 0
        iteration = 0
        while True:
            nodes, status = self.nodes()
            classes = classify(nodes, self.threshold)
            if classes.balanced:
                self.say(f"The cluster is balanced (mean use {classes.mean:.1f}%). Exiting...")
                return True
            iteration += 1
            budget = int(self.bandwidth * self.iteration)
            moves = plan(nodes, self.threshold, budget, self.fs.balancer_blocks)
            started = self.clock()
            refused = {
                block_id
                for block_id, _why in self.fs.balancer_move(
                    [(m.block_id, m.source, m.target) for m in moves]
                )
            }
            done = [m for m in moves if m.block_id not in refused]
            moving = sum(m.length for m in done)
            self.say(
                f"Iteration {iteration}: mean use {classes.mean:.1f}%, "
                f"{len(classes.nodes[OVER])} over-utilized and {len(classes.nodes[UNDER])} "
                f"under-utilized nodes; moving {len(done)} blocks ({moving} bytes)"
            )
            if not done:
                idle += 1
                if idle >= max_idle:
                    self.say(f"No block has been moved for {idle} iterations. Exiting...")
                    return False
            else:
                idle = 0
                self._wait_for_moves(status)
                self.moved += moving
                # The throttle: no node sends or takes more than `bandwidth` bytes a second.
                busiest = _busiest(done)
                rest = busiest / self.bandwidth - (self.clock() - started)
                if rest > 0:
                    self.sleep(rest)
            self.say(f"Bytes moved so far: {self.moved}")
            # The datanodes report their new use with their next heartbeats.
            self.sleep(2 * float(status.get("heartbeat_interval", 3.0)))

    def _wait_for_moves(self, status: dict[str, Any]) -> None:
        deadline = self.clock() + max(60.0, 4 * self.iteration)
        while self.fs.cluster().get("balancer_moves", 0) and self.clock() < deadline:
            self.sleep(min(0.5, float(status.get("heartbeat_interval", 3.0))))


def _busiest(moves: list[Move]) -> int:
    """The most bytes any one node sends or takes among `moves`."""
    per: dict[str, int] = {}
    for m in moves:
        per[m.source] = per.get(m.source, 0) + m.length
        per[m.target] = per.get(m.target, 0) + m.length
    return max(per.values(), default=0)
