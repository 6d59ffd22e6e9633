"""Block recovery: what the replicas of a dead writer's last block are brought to. Pure.

The primary datanode of a lease recovery asks every node the namenode named for its
replica of the block, then `plan_recovery` decides, by HDFS's rule: among the replicas
found with a stamp older than the recovery id, the shortest length is the one every one of
them has, so each is cut to it and restamped; a node that did not answer or holds no
replica is left out (the namenode re-replicates from the others). No replica: length 0,
and the namenode drops the block.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from minihadoop.models import ReplicaReport


@dataclass(frozen=True, slots=True)
class RecoveryPlan:
    length: int
    holders: tuple[str, ...]  # datanode ids whose replica is cut to `length` and restamped


def plan_recovery(
    replicas: Mapping[str, ReplicaReport | None], gen: int, cut: int = 0
) -> RecoveryPlan:
    """`replicas`: datanode id -> its replica of the block (None: none, or no answer).
    `cut`, for a truncate: the length every replica is cut to; one shorter is left out."""
    found = {n: r for n, r in replicas.items() if r is not None and r.gen < gen}
    if cut:
        found = {n: r for n, r in found.items() if r.length >= cut}
    if not found:
        return RecoveryPlan(0, ())
    length = cut or min(r.length for r in found.values())
    return RecoveryPlan(length, tuple(sorted(found)))
