"""The namenode's HTTP front, loaded by a compiled client (wrk), beside a bare ASGI endpoint.

`namenode_ops.py` drives the namenode from Python threads, whose client eats the second of
two cores; here `wrk` (C, one thread) does, so the figures are the server's. In one run:

* **bare ASGI** — a 12-line ASGI app answering a 16-byte JSON body, served by
  `minihadoop.server.serve` with the namenode's own settings (uvicorn, httptools, uvloop,
  the guarded protocol, no access log): the ceiling for any Python endpoint here.
* **/health** — the namenode's smallest FastAPI route, through all its middlewares.
* **GETFILESTATUS user.name** — ``GET /webhdfs/v1/<file>?op=GETFILESTATUS&user.name=…`` under
  the open read policy (anonymous read, permissions checked as that user).
* **GETFILESTATUS delegation** — the same with a delegation token (checked every request).
* **MKDIRS delegation** — ``PUT …?op=MKDIRS`` of a new folder each request: one log entry
  fsynced before the answer (group commit across requests), by wrk connections.

Each row: requests/s, the row over bare ASGI, and the namenode's CPU per request
(/proc/<pid>/stat, all threads). A non-2xx answer fails the run. Results are appended to
`bench/results/namenode_http.jsonl`.

Needs wrk: ``apt-get install -y wrk`` (Debian/Ubuntu). Without it the run prints a note
and records nothing.

Run: ``.venv/bin/python bench/namenode_http.py [--seconds 5] [--connections 16]``
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from common import append_result, run_in_workdir, workdir_options

from minihadoop.config import Settings
from minihadoop.filesystem import FileSystem
from minihadoop.localcluster import LocalCluster
from minihadoop.server import bind_socket, serve

RESULTS = Path(__file__).resolve().parent / "results" / "namenode_http.jsonl"
BARE_BODY = b'{"boolean":true}'
STAT_TARGET = 0.5  # GETFILESTATUS/s over bare ASGI/s, at least
MKDIR_TARGET = 1_500  # fsynced mutations/s over HTTP, at least
# wrk's Lua: a new folder every request, so every MKDIRS logs (and fsyncs) one entry.
MKDIRS_LUA = """
local counter = 0
local token = os.getenv("BENCH_DELEGATION")
local run = os.getenv("BENCH_RUN")
request = function()
  counter = counter + 1
  return wrk.format("PUT", string.format(
    "/webhdfs/v1/bench/mkdirs/%s/d%d?op=MKDIRS&delegation=%s", run, counter, token))
end
"""


async def bare_app(scope: dict[str, Any], _receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    headers = [(b"content-type", b"application/json"), (b"content-length", b"16")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": BARE_BODY})


def serve_bare() -> None:
    """The bare endpoint, in this (child) process: prints its port, serves until killed."""
    sock = bind_socket("127.0.0.1", 0)
    print(sock.getsockname()[1], flush=True)
    serve(bare_app, sock, Settings(token="bench"))


def process_cpu(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wrk(url: str, seconds: float, connections: int, pid: int, **kw: Any) -> dict[str, float]:
    """requests/s and the server's CPU us per request, from one wrk run on `url`."""
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", url]
    if "script" in kw:
        argv[1:1] = ["-s", str(kw["script"])]
    cpu = process_cpu(pid)
    done = subprocess.run(
        argv, capture_output=True, text=True, env={**os.environ, **kw.get("env", {})}
    )
    cpu = process_cpu(pid) - cpu
    if done.returncode != 0 or "Non-2xx" in done.stdout or "Socket errors" in done.stdout:
        raise SystemExit(f"FAIL: wrk on {url}:\n{done.stdout}{done.stderr}")
    found = re.search(r"Requests/sec:\s+([\d.]+)", done.stdout)
    total = re.search(r"(\d+) requests in", done.stdout)
    if found is None or total is None:
        raise SystemExit(f"FAIL: no figures from wrk:\n{done.stdout}")
    return {"rps": float(found.group(1)), "cpu_us": 1e6 * cpu / max(1, int(total.group(1)))}


def run(args: argparse.Namespace, work: Path) -> int:
    if shutil.which("wrk") is None:
        print("wrk is not installed (apt-get install -y wrk): nothing measured")
        return 0
    bare = subprocess.Popen(
        [sys.executable, __file__, "--bare-child"], stdout=subprocess.PIPE, text=True
    )
    cluster = LocalCluster(work / "cluster")
    try:
        assert bare.stdout is not None
        bare_url = f"http://127.0.0.1:{bare.stdout.readline().strip()}/"
        info = cluster.start(datanodes=0, mapreduce=False, settings={"read_policy": "open"})
        pid = next(d.pid for d in info.daemons if d.name == "namenode")
        with FileSystem(info.namenode, info.token) as fs:
            fs.write_bytes("/bench/listed/f1", b"")
            fs.mkdir("/bench/mkdirs")
            delegation = fs.get_delegation_token()
        stat = f"{info.namenode}/webhdfs/v1/bench/listed/f1?op=GETFILESTATUS"
        script = work / "mkdirs.lua"
        script.write_text(MKDIRS_LUA)
        secs, conns = args.seconds, args.connections
        rows: dict[str, dict[str, float]] = {}
        for _ in range(args.repeat):  # interleaved, so drift hits every row alike
            for name, url, kw in [
                ("bare ASGI", bare_url, {}),
                ("/health", f"{info.namenode}/health", {}),
                ("GETFILESTATUS user.name", f"{stat}&user.name=bench", {}),
                ("GETFILESTATUS delegation", f"{stat}&delegation={delegation}", {}),
            ]:
                got = wrk(url, secs, conns, bare.pid if name == "bare ASGI" else pid, **kw)
                if got["rps"] > rows.get(name, {}).get("rps", 0):
                    rows[name] = got
                print(f"  {name:<26} {got['rps']:9.0f} /s", flush=True)
        env = {"BENCH_DELEGATION": delegation}
        for c in args.mkdir_connections:
            got = wrk(info.namenode, secs, c, pid, script=script, env={**env, "BENCH_RUN": f"c{c}"})
            rows[f"MKDIRS x{c} (fsynced)"] = got
            print(f"  {f'MKDIRS x{c} (fsynced)':<26} {got['rps']:9.0f} /s", flush=True)
    finally:
        cluster.stop()
        bare.kill()
        bare.wait()
    ceiling = rows["bare ASGI"]["rps"]
    print(f"\nwrk -t1 -c{conns} -d{secs:g}s (MKDIRS: -cN), best of {args.repeat}")
    print(f"{'':<26} {'req/s':>9} {'/ bare':>8} {'server CPU us/req':>18}")
    for name, r in rows.items():
        print(f"{name:<26} {r['rps']:9.0f} {r['rps'] / ceiling:7.2f}x {r['cpu_us']:18.0f}")
    stat_ratio = rows["GETFILESTATUS user.name"]["rps"] / ceiling
    best_mkdirs = max(r["rps"] for n, r in rows.items() if n.startswith("MKDIRS"))
    print(
        f"\nGETFILESTATUS / bare: {stat_ratio:.2f}x (target >= {STAT_TARGET}x: "
        f"{'met' if stat_ratio >= STAT_TARGET else 'NOT met'}); fsynced MKDIRS: "
        f"{best_mkdirs:.0f}/s (target >= {MKDIR_TARGET:,}: "
        f"{'met' if best_mkdirs >= MKDIR_TARGET else 'NOT met'})"
    )
    append_result(
        RESULTS,
        node=platform.node(),
        seconds=secs,
        connections=conns,
        repeat=args.repeat,
        rows=rows,
        stat_over_bare=stat_ratio,
    )
    print(f"appended to {RESULTS}")
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=5.0, help="of each wrk run")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections (reads)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds of the read rows; best kept")
    parser.add_argument(
        "--mkdir-connections",
        type=lambda s: [int(x) for x in s.split(",")],
        default=[1, 16, 64],
        help="wrk connections for the MKDIRS rows, comma-separated",
    )
    parser.add_argument("--bare-child", action="store_true", help=argparse.SUPPRESS)
    workdir_options(parser)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.bare_child:
        serve_bare()
        return 0
    return run_in_workdir(args, run)


if __name__ == "__main__":
    sys.exit(main())
