"""Network partitions: every daemon in a network namespace of its own, links cut and healed.

The namenode and four datanodes each run in their own namespace on one LAN (`tests.netns`),
bound to their namespace's address; the test process is the client, in the root namespace,
with an address on the LAN's bridge. Unlike killing a daemon, a partition leaves the cut-off
process running with its disk intact: a datanode cut off is declared dead and replaced, and
when the link comes back it returns with replicas the cluster no longer needs.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from subprocess import Popen
from typing import Any

import httpx
import pytest

from minihadoop.errors import UnavailableError
from minihadoop.filesystem import FileSystem
from tests.conftest import FAST
from tests.netns import Host, Lan, NetnsUnavailable
from tests.support import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

MiB = 1 << 20
NAMENODE_PORT = 9870
DATANODE_PORT = 9864
DATANODES = ("dn0", "dn1", "dn2", "dn3")
REPO = Path(__file__).resolve().parents[2]
CONNECT_TIMEOUT = 10.0  # FileSystem's connect timeout, whatever its `timeout`


@dataclass
class NetCluster:
    """A namenode and datanodes, each inside its own namespace of `lan`."""

    lan: Lan
    directory: Path
    token: str = field(default_factory=lambda: secrets.token_urlsafe(24))

    @property
    def namenode_url(self) -> str:
        return f"http://{self.lan.hosts['nn'].ip}:{NAMENODE_PORT}"

    def start(self) -> None:
        env = {**os.environ, "MINIHADOOP_TOKEN": self.token}
        env.update({f"MINIHADOOP_{k.upper()}": str(v) for k, v in FAST.items()})
        self._spawn("nn", ["namenode", "--dir", str(self.directory / "nn")], NAMENODE_PORT, env)()
        waits = [
            self._spawn(
                name,
                ["datanode", "--dir", str(self.data_dir(name)), "--namenode", self.namenode_url],
                DATANODE_PORT,
                env,
            )
            for name in DATANODES
        ]
        for wait in waits:
            wait()
        with FileSystem(self.namenode_url, self.token) as fs:

            def all_registered() -> bool:
                status = fs.cluster()
                return status["live"] == len(DATANODES) and not status["safemode"]

            wait_for(all_registered, timeout=30, what="every datanode registered")

    def _spawn(
        self, name: str, argv: list[str], port: int, env: dict[str, str]
    ) -> Callable[[], None]:
        """Start a daemon in its host's namespace; a call that waits until it serves."""
        host = self.lan.hosts[name]
        ready = self.directory / f".{name}.ready"
        log = self.directory / "logs" / f"{name}.log"
        argv = [*argv, "--host", host.ip, "--port", str(port), "--ready-file", str(ready)]
        proc = self.lan.spawn(
            host, [sys.executable, "-m", "cli", *argv], env=env, log=log, cwd=REPO
        )
        return lambda: wait_for(
            lambda: _ready(proc, ready, log), timeout=30, what=f"{name} serving"
        )

    def data_dir(self, name: str) -> Path:
        return self.directory / name

    def host_of(self, url: str) -> Host:
        return next(h for h in self.lan.hosts.values() if url == f"http://{h.ip}:{DATANODE_PORT}")

    def replicas_on_disk(self, block_id: int) -> set[str]:
        """The datanodes with the block's replica file on their disk."""
        where = Path("current") / f"subdir{block_id % 64}" / f"blk_{block_id}"
        return {name for name in DATANODES if (self.data_dir(name) / where).exists()}


def _ready(proc: Popen[bytes], ready: Path, log: Path) -> bool:
    if proc.poll() is not None:
        tail = log.read_text(errors="replace")[-2000:]
        raise AssertionError(f"exited with code {proc.returncode}:\n{tail}")
    if not (ready.exists() and ready.read_text()):
        return False
    try:
        url = ready.read_text().split()[0]  # a namenode adds its service URL below
        return httpx.get(f"{url}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture
def net_cluster(tmp_path: Path) -> Iterator[NetCluster]:
    try:
        lan = Lan.create(["nn", *DATANODES])
    except NetnsUnavailable as exc:
        pytest.fail(f"network namespaces are not available here: {exc}")
    try:
        cluster = NetCluster(lan, tmp_path)
        cluster.start()
        yield cluster
    finally:
        lan.close()


def fsck_locations(fs: FileSystem, path: str) -> dict[int, list[str]]:
    """block id -> the urls of its live replicas, as the namenode sees them."""
    return {
        b["block_id"]: b["locations"] for f in fs.fsck(path)["files_detail"] for b in f["blocks"]
    }


def state_of(fs: FileSystem, url: str) -> str | None:
    return next((d["state"] for d in fs.cluster()["datanodes"] if d["url"] == url), None)


def test_partitioned_datanode_is_replaced_then_its_excess_replicas_go(
    net_cluster: NetCluster,
) -> None:
    c = net_cluster
    with FileSystem(c.namenode_url, c.token) as fs:
        data = os.urandom(6 * MiB + 4321)  # seven blocks
        fs.write_bytes("/part/f", data)
        block_ids = [b.block.block_id for b in fs.blocks("/part/f").blocks]
        assert len(block_ids) == 7
        # Reports of the last replicas may trail the client's close.
        wait_for(
            lambda: all(len(urls) == 3 for urls in fsck_locations(fs, "/part").values()),
            what="3 live replicas of every block",
        )
        victim_url = fs.blocks("/part/f").blocks[0].locations[0].url
        victim = c.host_of(victim_url)
        held = {b for b in block_ids if victim.name in c.replicas_on_disk(b)}
        assert block_ids[0] in held

        cut_at = time.monotonic()
        c.lan.cut(victim)
        wait_for(lambda: state_of(fs, victim_url) == "DEAD", timeout=30, what="declared dead")
        dead_after = time.monotonic() - cut_at

        def replaced() -> bool:
            where = fsck_locations(fs, "/part")
            return all(len(urls) == 3 and victim_url not in urls for urls in where.values())

        wait_for(replaced, timeout=60, what="3 live replicas of every block without the victim")
        replaced_after = time.monotonic() - cut_at
        assert fs.read_bytes("/part/f") == data
        # Cut off, not dead: its copies are still on its disk, about to be one too many.
        assert all(victim.name in c.replicas_on_disk(b) for b in held)
        on_disk = sum(len(c.replicas_on_disk(b)) for b in block_ids)
        assert on_disk == 3 * len(block_ids) + len(held)

        healed_at = time.monotonic()
        c.lan.heal(victim)
        wait_for(lambda: state_of(fs, victim_url) == "LIVE", timeout=60, what="back LIVE")
        live_after = time.monotonic() - healed_at

        def untrimmed() -> dict[int, tuple[set[str], set[str]]]:
            """Blocks not yet at exactly 3 replicas, the same ones at the namenode and on
            disk: block -> (namenode's holders, holders on disk)."""
            where = fsck_locations(fs, "/part")
            view = {
                b: ({c.host_of(u).name for u in where[b]}, c.replicas_on_disk(b)) for b in block_ids
            }
            return {b: v for b, v in view.items() if not (len(v[0]) == 3 and v[0] == v[1])}

        # Only its block report can have told the namenode of the excess it then removed.
        with contextlib.suppress(AssertionError):
            wait_for(lambda: not untrimmed(), timeout=60)
        assert untrimmed() == {}, "excess replicas not removed within 60s"
        trimmed_after = time.monotonic() - healed_at
        assert sum(len(c.replicas_on_disk(b)) for b in block_ids) == 3 * len(block_ids)
        assert fs.read_bytes("/part/f") == data
        assert fs.fsck("/")["status"] == "HEALTHY"
        print(
            f"\npartition: {victim.name} held {len(held)} of {len(block_ids)} blocks; "
            f"DEAD after {dead_after:.1f}s, re-replicated after {replaced_after:.1f}s; "
            f"healed: LIVE after {live_after:.1f}s, excess trimmed after {trimmed_after:.1f}s"
        )


def test_namenode_cut_off_from_the_client_only_is_a_clear_bounded_error(
    net_cluster: NetCluster,
) -> None:
    c = net_cluster
    nn = c.lan.hosts["nn"]
    cannot_reach = rf"cannot reach {re.escape(nn.ip)}:{NAMENODE_PORT}"
    # No retries (retry_window=0): this measures what one call costs; a client that retries
    # waits up to its retry window more (tests/integration/test_restarts.py).
    with FileSystem(c.namenode_url, c.token, timeout=3.0, retry_window=0) as fs:
        data = os.urandom(2 * MiB + 1)
        fs.write_bytes("/cut/f", data)
        c.lan.cut_from_client(nn)
        try:
            # A client mid-conversation (its connection kept alive): its own timeout.
            started = time.monotonic()
            with pytest.raises(UnavailableError, match=cannot_reach):
                fs.ls("/")
            waited = time.monotonic() - started
            assert waited < CONNECT_TIMEOUT + 2
            # A new client with default timeouts: the connect timeout.
            started = time.monotonic()
            with (
                FileSystem(c.namenode_url, c.token, retry_window=0) as fresh,
                pytest.raises(UnavailableError, match=cannot_reach),
            ):
                fresh.stat("/cut/f")
            fresh_waited = time.monotonic() - started
            assert fresh_waited < CONNECT_TIMEOUT + 2
            # Only the namenode is out of the client's reach.
            for name in DATANODES:
                url = f"http://{c.lan.hosts[name].ip}:{DATANODE_PORT}/health"
                assert httpx.get(url, timeout=5).status_code == 200
        finally:
            c.lan.heal_from_client(nn)

        healed_at = time.monotonic()
        assert wait_for(lambda: _answers(fs), timeout=30, what="the namenode reachable again")
        back_after = time.monotonic() - healed_at
        assert fs.read_bytes("/cut/f") == data
        fs.write_bytes("/cut/g", b"written after the partition healed")
        assert fs.read_bytes("/cut/g") == b"written after the partition healed"
        status: dict[str, Any] = fs.cluster()
        # The datanodes kept their namenode all along: none was ever declared dead.
        assert status["live"] == len(DATANODES)
        assert not [e for e in status["events"] if "is dead" in e["message"]]
        print(
            f"\nclient cut from namenode: UnavailableError after {waited:.1f}s "
            f"(kept-alive client, timeout=3), {fresh_waited:.1f}s (new default client); "
            f"answers {back_after:.1f}s after healing"
        )


def _answers(fs: FileSystem) -> bool:
    try:
        fs.ls("/")
    except UnavailableError:
        return False
    return True
