"""The cluster at a glance: capacity, datanodes, block health, safe mode, recent events."""

from __future__ import annotations

from typing import Any

from namenode.namesystem import Namesystem
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
            "files_being_written": len(system.ns.under_construction),
            "events": [
                {"time": e.time, "kind": e.kind, "message": e.message}
                for e in list(system.events)[-50:]
            ],
        }
