"""fsck: the health of every block under a path, ending with Hadoop's verdict line.

HEALTHY unless some block has no good replica (missing or only corrupt replicas), exactly as
Hadoop decides; under-replicated blocks are listed but do not make the filesystem CORRUPT.
"""

from __future__ import annotations

from typing import Any

from minihadoop import paths
from namenode.namespace import File
from namenode.namesystem import Namesystem


def fsck_report(system: Namesystem, path: str) -> dict[str, Any]:
    path = paths.normalize(path)
    system.read_barrier()  # a follower's block map may be behind: fsck is the leader's
    with system.lock:
        # Every folder below is listed: r-x on each, as a content summary needs.
        system.may(lambda may: may.summary(path))
        live = system.datanodes.live()
        files: list[dict[str, Any]] = []
        counts = {"files": 0, "directories": 0, "blocks": 0, "size": 0}
        problems = {"under_replicated": 0, "missing": 0, "corrupt": 0}
        for p, node in system.ns.walk(path):
            if not isinstance(node, File):
                counts["directories"] += 1
                continue
            counts["files"] += 1
            counts["size"] += node.length
            blocks = []
            for rec in node.blocks:
                counts["blocks"] += 1
                good = sorted(n for n in system.blocks.holders(rec.block_id) if n in live)
                nodes = system.datanodes.nodes
                bad = sorted(
                    nodes[n].url if n in nodes else n
                    for n in system.blocks.corrupt_holders(rec.block_id)
                )
                state = _state(len(good), len(bad), node.replication)
                if state != "HEALTHY":
                    problems[state.lower()] += 1
                blocks.append(
                    {
                        "block_id": rec.block_id,
                        "length": rec.length,
                        "state": state,
                        "live_replicas": len(good),
                        "expected": node.replication,
                        "locations": [live[n].url for n in good],
                        "corrupt_locations": bad,
                    }
                )
            files.append(
                {
                    "path": p,
                    "length": node.length,
                    "replication": node.replication,
                    "blocks": blocks,
                }
            )
        healthy = problems["missing"] == 0 and problems["corrupt"] == 0
        status = "HEALTHY" if healthy else "CORRUPT"
        return {
            "path": path,
            "status": status,
            **counts,
            **problems,
            "datanodes": len(live),
            "files_detail": files,
            "verdict": f"The filesystem under path '{path}' is {status}",
        }


def _state(good: int, bad: int, expected: int) -> str:
    if good == 0:
        return "CORRUPT" if bad else "MISSING"
    if good < expected:
        return "UNDER_REPLICATED"
    return "HEALTHY"
