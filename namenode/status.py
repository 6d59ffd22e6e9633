"""The cluster at a glance: capacity, datanodes, block health, safe mode, recent events."""

from __future__ import annotations

from typing import Any

from namenode.namesystem import ClusterEvent, Namesystem
from namenode.replication import classify


def cluster_status(system: Namesystem, now: float) -> dict[str, Any]:
    with system.lock:
        nodes = []
        capacity = used = remaining = 0
        for n in sorted(system.datanodes.nodes.values(), key=lambda d: d.url):
            if n.is_live:
                capacity, used, remaining = (
                    capacity + n.capacity,
                    used + n.used,
                    remaining + n.remaining,
                )
            nodes.append(
                {
                    "id": n.id,
                    "url": n.url,
                    "rack": n.rack,
                    "state": n.state.value,
                    "last_heartbeat_age": round(max(0.0, now - n.last_heartbeat), 1),
                    "capacity": n.capacity,
                    "used": n.used,
                    "remaining": n.remaining,
                    "active_transfers": n.active_transfers,
                    "blocks": system.blocks.count_on(n.id),
                }
            )
        live = set(system.datanodes.live())
        ids = list(system.ns.complete_block_ids())
        health = classify(
            ids, expected=system.ns.expected_replication, blocks=system.blocks, live=live
        )
        return {
            "started": system.started,
            "namenode": system.ha_status(),
            "safemode": system.safemode.on,
            "safemode_message": system.safemode.describe(),
            "capacity": capacity,
            "used": used,
            "remaining": remaining,
            "datanodes": nodes,
            "live": sum(1 for n in nodes if n["state"] == "LIVE"),
            "dead": sum(1 for n in nodes if n["state"] == "DEAD"),
            "decommissioning": sum(1 for n in nodes if n["state"] == "DECOMMISSIONING"),
            "decommissioned": sum(1 for n in nodes if n["state"] == "DECOMMISSIONED"),
            "blocks": len(ids),
            "under_replicated": len(health.under_replicated),
            "missing": len(health.missing),
            "corrupt": len(health.corrupt),
            "pending_replications": system.replication.in_flight(),
            "balancer_moves": system.replication.moves(),
            "heartbeat_interval": system.settings.heartbeat_interval,
            "files_being_written": len(system.ns.under_construction),
            "events": [
                {"time": e.time, "kind": e.kind, "message": _told(system, e)}
                for e in list(system.events)[-50:]
            ],
        }


def _told(system: Namesystem, event: ClusterEvent) -> str:
    """An event's message, the file it is about named only if anybody may see it there."""
    if event.path is None or system.visible(event.path):
        return event.message
    return event.message.replace(event.path, "a file in a private folder")


def metric_figures(system: Namesystem, now: float) -> dict[str, tuple[str, Any]]:
    """What the namenode's ``/metrics`` reads at each scrape: {name: (help, value)}, HDFS's
    FSNamesystem figures under Prometheus names."""
    s = cluster_status(system, now)
    states = {state: 0 for state in ("LIVE", "DEAD", "DECOMMISSIONING", "DECOMMISSIONED")}
    for n in s["datanodes"]:
        states[n["state"]] += 1
    ha = s["namenode"]
    with system.lock:
        files, folders = system.ns.files, system.ns.folders
    return {
        "capacity_bytes": ("Capacity of the live datanodes", s["capacity"]),
        "used_bytes": ("Bytes the live datanodes hold for the DFS", s["used"]),
        "remaining_bytes": ("Bytes the live datanodes have free", s["remaining"]),
        "files": ("Closed files in the namespace", files),
        "folders": ("Folders in the namespace, / included", folders),
        "files_being_written": ("Files open for writing", s["files_being_written"]),
        "blocks": ("Blocks of closed files", s["blocks"]),
        "under_replicated_blocks": ("Blocks with fewer live replicas than asked for",
                                    s["under_replicated"]),
        "missing_blocks": ("Blocks with no live replica", s["missing"]),
        "corrupt_blocks": ("Blocks whose only replicas are corrupt", s["corrupt"]),
        "pending_replications": ("Replica copies under way", s["pending_replications"]),
        "block_reports_queued": ("Block reports waiting for the processing thread",
                                 system.reports.pending()),
        "early_replicas": ("Replicas reported before their block was applied here",
                           len(system.early)),
        "datanodes": ("Datanodes by state", {k.lower(): v for k, v in states.items()}),
        "safemode": ("1 while in safe mode", int(s["safemode"])),
        "raft_term": ("This namenode's Raft term", ha["term"]),
        "raft_commit_index": ("Highest log index known committed", ha["commit"]),
        "raft_applied_index": ("Highest log index applied to the namespace", ha["applied"]),
        "active": ("1 on the namenode that serves clients (the leader)", int(ha["active"])),
    }  # fmt: skip
