"""One real namenode against many simulated datanodes, speaking the real HTTP protocol.

The namenode (a real process, `minihadoop namenode`) starts on an image of `--files`
one-block files, so it starts in safe mode with nothing reported, as after a restart. The
simulated datanodes — `--datanodes` of them, spread over `--procs` processes, each an
asyncio loop with one signed HTTP client — register, send one full block report of their
share of the replicas (`--replication` a block), then heartbeat every
`--heartbeat-interval` seconds (jittered as real datanodes do) for `--steady` seconds after
safe mode is off. Measured:

* start-up: seconds from the namenode serving to safe mode off;
* the latency of the first full reports (p50, p99) and of steady heartbeats (p50, p99);
* the namenode's CPU (percent of one core) and resident memory while steady;
* steady heartbeats as a lone client sees them (*probe*): a thread of this process sends
  ten a second for nodes picked at random, so its timings are not those of an event loop
  juggling hundreds of simulated nodes on a saturated core;
* a datanode's death: one simulated node falls silent; the seconds until the namenode
  declares it dead (`--dead-timeout`), then until every block it held has its replicas
  again. Simulated nodes carry out the namenode's `replicate` commands by reporting the
  copy received on the target's behalf, so the rate is the namenode's own throttle (how
  many copies it hands each node a heartbeat), not a disk's;
* each of those against the count of nodes: run it with 100, 300, 1000.

Results go to `bench/results/scale.jsonl`.

Run: ``.venv/bin/python bench/scale.py [--datanodes 300] [--files 300000] [--procs 2]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from common import BENCH_DIR, append_result, cpu_seconds, rss_bytes, run_in_workdir, workdir_options
from safemode_reports import image

from minihadoop.signing import ClusterAuth
from raft.storage import RaftStorage
from raft.types import HardState, Snapshot, SnapshotMeta

RESULTS = BENCH_DIR / "results" / "scale.jsonl"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def heartbeat_buckets(url: str) -> dict[float, float]:
    """The namenode's own histogram of heartbeat handling time: {upper bound: count}."""
    return buckets(url, "http_request_duration_seconds", op="/internal/v1/heartbeat")


def gc_buckets(url: str) -> dict[float, float]:
    """The namenode's histogram of full (generation 2) garbage collection pauses."""
    return buckets(url, "gc_pause_seconds", generation="2")


def buckets(url: str, histogram: str, **labels: str) -> dict[float, float]:
    """One of the namenode's histograms as {upper bound: cumulative count}."""
    from prometheus_client.parser import text_string_to_metric_families

    page = httpx.get(f"{url}/metrics", timeout=30).text
    found: dict[float, float] = {}
    for family in text_string_to_metric_families(page):
        for sample in family.samples:
            if sample.name == f"minihadoop_namenode_{histogram}_bucket" and all(
                sample.labels.get(k) == v for k, v in labels.items()
            ):
                found[float(sample.labels["le"])] = sample.value
    return found


def longest(before: dict[float, float], after: dict[float, float]) -> float | None:
    """The bucket bound of the longest observation between two scrapes (None: none)."""
    bounds = sorted(after)
    counts = [after[b] - before.get(b, 0.0) for b in bounds]  # cumulative
    if not counts or not counts[-1]:
        return None
    return next(b for b, c in zip(bounds, counts, strict=True) if c == counts[-1])


def bucket_quantile(before: dict[float, float], after: dict[float, float], q: float) -> float:
    """The q-quantile (an upper bound: the bucket it falls in) of what was counted between
    two scrapes of a cumulative histogram."""
    bounds = sorted(after)
    counts = [after[b] - before.get(b, 0.0) for b in bounds]
    total = counts[-1] if counts else 0
    for bound, count in zip(bounds, counts, strict=True):
        if total and count >= q * total:
            return bound
    return float("nan")


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


async def simulate(
    nodes: list[tuple[str, list[list[int]]]],
    service: str,
    token: str,
    interval: float,
    until_file: Path,
) -> dict[str, list[float]]:
    """Run `nodes` (id, [[block id, gen, length], ...]) against the namenode's service
    URL until `until_file` exists; the latencies seen, by call."""
    seen: dict[str, list[float]] = {
        "register": [], "report": [], "heartbeat": [], "steady": [], "errors": [], "copy": []
    }  # fmt: skip
    steady_file = until_file.with_name("steady")
    dead_file = until_file.with_name("dead")
    copied: list[int] = []
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(auth=ClusterAuth(token), timeout=60, limits=limits) as client:

        async def post(kind: str, endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
            started = time.monotonic()
            r = await client.post(f"{service}/internal/v1/{endpoint}", json=body)
            seen[kind].append(time.monotonic() - started)
            r.raise_for_status()
            return dict(r.json())

        async def one(node_id: str, replicas: list[list[int]], index: int) -> None:
            rng = random.Random(index)
            used = sum(r[2] for r in replicas)
            url = f"http://10.{index // 65536 % 256}.{index // 256 % 256}.{index % 256}:9864"
            register = {"datanode_id": node_id, "url": url, "capacity": 1 << 40,
                        "used": used, "remaining": (1 << 40) - used}  # fmt: skip
            listed = [{"block_id": b, "gen": g, "length": n} for b, g, n in replicas]
            report = {"datanode_id": node_id, "replicas": listed}
            beat = {"datanode_id": node_id, "capacity": 1 << 40, "used": used,
                    "remaining": (1 << 40) - used, "blocks": len(replicas)}  # fmt: skip
            await asyncio.sleep(rng.uniform(0, interval))  # nodes start over one interval
            registered = False
            while not until_file.exists():
                if dead_file.exists() and dead_file.read_text() == node_id:
                    return  # this node died: silence
                try:
                    if not registered:
                        await post("register", "register", register)
                        await post("report", "block_report", report)
                        registered = True
                    kind = "steady" if steady_file.exists() else "heartbeat"
                    reply = await post(kind, "heartbeat", beat)
                    commands = reply.get("commands", [])
                    if any(c.get("kind") == "register" for c in commands):
                        registered = False
                    for c in commands:  # a copy made: the target reports it received
                        if c.get("kind") == "replicate":
                            block = c["block"]
                            got = {"block_id": block["block_id"], "gen": block["gen"],
                                   "length": block["length"]}  # fmt: skip
                            for target in c["targets"]:
                                await post("copy", "incremental_report", {
                                    "datanode_id": target["id"], "received": [got]
                                })  # fmt: skip
                            if dead_file.exists():  # the death's copies, not the restart's
                                copied.append(block["block_id"])
                except httpx.HTTPError:
                    seen["errors"].append(time.monotonic())
                await asyncio.sleep(interval * rng.uniform(0.9, 1.1))

        await asyncio.gather(*(one(n, r, i) for i, (n, r) in enumerate(nodes)))
    seen["copied"] = [float(b) for b in copied]
    return seen


def probe(service: str, auth: ClusterAuth, ids: list[str], seconds: float) -> list[float]:
    """Heartbeats from one quiet client, ten a second for `seconds`: their latencies."""
    rng = random.Random(7)
    seen = []
    with httpx.Client(auth=auth, timeout=60) as client:
        until = time.monotonic() + seconds
        while time.monotonic() < until:
            beat = {"datanode_id": rng.choice(ids), "capacity": 1 << 40, "used": 0,
                    "remaining": 1 << 40}  # fmt: skip
            started = time.monotonic()
            client.post(f"{service}/internal/v1/heartbeat", json=beat).raise_for_status()
            seen.append(time.monotonic() - started)
            time.sleep(0.1)
    return seen


def kill_one(
    dead_file: Path, victim: str, url: str, auth: ClusterAuth, timeout: float
) -> dict[str, float | None]:
    """Silence `victim`; the seconds until the namenode declares it dead, and from then
    until no block is under-replicated and no copy is pending."""
    with httpx.Client(auth=auth, timeout=60) as client:

        def status() -> dict[str, Any]:
            return dict(client.get(f"{url}/nn/v1/cluster").json())

        killed = time.monotonic()
        dead_file.write_text(victim)
        declared = None
        work_seen = False  # the namenode has counted the lost replicas as work to do
        deadline = killed + timeout + 300
        while time.monotonic() < deadline:
            s = status()
            if declared is None and any(
                n["id"] == victim and n["state"] == "DEAD" for n in s["datanodes"]
            ):
                declared = time.monotonic()
            to_do = s["under_replicated"] + s["pending_replications"]
            work_seen = work_seen or (declared is not None and to_do > 0)
            if work_seen and not to_do:
                done = time.monotonic()
                return {"dead_declared_s": declared - killed,
                        "rereplicated_s": done - declared}  # fmt: skip
            time.sleep(0.25)
    return {"dead_declared_s": None if declared is None else declared - killed,
            "rereplicated_s": None}  # fmt: skip


def worker(args: tuple[Any, ...]) -> dict[str, list[float]]:
    nodes, service, token, interval, until_file = args
    return asyncio.run(simulate(nodes, service, token, interval, Path(until_file)))


def restarted_namenode(
    work: Path, files: int, token: str, **settings: str
) -> tuple[subprocess.Popen[bytes], list[tuple[int, int]], str, str]:
    """A real namenode started on an image of `files` one-block files — in safe mode with
    nothing reported, as after a restart — and serving: (process, (block id, gen) of each
    block, client URL, service URL). Its log is `work/namenode.log`."""
    print(f"building a namespace of {files:,} one-block files", flush=True)
    snapshot, blocks = image(files)
    name = work / "name"
    storage = RaftStorage.open(name)
    storage.save(HardState(1, None, 1), [], Snapshot(SnapshotMeta(1, 1, ("nn1",)), snapshot),
                 sync=True)  # fmt: skip
    storage.close()
    port, service_port = free_port(), free_port()
    env = {**os.environ, "MINIHADOOP_TOKEN": token, "MINIHADOOP_DEAD_NODE_TIMEOUT": "600",
           "MINIHADOOP_SAFEMODE_EXTENSION": "0", **settings}  # fmt: skip
    with open(work / "namenode.log", "wb") as log:
        nn = subprocess.Popen(
            [sys.executable, "-m", "cli", "namenode", "--dir", str(name), "--port", str(port),
             "--service-port", str(service_port)],
            env=env, stdout=log, stderr=subprocess.STDOUT, cwd=BENCH_DIR.parent,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    while True:
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            if nn.poll() is not None:
                raise SystemExit(f"the namenode exited; see {work / 'namenode.log'}") from None
            time.sleep(0.1)
    return nn, blocks, url, f"http://127.0.0.1:{service_port}"


def main(args: argparse.Namespace, work: Path) -> int:
    token = secrets.token_urlsafe(16)
    nn, blocks, url, service = restarted_namenode(
        work, args.files, token, MINIHADOOP_HEARTBEAT_INTERVAL=str(args.heartbeat_interval),
        MINIHADOOP_DEAD_NODE_TIMEOUT=str(args.dead_timeout),
    )  # fmt: skip
    auth = ClusterAuth(token)

    ids = [f"sim-{i:05d}" for i in range(args.datanodes)]
    shares: dict[str, list[list[int]]] = {i: [] for i in ids}
    spread = random.Random(1)  # replicas on nodes picked at random, as placement does: a
    for block_id, gen in blocks:  # dead node's blocks then have their sources everywhere
        for i in spread.sample(range(len(ids)), args.replication):
            shares[ids[i]].append([block_id, gen, 1000])

    until_file = work / "stop"
    try:
        serving = time.monotonic()
        per = [[(i, shares[i]) for i in ids[p :: args.procs]] for p in range(args.procs)]
        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(args.procs) as pool:
            pending = pool.map_async(
                worker,
                [(p, service, token, args.heartbeat_interval, str(until_file)) for p in per],
            )
            off_after = None
            while off_after is None and time.monotonic() - serving < args.max_startup:
                health = httpx.get(f"{url}/health", timeout=30).json()
                if not health["safemode"]:
                    off_after = time.monotonic() - serving
                time.sleep(0.5)
            print(f"safe mode off after {off_after} s", flush=True)
            time.sleep(2 * args.heartbeat_interval)  # the reports' wake passes
            (work / "steady").write_text("steady")  # heartbeats from here on are steady
            cpu0, t0 = cpu_seconds(nn.pid), time.monotonic()
            served0, gc0 = heartbeat_buckets(url), gc_buckets(url)
            steady_from = time.monotonic()
            probed = probe(service, auth, ids, args.steady)
            cpu = (cpu_seconds(nn.pid) - cpu0) / (time.monotonic() - t0)
            served1, gc1 = heartbeat_buckets(url), gc_buckets(url)
            rss = rss_bytes(nn.pid)
            death = kill_one(work / "dead", ids[0], url, auth, args.dead_timeout)
            until_file.write_text("stop")
            results = pending.get(timeout=120)
    finally:
        nn.terminate()
        nn.wait(timeout=30)
    merged: dict[str, list[float]] = {}
    for r in results:
        for k, v in r.items():
            merged.setdefault(k, []).extend(v)
    beats = merged["steady"]
    summary = {
        "datanodes": args.datanodes,
        "blocks": len(blocks),
        "replicas": len(blocks) * args.replication,
        "safemode_off_s": off_after,
        "report_p50_s": percentile(merged["report"], 50),
        "report_p99_s": percentile(merged["report"], 99),
        "heartbeat_p50_ms": 1000 * percentile(beats, 50),
        "heartbeat_p99_ms": 1000 * percentile(beats, 99),
        # On the namenode, from its own /metrics histogram: the handling, not the client's
        # event loop (the simulators share the two cores with it).
        "served_heartbeat_p50_ms": 1000 * bucket_quantile(served0, served1, 0.50),
        "served_heartbeat_p99_ms": 1000 * bucket_quantile(served0, served1, 0.99),
        "probe_heartbeat_p50_ms": 1000 * percentile(probed, 50),
        "probe_heartbeat_p99_ms": 1000 * percentile(probed, 99),
        "startup_heartbeat_p99_ms": 1000 * percentile(merged["heartbeat"], 99),
        "steady_full_gcs": (gc1.get(float("inf"), 0) - gc0.get(float("inf"), 0)),
        "steady_longest_full_gc_s": longest(gc0, gc1),
        "dead_timeout_s": args.dead_timeout,
        **death,
        "replicated": len(merged["copied"]),
        "namenode_cpu_percent": 100 * cpu,
        "namenode_rss_mib": rss / 2**20,
        "errors": len(merged["errors"]),
        "steady_s": args.steady,
        "since_steady_s": time.monotonic() - steady_from,
    }
    print(json.dumps(summary, indent=2))
    append_result(RESULTS, **summary)
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datanodes", type=int, default=300)
    parser.add_argument("--files", type=int, default=300_000)
    parser.add_argument("--replication", type=int, default=3)
    parser.add_argument("--procs", type=int, default=2)
    parser.add_argument("--heartbeat-interval", type=float, default=3.0)
    parser.add_argument("--steady", type=float, default=30.0)
    parser.add_argument("--max-startup", type=float, default=300.0)
    parser.add_argument("--dead-timeout", type=float, default=60.0)
    workdir_options(parser)
    sys.exit(run_in_workdir(parser.parse_args(), main))
