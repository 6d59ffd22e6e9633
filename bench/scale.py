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
    from prometheus_client.parser import text_string_to_metric_families

    page = httpx.get(f"{url}/metrics", timeout=30).text
    found: dict[float, float] = {}
    for family in text_string_to_metric_families(page):
        for sample in family.samples:
            if (
                sample.name == "minihadoop_namenode_http_request_duration_seconds_bucket"
                and sample.labels.get("op") == "/internal/v1/heartbeat"
            ):
                found[float(sample.labels["le"])] = sample.value
    return found


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
        "register": [], "report": [], "heartbeat": [], "steady": [], "errors": []
    }  # fmt: skip
    steady_file = until_file.with_name("steady")
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
                try:
                    if not registered:
                        await post("register", "register", register)
                        await post("report", "block_report", report)
                        registered = True
                    kind = "steady" if steady_file.exists() else "heartbeat"
                    reply = await post(kind, "heartbeat", beat)
                    if any(c.get("kind") == "register" for c in reply.get("commands", [])):
                        registered = False
                except httpx.HTTPError:
                    seen["errors"].append(time.monotonic())
                await asyncio.sleep(interval * rng.uniform(0.9, 1.1))

        await asyncio.gather(*(one(n, r, i) for i, (n, r) in enumerate(nodes)))
    return seen


def worker(args: tuple[Any, ...]) -> dict[str, list[float]]:
    nodes, service, token, interval, until_file = args
    return asyncio.run(simulate(nodes, service, token, interval, Path(until_file)))


def main(args: argparse.Namespace, work: Path) -> int:
    print(f"building a namespace of {args.files:,} one-block files", flush=True)
    snapshot, blocks = image(args.files)
    name = work / "name"
    storage = RaftStorage.open(name)
    storage.save(HardState(1, None, 1), [], Snapshot(SnapshotMeta(1, 1, ("nn1",)), snapshot),
                 sync=True)  # fmt: skip
    storage.close()

    ids = [f"sim-{i:05d}" for i in range(args.datanodes)]
    shares: dict[str, list[list[int]]] = {i: [] for i in ids}
    for k, (block_id, gen) in enumerate(blocks):
        for r in range(args.replication):
            shares[ids[(k + r) % len(ids)]].append([block_id, gen, 1000])

    token = secrets.token_urlsafe(16)
    port, service_port = free_port(), free_port()
    env = {**os.environ, "MINIHADOOP_TOKEN": token,
           "MINIHADOOP_HEARTBEAT_INTERVAL": str(args.heartbeat_interval),
           "MINIHADOOP_DEAD_NODE_TIMEOUT": "600", "MINIHADOOP_SAFEMODE_EXTENSION": "0"}  # fmt: skip
    log = open(work / "namenode.log", "wb")  # noqa: SIM115
    nn = subprocess.Popen(
        [sys.executable, "-m", "cli", "namenode", "--dir", str(name), "--port", str(port),
         "--service-port", str(service_port)],
        env=env, stdout=log, stderr=subprocess.STDOUT, cwd=BENCH_DIR.parent,
    )  # fmt: skip
    url, service = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{service_port}"
    until_file = work / "stop"
    try:
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
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
            served0 = heartbeat_buckets(url)
            steady_from = time.monotonic()
            time.sleep(args.steady)
            cpu = (cpu_seconds(nn.pid) - cpu0) / (time.monotonic() - t0)
            served1 = heartbeat_buckets(url)
            rss = rss_bytes(nn.pid)
            until_file.write_text("stop")
            results = pending.get(timeout=120)
    finally:
        nn.terminate()
        nn.wait(timeout=30)
        log.close()
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
        "startup_heartbeat_p99_ms": 1000 * percentile(merged["heartbeat"], 99),
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
    workdir_options(parser)
    sys.exit(run_in_workdir(parser.parse_args(), main))
