"""What each dashboard page shows: the data for its template, gathered from the namesystem
(`cluster_status`, `fsck_report`, listings) and the job tracker (`JobTrackerView`).

Each function returns a plain dict for one template. A page of storage facts never asks the
job tracker; the pages that show jobs turn an unavailable job tracker into
``{"jobs_error": message}`` and render everything else as usual.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from minihadoop import paths
from minihadoop.errors import FileNotFoundError_
from namenode.fsck import fsck_report
from namenode.group_view import GroupView
from namenode.jobs_view import JobTrackerUnavailable, JobTrackerView
from namenode.namesystem import Namesystem
from namenode.status import cluster_status
from namenode.timeline import layout

MAX_LISTING = 1000  # entries of a folder shown on one page
MAX_NODE_BLOCKS = 500  # replicas listed on a datanode's page
RECENT_EVENTS = 25
FINISHED = {"SUCCEEDED", "FAILED", "KILLED"}
# Counters a reader looks for first; the rest follow alphabetically, user counters last.
LEADING_COUNTERS = ("DATA_LOCAL_MAPS", "OTHER_LOCAL_MAPS", "MAP_INPUT_RECORDS")


def overview(
    system: Namesystem, jobs: JobTrackerView, group: GroupView, now: float
) -> dict[str, Any]:
    status = cluster_status(system, now)
    events = [{**e, "job_id": None} for e in status["events"]]
    namenodes = group.states()
    leader = next((n for n in namenodes if n.role == "leader"), None)
    page: dict[str, Any] = {
        "status": status,
        "jobs": [],
        "jobs_error": None,
        "namenodes": namenodes,
        # Each namenode's log as far as the leader knows it matches its own.
        "match": leader.match if leader is not None else {},
        "locks": system.locks.applied_locks(),
        "lock_sessions": system.locks.applied_sessions(),
    }
    try:
        recent = jobs.jobs(limit=50)
    except JobTrackerUnavailable as exc:
        page["jobs_error"] = str(exc)
    else:
        page["jobs"] = recent[:5]
        page["running_jobs"] = sum(1 for j in recent if j.get("state") == "RUNNING")
        events += [_job_event(j) for j in recent if j.get("finished")]
    events.sort(key=lambda e: e["time"], reverse=True)
    page["events"] = events[:RECENT_EVENTS]
    return page


def _job_event(job: dict[str, Any]) -> dict[str, Any]:
    name = f" ({job['name']})" if job.get("name") else ""
    took = job.get("duration")
    return {
        "time": job["finished"],
        "kind": "job",
        "message": f"job {job.get('id')}{name} {str(job.get('state', '')).lower()}"
        + (f" after {took:.1f} s" if isinstance(took, int | float) else ""),
        "job_id": job.get("id"),
    }


def datanodes(system: Namesystem, now: float) -> dict[str, Any]:
    return {"status": cluster_status(system, now)}


def datanode(system: Namesystem, node_id: str, now: float) -> dict[str, Any]:
    status = cluster_status(system, now)
    node = next((n for n in status["datanodes"] if n["id"] == node_id), None)
    if node is None:
        raise FileNotFoundError_(f"no datanode {node_id!r}")
    replicas: list[dict[str, Any]] = []
    total = 0
    shown = system.visible
    for f in fsck_report(system, "/")["files_detail"]:
        for index, block in enumerate(f["blocks"]):
            here = node["url"] in block["locations"]
            corrupt = node["url"] in block["corrupt_locations"]
            if not (here or corrupt):
                continue
            total += 1
            if len(replicas) < MAX_NODE_BLOCKS:
                replicas.append(
                    {
                        "path": f["path"] if shown(f["path"]) else None,
                        "index": index,
                        "block_id": block["block_id"],
                        "length": block["length"],
                        "state": "CORRUPT REPLICA" if corrupt else block["state"],
                    }
                )
    return {"node": node, "replicas": replicas, "replica_total": total}


def browse(system: Namesystem, path: str) -> dict[str, Any]:
    """A folder's listing, or a file's status and blocks; raises for a path not there."""
    path = paths.normalize(path)
    status = system.status_or_none(path)
    if status is None:
        raise FileNotFoundError_(f"{path} does not exist")
    page: dict[str, Any] = {"path": path, "entry": status, "parent": paths.parent(path)}
    if status.is_dir:
        entries = system.listing(path)
        page["entries"] = entries[:MAX_LISTING]
        page["more"] = max(0, len(entries) - MAX_LISTING)
        return page
    ids = {n.url: n.id for n in system.datanode_table()}
    files = fsck_report(system, path)["files_detail"]
    blocks, offset = [], 0
    for index, b in enumerate(files[0]["blocks"] if files else []):
        blocks.append(
            {
                **b,
                "index": index,
                "offset": offset,
                "replicas": [{"url": u, "id": ids.get(u)} for u in b["locations"]],
                "corrupt_replicas": [{"url": u, "id": ids.get(u)} for u in b["corrupt_locations"]],
            }
        )
        offset += b["length"]
    page["blocks"] = blocks
    page["healthy"] = all(b["state"] == "HEALTHY" for b in blocks)
    page["readable"] = all(b["locations"] for b in blocks)
    return page


def jobs_list(jobs: JobTrackerView) -> dict[str, Any]:
    return _with_jobs(lambda: {"jobs": jobs.jobs(limit=200), "workers": jobs.workers()})


def job(jobs: JobTrackerView, job_id: str, now: float) -> dict[str, Any]:
    """A job's page; a job the job tracker does not know raises FileNotFoundError_."""

    def fetch() -> dict[str, Any]:
        info = jobs.job(job_id)
        attempts = [a for a in info.get("attempts", []) if isinstance(a, dict)]
        finished = info.get("finished")
        end = finished if isinstance(finished, int | float) else now
        return {
            "job": info,
            "final": info.get("state") in FINISHED,
            "timeline": layout(attempts, start=float(info.get("submitted") or end), now=end),
            "counters": ordered_counters(info.get("counters") or {}),
            "failed": [a for a in attempts if a.get("state") == "FAILED"],
            "attempts": sorted(attempts, key=lambda a: (a.get("started") or 0, a.get("id", ""))),
            "attempt_counts": _attempt_counts(attempts),
        }

    return _with_jobs(fetch, job_id=job_id)


def attempt_logs(jobs: JobTrackerView, job_id: str, attempt_id: str) -> dict[str, Any]:
    """An attempt's logs page."""

    def fetch() -> dict[str, Any]:
        return {"attempt_id": attempt_id, "logs": jobs.attempt_logs(job_id, attempt_id)}

    return _with_jobs(fetch, job_id=job_id, attempt_id=attempt_id)


def ordered_counters(counters: dict[str, Any]) -> list[tuple[str, Any]]:
    def key(name: str) -> tuple[int, int, str]:
        lead = LEADING_COUNTERS.index(name) if name in LEADING_COUNTERS else len(LEADING_COUNTERS)
        return (name.startswith("user:"), lead, name)

    return [(name, counters[name]) for name in sorted(counters, key=key)]


def _attempt_counts(attempts: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = {}
    for a in attempts:
        kind = str(a.get("kind", "?"))
        state = str(a.get("state", "?"))
        counts.setdefault(kind, {}).setdefault(state, 0)
        counts[kind][state] += 1
    return counts


def _with_jobs(fetch: Callable[[], dict[str, Any]], **extra: Any) -> dict[str, Any]:
    try:
        return {**extra, **fetch(), "jobs_error": None}
    except JobTrackerUnavailable as exc:
        return {**extra, "jobs_error": str(exc), "final": False}
