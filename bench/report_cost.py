"""What one full block report costs the namenode, over its real HTTP front, in safe mode
and out of it.

A real namenode starts on an image of `--files` one-block files (in safe mode, nothing
reported). `--datanodes` datanodes register; each holds `--per-node` replicas, and together
they report only half the blocks, so safe mode stays on. One client sends every node's full
report, one at a time, and the namenode's CPU over the round is divided by the reports sent:

* **in safe mode** — the first round, as after a restart;
* **out of safe mode** — the same reports again, after an administrator left safe mode;
* **heartbeats (baseline)** — as many heartbeats, from the same client in the same run: the
  cost of a request that carries nothing, so the ratio shows what the report's content adds.

Results go to `bench/results/report_cost.jsonl`.

Run: ``.venv/bin/python bench/report_cost.py [--datanodes 200] [--per-node 1000]``
"""

from __future__ import annotations

import argparse
import getpass
import json
import secrets
import sys
from pathlib import Path

import httpx
from common import BENCH_DIR, append_result, cpu_seconds, run_in_workdir, workdir_options
from scale import restarted_namenode

from minihadoop.signing import ClusterAuth

RESULTS = BENCH_DIR / "results" / "report_cost.jsonl"


def main(args: argparse.Namespace, work: Path) -> int:
    token = secrets.token_urlsafe(16)
    reported = args.datanodes * args.per_node // args.replication
    nn, blocks, url, service = restarted_namenode(work, 2 * reported, token)
    try:
        client = httpx.Client(
            auth=ClusterAuth(token), base_url=f"{service}/internal/v1", timeout=120
        )
        ids = [f"sim-{i:05d}" for i in range(args.datanodes)]
        shares: dict[str, list[dict[str, int]]] = {i: [] for i in ids}
        for k, (block_id, gen) in enumerate(blocks[:reported]):
            for r in range(args.replication):
                shares[ids[(k + r) % len(ids)]].append(
                    {"block_id": block_id, "gen": gen, "length": 1000}
                )
        for i, node in enumerate(ids):
            client.post("/register", json={
                "datanode_id": node, "url": f"http://10.0.{i // 256}.{i % 256}:9864",
                "capacity": 1 << 40, "used": 0, "remaining": 1 << 40,
            }).raise_for_status()  # fmt: skip

        def round_ms(endpoint: str, body: dict[str, dict[str, object]]) -> float:
            before = cpu_seconds(nn.pid)
            for node in ids:
                client.post(endpoint, json=body[node]).raise_for_status()
            return 1000 * (cpu_seconds(nn.pid) - before) / len(ids)

        reports = {n: {"datanode_id": n, "replicas": shares[n]} for n in ids}
        beats = {n: {"datanode_id": n, "capacity": 1 << 40, "used": 0,
                     "remaining": 1 << 40} for n in ids}  # fmt: skip
        in_safemode = round_ms("/block_report", reports)
        assert httpx.get(f"{url}/health").json()["safemode"], "safe mode left during the round"
        admin = httpx.post(
            f"{url}/nn/v1/safemode",
            params={"action": "leave", "user.name": getpass.getuser()},
            auth=ClusterAuth(token),
        )
        admin.raise_for_status()
        out_of_safemode = round_ms("/block_report", reports)
        heartbeat = round_ms("/heartbeat", beats)
    finally:
        nn.terminate()
        nn.wait(timeout=30)
    summary = {
        "datanodes": args.datanodes,
        "replicas_per_report": args.per_node,
        "blocks": len(blocks),
        "report_cpu_ms_in_safemode": in_safemode,
        "report_cpu_ms_out_of_safemode": out_of_safemode,
        "heartbeat_cpu_ms": heartbeat,
        "report_vs_heartbeat": out_of_safemode / heartbeat if heartbeat else float("nan"),
    }
    print(json.dumps(summary, indent=2))
    append_result(RESULTS, **summary)
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datanodes", type=int, default=200)
    parser.add_argument("--per-node", type=int, default=1000)
    parser.add_argument("--replication", type=int, default=3)
    workdir_options(parser)
    sys.exit(run_in_workdir(parser.parse_args(), main))
