"""The demo: a local cluster, an upload, a look at where the blocks went.

    make demo            # or: python examples/demo.py

Starts a namenode and three datanodes (reusing them if already running) in
$MINIHADOOP_HOME (default ~/.minihadoop), writes a generated text file with small blocks so it
spreads over several datanodes, reads it back, and prints fsck's verdict and the URLs.
The cluster keeps running afterwards; `minihadoop cluster down` stops it.
"""

from __future__ import annotations

import hashlib
import random
import tempfile
from pathlib import Path

from minihadoop.config import home_dir
from minihadoop.filesystem import FileSystem
from minihadoop.localcluster import LocalCluster

WORDS = "the quick brown fox jumps over lazy dog hadoop block replica namenode datanode".split()  # noqa: SIM905


def corpus(lines: int, seed: int = 7) -> str:
    rng = random.Random(seed)
    return "".join(" ".join(rng.choices(WORDS, k=rng.randint(5, 15))) + "\n" for _ in range(lines))


def main() -> None:
    home = home_dir()
    cluster = LocalCluster(home)
    if cluster.running():
        print(f"using the cluster already running in {home}")
    else:
        print(f"starting a namenode and 3 datanodes in {home} …")
        cluster.start(datanodes=3, settings={"heartbeat_interval": 1.0})
    with FileSystem.from_cluster(home) as fs, tempfile.TemporaryDirectory() as tmp:
        local = Path(tmp) / "corpus.txt"
        local.write_text(corpus(60_000))
        status = fs.put(local, "/demo/corpus.txt", overwrite=True, block_size=1 << 20)
        print(f"uploaded {status.path}: {status.length:,} bytes, replication {status.replication}")
        located = fs.blocks(status.path)
        for lb in located.blocks:
            where = ", ".join(loc.url.rsplit(":", 1)[1] for loc in lb.locations)
            print(f"  block {lb.block.block_id}: {lb.block.length:>8,} bytes on ports {where}")
        back = fs.read_bytes(status.path)
        same = hashlib.sha256(back).digest() == hashlib.sha256(local.read_bytes()).digest()
        print(f"read back {len(back):,} bytes, identical: {same}")
        counts: dict[str, int] = {}
        for word in back.decode().split():
            counts[word] = counts.get(word, 0) + 1
        top = sorted(counts.items(), key=lambda kv: -kv[1])[:5]
        print("most common words:", ", ".join(f"{w} {n}" for w, n in top))
        print(fs.fsck("/demo")["verdict"])
        print(f"\nnamenode:       {fs.namenode}/")
        print(f"cluster status: {fs.namenode}/nn/v1/cluster")
        print(f"HTTP API docs:  {fs.namenode}/docs")
    print("stop the cluster with: minihadoop cluster down")


if __name__ == "__main__":
    main()
