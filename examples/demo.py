"""The demo: a local cluster, an upload, a word count, and the dashboard's URL.

    make demo            # or: python examples/demo.py

Starts a namenode, three datanodes, a job tracker and three workers (reusing them if already
running) in $MINIHADOOP_HOME (default ~/.minihadoop), uploads a generated text with small
blocks so it spreads over the datanodes, counts its words with MapReduce, checks the answer
against a plain Python count, and prints where to look. The cluster keeps running
afterwards; `minihadoop cluster down` stops it.
"""

from __future__ import annotations

import random
import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import wordcount  # the example job beside this script

from mapreduce import Job
from minihadoop.config import home_dir
from minihadoop.filesystem import FileSystem
from minihadoop.localcluster import LocalCluster

WORDS = (
    "the quick brown fox jumps over the lazy dog while hadoop splits files into blocks "
    "and every block lives on three datanodes so nothing is lost when one of them dies"
).split()


def corpus(lines: int, seed: int = 7) -> str:
    rng = random.Random(seed)
    weights = [1 / (i + 1) for i in range(len(WORDS))]
    return "".join(
        " ".join(rng.choices(WORDS, weights, k=rng.randint(5, 15))).capitalize() + ".\n"
        for _ in range(lines)
    )


def main() -> None:
    home = home_dir()
    cluster = LocalCluster(home)
    if cluster.running():
        print(f"using the cluster already running in {home}")
    else:
        print(f"starting a namenode, 3 datanodes, a job tracker and 3 workers in {home} …")
        cluster.start(datanodes=3, settings={"heartbeat_interval": 1.0})
    text = corpus(40_000)
    with FileSystem.from_cluster(home) as fs, tempfile.TemporaryDirectory() as tmp:
        local = Path(tmp) / "corpus.txt"
        local.write_text(text)
        status = fs.put(local, "/demo/in/corpus.txt", overwrite=True, block_size=256 << 10)
        blocks = fs.blocks(status.path).blocks
        print(
            f"uploaded {status.path}: {status.length:,} bytes in {len(blocks)} blocks, "
            f"each on {status.replication} datanodes"
        )
        if fs.exists("/demo/out"):
            fs.rm("/demo/out", recursive=True, skip_trash=True)
        result = Job(
            wordcount.mapper,
            wordcount.reducer,
            combiner=wordcount.combiner,
            inputs=["/demo/in"],
            output="/demo/out",
            num_reducers=2,
            name="demo-wordcount",
            cluster_dir=home,
        ).run()
        if not result.ok:
            sys.exit(f"word count failed: {result.error}")
        counts: Counter[str] = Counter()
        for entry in fs.ls("/demo/out"):
            if entry.name.startswith("part-"):
                for line in fs.read_bytes(entry.path).decode().splitlines():
                    word, n = line.split("\t")
                    counts[word] = int(n)
        expected = Counter(w for line in text.splitlines() for w, _ in wordcount.mapper(0, line))
        c = result.counters
        print(
            f"word count {result.state.value} in {result.duration:.1f}s: "
            f"{result.status['maps']} maps ({c.get('DATA_LOCAL_MAPS', 0)} data-local), "
            f"{result.status['reduces']} reduces, {len(counts)} distinct words"
        )
        print("most common:", ", ".join(f"{w} {n}" for w, n in counts.most_common(5)))
        print(f"matches a plain Python count: {counts == expected}")
        print(f"\ndashboard:  {fs.namenode}/")
        print(f"this job:   {fs.namenode}/jobs/{result.id}")
    print("stop the cluster with: .venv/bin/minihadoop cluster down")


if __name__ == "__main__":
    main()
