"""DFS throughput against the two ceilings that bound it on this machine, all in one run.

What is measured, each `--repeat` times (the table shows the best and the median run):

* **local cp / local read** — `cp` of the test file to another path on the same disk (no
  fsync), and reading the copy back in 1 MiB pieces into nothing. The file was just written,
  so the read comes from the page cache: it is what "the data is already here" costs.
* **raw HTTP upload / download** — a minimal uvicorn (httptools + uvloop) + FastAPI server in
  its own process on 127.0.0.1. PUT streams the request body into a file and fsyncs it; GET
  streams the file back in 1 MiB reads. The client is one `httpx.Client` uploading in 4 MiB
  pieces and downloading with `iter_raw(1 MiB)` into a local file, as `FileSystem.get` does.
  This is the ceiling for a Python HTTP data path here: minihadoop moves blocks over the same
  stack. "raw HTTP dl, discard" downloads into nothing; it only shows what writing the local
  file costs the client (on 2 cores, a lot) and is not used as a baseline.
* **dfs put / dfs get** — `FileSystem.put` / `FileSystem.get` against a real `LocalCluster`
  (namenode + 3 datanodes as subprocesses, 64 MiB blocks), for replication 1 and 3. A get
  always reads one replica per block, so it should not depend on the replication factor.

How to read the ratios: each is the operation's throughput divided by the baseline's, from the
best runs (1.00 = as fast as the baseline, 0.25 = four times slower). Writes (cp, upload,
put) are compared with `cp` and with the raw HTTP upload; reads (read, download, get) with the
local read and the raw HTTP download. "vs raw HTTP" is the number that says how much the DFS
itself costs; "vs cp"/"vs read" says how far any HTTP path is from the disk. A replicated put
writes every byte three times through a pipeline on 2 cores, so expect its ratio to drop.

Every downloaded copy is checked against the original's sha256 (outside the timed part);
a mismatch aborts the run. Results are appended as one JSON line to
`bench/results/dfs_io.jsonl`.

Run: ``.venv/bin/python bench/dfs_io.py [--size-mb 256] [--repeat 3] [--keep]``
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import hashlib
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx
from common import git_commit, run_in_workdir, workdir_options

from minihadoop.filesystem import FileSystem
from minihadoop.localcluster import LocalCluster

MiB = 1 << 20
GEN_PIECE = 8 * MiB
UPLOAD_PIECE = 4 * MiB
READ_PIECE = 1 * MiB
BLOCK_SIZE = 64 * MiB
DATANODES = 3
BENCH_DIR = Path(__file__).resolve().parent
RESULTS = BENCH_DIR / "results" / "dfs_io.jsonl"

# The raw ceiling server, run as `python raw_server.py <port> <root>`. Kept as small as the
# datanode's data path could possibly be: no checksums, no auth, no pipeline.
RAW_SERVER = textwrap.dedent(
    """
    import os
    import sys
    from collections.abc import AsyncIterator

    import uvicorn
    from fastapi import FastAPI, Request
    from fastapi.responses import StreamingResponse

    PORT, ROOT = int(sys.argv[1]), sys.argv[2]
    app = FastAPI()


    @app.get("/health")
    def health() -> dict[str, bool]:
        return {"ok": True}


    @app.put("/files/{name}")
    async def put(name: str, request: Request) -> dict[str, int]:
        length = 0
        with open(os.path.join(ROOT, name), "wb") as f:
            async for chunk in request.stream():
                f.write(chunk)
                length += len(chunk)
            f.flush()
            os.fsync(f.fileno())
        return {"length": length}


    @app.get("/files/{name}")
    async def get(name: str) -> StreamingResponse:
        path = os.path.join(ROOT, name)

        async def body() -> AsyncIterator[bytes]:
            with open(path, "rb") as f:
                while piece := f.read(1 << 20):
                    yield piece

        headers = {"content-length": str(os.path.getsize(path))}
        return StreamingResponse(body(), media_type="application/octet-stream", headers=headers)


    uvicorn.run(
        app, host="127.0.0.1", port=PORT, loop="uvloop", http="httptools",
        log_level="warning", access_log=False,
    )
    """
)


@dataclass
class Measurement:
    """The timings of one operation; `kind` says which baselines it is compared with."""

    name: str
    kind: str  # "write" or "read"
    size: int
    seconds: list[float] = field(default_factory=list)

    @property
    def best(self) -> float:
        return min(self.seconds)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def mib_per_s(self) -> float:
        return self.size / MiB / self.best


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def repeat(m: Measurement, times: int, action: Callable[[], object]) -> Measurement:
    for _ in range(times):
        m.seconds.append(timed(action))
        print(f"  {m.name:<22} {m.seconds[-1]:7.3f} s", flush=True)
    return m


# --- files ------------------------------------------------------------------------------------


def generate(path: Path, size: int) -> str:
    """Write `size` random bytes to `path`, fsynced; return their sha256."""
    digest = hashlib.sha256()
    with open(path, "wb") as f:
        left = size
        while left:
            piece = os.urandom(min(GEN_PIECE, left))
            f.write(piece)
            digest.update(piece)
            left -= len(piece)
        f.flush()
        os.fsync(f.fileno())
    return digest.hexdigest()


def pieces(path: Path, size: int) -> Iterator[bytes]:
    with open(path, "rb") as f:
        while piece := f.read(size):
            yield piece


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    for piece in pieces(path, 8 * MiB):
        digest.update(piece)
    return digest.hexdigest()


def verify(path: Path, expected: str, what: str) -> None:
    actual = sha256_of(path)
    if actual != expected:
        raise SystemExit(f"FAIL: {what}: sha256 of {path} is {actual}, expected {expected}")


def read_all(path: Path) -> None:
    for _ in pieces(path, READ_PIECE):
        pass


def cp(src: Path, dst: Path) -> None:
    dst.unlink(missing_ok=True)
    subprocess.run(["cp", str(src), str(dst)], check=True)


# --- the raw HTTP ceiling ---------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start_raw_server(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    script = workdir / "raw_server.py"
    script.write_text(RAW_SERVER)
    root = workdir / "raw-store"
    root.mkdir()
    port = free_port()
    with open(workdir / "raw_server.log", "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, str(script), str(port), str(root)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C reaches only us; cleanup stops it
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = (workdir / "raw_server.log").read_text(errors="replace")[-2000:]
            raise SystemExit(f"raw server exited with code {proc.returncode}:\n{tail}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return proc, url
        time.sleep(0.05)
    proc.kill()
    raise SystemExit("raw server did not start within 30 s")


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def raw_upload(client: httpx.Client, url: str, src: Path) -> None:
    response = client.put(
        f"{url}/files/data",
        content=pieces(src, UPLOAD_PIECE),
        headers={"content-length": str(src.stat().st_size)},
    )
    response.raise_for_status()


def raw_download(client: httpx.Client, url: str, dst: Path | None) -> None:
    """Download into `dst` like `FileSystem.get` does, or into nothing when `dst` is None."""
    with (
        client.stream("GET", f"{url}/files/data") as response,
        open(dst or os.devnull, "wb") as out,
    ):
        response.raise_for_status()
        for piece in response.iter_raw(READ_PIECE):
            if dst is not None:
                out.write(piece)


# --- the run ----------------------------------------------------------------------------------


def measure_local(
    work: Path, original: Path, digest: str, size: int, times: int
) -> list[Measurement]:
    copy = work / "copy.bin"
    write = repeat(Measurement("local cp", "write", size), times, lambda: cp(original, copy))
    verify(copy, digest, "cp")
    read = repeat(Measurement("local read", "read", size), times, lambda: read_all(copy))
    copy.unlink()
    return [write, read]


def measure_raw_http(
    work: Path, original: Path, digest: str, size: int, times: int
) -> list[Measurement]:
    proc, url = start_raw_server(work)
    out = work / "raw-download.bin"
    try:
        with httpx.Client(timeout=httpx.Timeout(300.0, connect=10.0)) as client:
            up = repeat(
                Measurement("raw HTTP upload", "write", size),
                times,
                lambda: raw_upload(client, url, original),
            )
            verify(work / "raw-store" / "data", digest, "raw HTTP upload")
            down = repeat(
                Measurement("raw HTTP download", "read", size),
                times,
                lambda: raw_download(client, url, out),
            )
            verify(out, digest, "raw HTTP download")
            # Only to tell the network from the local write; nothing is compared with it.
            discard = repeat(
                Measurement("raw HTTP dl, discard", "read", size),
                times,
                lambda: raw_download(client, url, None),
            )
    finally:
        stop_process(proc)
    out.unlink(missing_ok=True)
    shutil.rmtree(work / "raw-store", ignore_errors=True)
    return [up, down, discard]


def measure_dfs(
    fs: FileSystem, work: Path, original: Path, digest: str, size: int, times: int
) -> list[Measurement]:
    results = []
    out = work / "dfs-download.bin"
    for replication in (1, DATANODES):
        remote = f"/bench/r{replication}"

        def put(remote: str = remote, replication: int = replication) -> None:
            status = fs.put(original, remote, replication=replication, overwrite=True)
            if status.length != size:
                raise SystemExit(f"FAIL: put {remote}: length {status.length}, expected {size}")

        def get(remote: str = remote) -> None:
            if (got := fs.get(remote, out)) != size:
                raise SystemExit(f"FAIL: get {remote}: read {got} bytes, expected {size}")

        results.append(repeat(Measurement(f"dfs put r={replication}", "write", size), times, put))
        results.append(repeat(Measurement(f"dfs get r={replication}", "read", size), times, get))
        verify(out, digest, f"dfs get r={replication}")
        out.unlink()
    return results


def ratio(m: Measurement, baseline: Measurement) -> str:
    return f"{baseline.best / m.best:.2f}x"


def table(results: list[Measurement]) -> str:
    by_name = {m.name: m for m in results}
    baselines = {
        "write": (by_name["local cp"], by_name["raw HTTP upload"]),
        "read": (by_name["local read"], by_name["raw HTTP download"]),
    }
    header = (
        f"{'operation':<20} {'best s':>8} {'median s':>9} {'MiB/s':>8} "
        f"{'vs cp/read':>11} {'vs raw HTTP':>12}"
    )
    lines = [header, "-" * len(header)]
    for m in results:
        local, raw = baselines[m.kind]
        lines.append(
            f"{m.name:<20} {m.best:8.3f} {m.median:9.3f} {m.mib_per_s:8.0f} "
            f"{ratio(m, local):>11} {ratio(m, raw):>12}"
        )
    return "\n".join(lines)


def record(args: argparse.Namespace, results: list[Measurement], extra: dict[str, float]) -> None:
    line = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "node": platform.node(),
        "commit": git_commit(),
        "size_mb": args.size_mb,
        "repeat": args.repeat,
        "block_size": BLOCK_SIZE,
        "datanodes": DATANODES,
        **extra,
        "results": [
            {**asdict(m), "best": m.best, "median": m.median, "mib_per_s": m.mib_per_s}
            for m in results
        ],
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with open(RESULTS, "a") as f:
        f.write(json.dumps(line) + "\n")


def run(args: argparse.Namespace, work: Path) -> None:
    size = args.size_mb * MiB
    original = work / "original.bin"
    print(f"generating {args.size_mb} MiB in {work}", flush=True)
    digest = generate(original, size)

    results = measure_local(work, original, digest, size, args.repeat)
    results += measure_raw_http(work, original, digest, size, args.repeat)

    cluster = LocalCluster(work / "cluster")
    try:
        startup = timed(
            lambda: cluster.start(
                datanodes=DATANODES,
                settings={"block_size": BLOCK_SIZE, "heartbeat_interval": 0.5},
            )
        )
        print(f"  {'cluster start':<22} {startup:7.3f} s", flush=True)
        with FileSystem.from_cluster(cluster.directory) as fs:
            results += measure_dfs(fs, work, original, digest, size, args.repeat)
    finally:
        cluster.stop()

    print()
    print(f"{args.size_mb} MiB, best of {args.repeat}; ratios are throughput / baseline's")
    print(table(results))
    record(args, results, {"cluster_start_s": startup})
    print(f"\nappended to {RESULTS}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("--size-mb", type=int, default=256, help="test file size in MiB")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measurement")
    workdir_options(parser)
    args = parser.parse_args(argv)
    if args.size_mb < 1 or args.repeat < 1:
        parser.error("--size-mb and --repeat must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_in_workdir(args, run)


if __name__ == "__main__":
    sys.exit(main())
