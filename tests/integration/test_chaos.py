"""Chaos: a real cluster under a real workload while faults are injected at random.

Writers write files and remember those the cluster acknowledged (with their sha256);
readers read acknowledged files back and check every byte; a word count job runs. Meanwhile
a seeded schedule kills -9 and restarts the namenode, kills -9 / stops / resumes datanodes,
rots, truncates and deletes replica and checksum files, kills workers, and restarts the job
tracker. Then everything is healed and the promises are checked: every acknowledged file is
whole (lost = 0), no read ever returned wrong bytes, the filesystem is back to HEALTHY at
full replication, and the job either succeeded with the right output or failed saying why
with no `_SUCCESS`.

Replay a failing schedule with MINIHADOOP_CHAOS_SEED=<seed> (the seed is in the failure).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import random
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from mapreduce import Job, JobState
from minihadoop.errors import MiniHadoopError
from minihadoop.filesystem import FileSystem
from minihadoop.localcluster import LocalCluster
from tests.support import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]
CHAOS_SECONDS = float(os.environ.get("MINIHADOOP_CHAOS_SECONDS", "25"))
SEEDS = [int(s) for s in os.environ.get("MINIHADOOP_CHAOS_SEED", "1,2").split(",")]


@dataclass
class Ledger:
    """What the workload was promised and what it saw."""

    acknowledged: dict[str, str] = field(default_factory=dict)
    writes_failed: int = 0
    reads_ok: int = 0
    reads_failed: int = 0
    bytes_checked: int = 0
    wrong_reads: list[str] = field(default_factory=list)
    faults: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def writer(directory: Path, n: int, seed: int, ledger: Ledger, stop: threading.Event) -> None:
    rng = random.Random(seed * 100 + n)
    with FileSystem.from_cluster(directory, timeout=15) as fs:
        i = 0
        while not stop.is_set():
            path = f"/chaos/w{n}/f{i}"
            data = rng.randbytes(rng.choice([0, 1, 5_000, 70_000, 300_000, 1_500_000]))
            i += 1
            try:
                fs.write_bytes(path, data, overwrite=True)
            except (MiniHadoopError, httpx.HTTPError, OSError):
                with ledger.lock:
                    ledger.writes_failed += 1
                time.sleep(0.05)  # pacing: do not spin while the cluster is down
                continue
            with ledger.lock:
                ledger.acknowledged[path] = hashlib.sha256(data).hexdigest()


def reader(directory: Path, seed: int, ledger: Ledger, stop: threading.Event) -> None:
    rng = random.Random(seed * 1000)
    with FileSystem.from_cluster(directory, timeout=15) as fs:
        while not stop.is_set():
            with ledger.lock:
                known = list(ledger.acknowledged.items())
            if not known:
                time.sleep(0.05)  # pacing the workload, not synchronisation
                continue
            path, digest = rng.choice(known)
            try:
                data = fs.read_bytes(path)
            except (MiniHadoopError, httpx.HTTPError, OSError):
                with ledger.lock:
                    ledger.reads_failed += 1  # unavailable is allowed; wrong bytes are not
                time.sleep(0.05)  # pacing: do not spin while the cluster is down
                continue
            with ledger.lock:
                if hashlib.sha256(data).hexdigest() != digest:
                    ledger.wrong_reads.append(path)
                ledger.reads_ok += 1
                ledger.bytes_checked += len(data)


def replica_files(cluster: LocalCluster) -> list[Path]:
    found = []
    for d in cluster._require().daemons:
        if d.name.startswith("datanode-"):
            found.extend(Path(d.data_dir, "current").glob("subdir*/blk_*"))
    return found


def _block_of(path: Path) -> str:
    return path.name.removesuffix(".meta")


class Chaos:
    """Faults drawn from a seeded schedule; `heal()` undoes whatever is still broken."""

    def __init__(self, cluster: LocalCluster, rng: random.Random, ledger: Ledger) -> None:
        self.cluster = cluster
        self.rng = rng
        self.ledger = ledger
        self.down: set[str] = set()
        self.stopped: set[str] = set()
        self.rotted: set[str] = set()
        names = [d.name for d in cluster._require().daemons]
        self.datanodes = sorted(n for n in names if n.startswith("datanode-"))
        self.workers = sorted(n for n in names if n.startswith("worker-"))

    def note(self, what: str) -> None:
        self.ledger.faults.append(what)

    def step(self) -> None:
        faults: list[Callable[[], None]] = [
            self.kill_namenode,
            self.kill_datanode,
            self.pause_datanode,
            self.rot_replica,
            self.kill_worker,
            self.restart_jobtracker,
            self.revive,
        ]
        self.rng.choice(faults)()

    def kill_namenode(self) -> None:
        self.note("kill -9 namenode, restart")
        self.cluster.kill("namenode", signal.SIGKILL)
        self.cluster.restart("namenode")

    def kill_datanode(self) -> None:
        # Never take down more than one datanode at a time: replication 3 survives R-1.
        alive = [d for d in self.datanodes if d not in self.down | self.stopped]
        if len(alive) < len(self.datanodes):
            return self.revive()
        name = self.rng.choice(alive)
        self.note(f"kill -9 {name}")
        self.cluster.kill(name, signal.SIGKILL)
        self.down.add(name)

    def pause_datanode(self) -> None:
        alive = [d for d in self.datanodes if d not in self.down | self.stopped]
        if len(alive) < len(self.datanodes):
            return self.revive()
        name = self.rng.choice(alive)
        self.note(f"SIGSTOP {name}")
        self.cluster.kill(name, signal.SIGSTOP)
        self.stopped.add(name)

    def rot_replica(self) -> None:
        # One damaged replica per block at most: the promise is about R-1 bad replicas.
        files = [f for f in replica_files(self.cluster) if _block_of(f) not in self.rotted]
        if not files:
            return
        victim = self.rng.choice(files)
        self.rotted.add(_block_of(victim))
        how = self.rng.choice(["flip", "truncate", "delete", "meta"])
        self.note(f"{how} {victim.parent.parent.parent.name}/{victim.name}")
        with contextlib.suppress(OSError):
            if how == "flip" and victim.stat().st_size:
                with open(victim, "r+b") as f:
                    f.seek(self.rng.randrange(victim.stat().st_size))
                    byte = f.read(1)
                    f.seek(-1, os.SEEK_CUR)
                    f.write(bytes([byte[0] ^ 0xFF]))
            elif how == "truncate":
                os.truncate(victim, victim.stat().st_size // 2)
            elif how == "delete":
                victim.unlink()
            else:
                meta = victim.with_name(victim.name + ".meta")
                data = bytearray(meta.read_bytes())
                if len(data) > 40:
                    data[-1] ^= 0xFF
                    meta.write_bytes(bytes(data))

    def kill_worker(self) -> None:
        alive = [w for w in self.workers if w not in self.down]
        if len(alive) < len(self.workers):
            return self.revive()
        name = self.rng.choice(alive)
        self.note(f"kill -9 {name}")
        self.cluster.kill(name, signal.SIGKILL)
        self.down.add(name)

    def restart_jobtracker(self) -> None:
        self.note("kill -9 jobtracker, restart")
        self.cluster.kill("jobtracker", signal.SIGKILL)
        self.cluster.restart("jobtracker")

    def revive(self) -> None:
        for name in sorted(self.stopped):
            self.note(f"SIGCONT {name}")
            self.cluster.kill(name, signal.SIGCONT)
        self.stopped.clear()
        for name in sorted(self.down):
            self.note(f"restart {name}")
            self.cluster.restart(name)
        self.down.clear()

    def heal(self) -> None:
        self.revive()


def word_count_job(
    directory: Path, output: str, ledger: Ledger, results: list[object], stop: threading.Event
) -> None:
    """Submit (retrying while the cluster is in trouble) and wait; record the result."""

    def mapper(offset: int, line: str) -> Iterator[tuple[str, int]]:
        for word in line.split():
            yield word, 1

    def reducer(word: str, counts: Iterator[int]) -> Iterator[tuple[str, int]]:
        yield word, sum(counts)

    while not stop.is_set():
        try:
            job = Job(mapper, reducer, inputs=["/chaos-job/in"], output=output, num_reducers=2,
                      cluster_dir=directory)  # fmt: skip
            running = job.submit()
        except (MiniHadoopError, httpx.HTTPError):
            time.sleep(0.2)  # pacing retries while the cluster is down
            continue
        with running:
            while True:
                try:
                    results.append(running.wait())
                    return
                except (MiniHadoopError, httpx.HTTPError):
                    if stop.is_set():
                        return
                    time.sleep(0.2)


def wait_until_healthy(fs: FileSystem, path: str, schedule: str) -> None:
    """Wait for fsck to say HEALTHY at full replication; a timeout names the bad blocks."""
    unhealthy: list[dict[str, object]] = []

    def healthy() -> bool:
        report = fs.fsck(path)
        unhealthy[:] = [
            {"path": f["path"], **b}
            for f in report["files_detail"]
            for b in f["blocks"]
            if b["state"] != "HEALTHY"
        ]
        return report["status"] == "HEALTHY" and report["under_replicated"] == 0

    try:
        wait_for(healthy, timeout=90, what="a healthy filesystem")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; unhealthy blocks {unhealthy} ({schedule})") from None


@pytest.mark.parametrize("seed", SEEDS)
def test_chaos_loses_nothing_acknowledged(
    make_cluster: Callable[..., LocalCluster], seed: int
) -> None:
    cluster = make_cluster(datanodes=4, worker_timeout=2.0, checkpoint_every=50)
    rng = random.Random(seed)
    text = "".join(
        f"{' '.join(rng.choices(['a', 'b', 'c', 'd', 'e'], k=8))}\n" for _ in range(4000)
    )
    with FileSystem.from_cluster(cluster.directory) as fs:
        fs.write_bytes("/chaos-job/in/text", text.encode(), block_size=8192)
    ledger = Ledger()
    chaos = Chaos(cluster, rng, ledger)
    stop = threading.Event()
    job_results: list[object] = []
    threads = [
        threading.Thread(target=writer, args=(cluster.directory, n, seed, ledger, stop))
        for n in range(2)
    ]
    threads.append(threading.Thread(target=reader, args=(cluster.directory, seed, ledger, stop)))
    threads.append(
        threading.Thread(
            target=word_count_job,
            args=(cluster.directory, "/chaos-job/out", ledger, job_results, stop),
        )
    )
    for t in threads:
        t.start()
    deadline = time.monotonic() + CHAOS_SECONDS
    try:
        while time.monotonic() < deadline:
            time.sleep(rng.uniform(0.5, 2.0))  # the schedule's pacing, not synchronisation
            chaos.step()
    finally:
        chaos.heal()
        stop.set()
        for t in threads:
            t.join(timeout=60)
    schedule = f"seed {seed}: " + "; ".join(ledger.faults)

    with FileSystem.from_cluster(cluster.directory) as fs:
        cluster.wait_for_datanodes(4, timeout=60)

        wait_until_healthy(fs, "/chaos", schedule)
        lost = []
        for path, digest in sorted(ledger.acknowledged.items()):
            try:
                ok = hashlib.sha256(fs.read_bytes(path)).hexdigest() == digest
            except MiniHadoopError as exc:
                ok, path = False, f"{path} ({exc})"
            if not ok:
                lost.append(path)
        assert not ledger.wrong_reads, (
            f"reads returned wrong bytes: {ledger.wrong_reads} ({schedule})"
        )
        assert lost == [], f"lost acknowledged files: {lost} ({schedule})"
        assert len(ledger.acknowledged) > 10, f"the workload barely ran ({schedule})"

        assert job_results, f"the job never finished ({schedule})"
        result = job_results[0]
        names = {e.name for e in fs.ls("/chaos-job/out")} if fs.exists("/chaos-job/out") else set()
        if result.state is JobState.SUCCEEDED:  # type: ignore[attr-defined]
            counts: Counter[str] = Counter()
            for name in names:
                if name.startswith("part-"):
                    for line in fs.read_bytes(f"/chaos-job/out/{name}").decode().splitlines():
                        word, n = line.split("\t")
                        counts[word] = int(n)
            assert counts == Counter(text.split()), schedule
        else:
            assert result.error, schedule  # type: ignore[attr-defined]
            assert "_SUCCESS" not in names, schedule
    print(
        f"\nchaos {schedule}\n  acknowledged files {len(ledger.acknowledged)}, write failures "
        f"{ledger.writes_failed}, reads verified {ledger.reads_ok} "
        f"({ledger.bytes_checked:,} bytes), reads unavailable {ledger.reads_failed}, "
        f"job {result.state.value}, lost 0"  # type: ignore[attr-defined]
    )
