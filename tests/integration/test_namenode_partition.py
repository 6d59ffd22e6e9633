"""A namenode group across a real network: the leader is cut off by a partition, not killed.

Three namenodes and three datanodes, each in a network namespace of its own on one LAN
(`tests.netns`); the test process is the client. Cutting the leader's link leaves it
running, with its disk and its belief that it leads: the other two elect a leader between
them and the clients carry on; the cut-off one, having lost its quorum, steps down (check
quorum) and, once the link is back, rejoins as a follower with the writes it missed.
"""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from minihadoop.filesystem import FileSystem
from minihadoop.ha import group_state
from minihadoop.signing import ClusterAuth
from tests.conftest import FAST
from tests.integration.test_partition import _ready
from tests.netns import Lan, NetnsUnavailable
from tests.support import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

NAMENODES = ("nn1", "nn2", "nn3")
DATANODES = ("dn0", "dn1", "dn2")
PORT, SERVICE_PORT, DATANODE_PORT = 9870, 8022, 9864
REPO = Path(__file__).resolve().parents[2]
SETTINGS = {**FAST, "raft_tick": 0.05, "retry_window": 60.0, "replication": 3}


@dataclass
class NetGroup:
    lan: Lan
    directory: Path
    token: str = field(default_factory=lambda: secrets.token_urlsafe(24))

    def url(self, name: str, port: int = PORT) -> str:
        return f"http://{self.lan.hosts[name].ip}:{port}"

    @property
    def client_urls(self) -> str:
        return ";".join(self.url(n) for n in NAMENODES)

    def start(self) -> None:
        env = {**os.environ, "MINIHADOOP_TOKEN": self.token}
        env.update({f"MINIHADOOP_{k.upper()}": str(v) for k, v in SETTINGS.items()})
        peers = ",".join(f"{n}={self.url(n)}" for n in NAMENODES)
        service = ",".join(f"{n}={self.url(n, SERVICE_PORT)}" for n in NAMENODES)
        waits = [
            self._spawn(
                n,
                [
                    "namenode", "--dir", str(self.directory / n), "--id", n,
                    "--service-port", str(SERVICE_PORT), "--peers", peers,
                    "--service-peers", service,
                ],
                PORT,
                env,
            )
            for n in NAMENODES
        ]  # fmt: skip
        for wait in waits:
            wait()
        namenodes = ",".join(self.url(n, SERVICE_PORT) for n in NAMENODES)
        waits = [
            self._spawn(
                d,
                ["datanode", "--dir", str(self.directory / d), "--namenode", namenodes],
                DATANODE_PORT,
                env,
            )
            for d in DATANODES
        ]
        for wait in waits:
            wait()
        with FileSystem(self.client_urls, self.token) as fs:

            def all_registered() -> bool:
                status = fs.cluster()
                return status["live"] == len(DATANODES) and not status["safemode"]

            wait_for(all_registered, timeout=60, what="every datanode registered")

    def _spawn(
        self, name: str, argv: list[str], port: int, env: dict[str, str]
    ) -> Callable[[], None]:
        host = self.lan.hosts[name]
        ready = self.directory / f".{name}.ready"
        log = self.directory / "logs" / f"{name}.log"
        argv = [*argv, "--host", host.ip, "--port", str(port), "--ready-file", str(ready)]
        proc = self.lan.spawn(
            host, [sys.executable, "-m", "cli", *argv], env=env, log=log, cwd=REPO
        )
        return lambda: wait_for(
            lambda: _ready(proc, ready, log), timeout=60, what=f"{name} serving"
        )

    def roles(self) -> dict[str, str]:
        found = group_state(
            {n: self.url(n) for n in NAMENODES}, auth=ClusterAuth(self.token), timeout=1.0
        )
        return {s.name: s.role for s in found}

    def leader(self) -> str:
        def one() -> str | None:
            leaders = [n for n, role in self.roles().items() if role == "leader"]
            return leaders[0] if len(leaders) == 1 else None

        found: str = wait_for(one, timeout=30, what="one leader")
        return found


@pytest.fixture
def net_group(tmp_path: Path) -> Iterator[NetGroup]:
    try:
        lan = Lan.create([*NAMENODES, *DATANODES])
    except NetnsUnavailable as exc:
        pytest.fail(f"network namespaces are not available here: {exc}")
    try:
        group = NetGroup(lan, tmp_path)
        group.start()
        yield group
    finally:
        lan.close()


def test_a_partitioned_leader_is_replaced_and_rejoins_as_a_follower(net_group: NetGroup) -> None:
    written: dict[str, bytes] = {}
    with FileSystem(net_group.client_urls, net_group.token) as fs:
        for i in range(3):
            written[f"/p/before-{i}"] = os.urandom(500)
            fs.write_bytes(f"/p/before-{i}", written[f"/p/before-{i}"])
        old = net_group.leader()
        net_group.lan.cut(net_group.lan.hosts[old])
        try:
            for i in range(3):  # the first waits out the failover; none fails
                written[f"/p/during-{i}"] = os.urandom(600)
                fs.write_bytes(f"/p/during-{i}", written[f"/p/during-{i}"])
            new = net_group.leader()  # among the two still connected
            assert new != old
        finally:
            net_group.lan.heal(net_group.lan.hosts[old])
        wait_for(
            lambda: net_group.roles().get(old) == "follower",
            timeout=30,
            what="the old leader to rejoin as a follower",
        )
        assert net_group.leader() == new  # it did not disrupt the group coming back
        for path, data in written.items():
            assert fs.read_bytes(path) == data
        # It caught up: asked directly once it leads, it would have every write. Here: its
        # applied index reaches the leader's commit.
        auth = ClusterAuth(net_group.token)

        def caught_up() -> bool:
            found = group_state({n: net_group.url(n) for n in NAMENODES}, auth=auth, timeout=1.0)
            states = {s.name: s for s in found}
            return (states[old].applied or 0) >= (states[new].commit or 0)

        wait_for(caught_up, timeout=30, what="the old leader to catch up")
