"""One datanode process serving two namenode processes, one of which stops, then dies.

The two namenodes are single namenodes of today (two clusters' namenodes sharing one
token), both answering "active at term 0". Each would delete the replicas of blocks it does
not know, which is what the term fence exists to stop in a real group; so this test writes
no data and checks only what is safe to check this way: a namenode killed with SIGKILL
holds up no heartbeat to the other, nor does one stopped (SIGSTOP: it accepts connections and
answers nothing, as when cut off), and each gets the datanode back when it returns.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from minihadoop.filesystem import FileSystem
from minihadoop.localcluster import LocalCluster
from tests.conftest import FAST, print_log_tails
from tests.support import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def two_namenodes(tmp_path: Path) -> Iterator[tuple[LocalCluster, LocalCluster]]:
    token = secrets.token_urlsafe(24)
    made: list[LocalCluster] = []
    try:
        for name in ("a", "b"):
            c = LocalCluster(tmp_path / name)
            made.append(c)
            c.start(datanodes=0, mapreduce=False, token=token, settings=dict(FAST))
        yield made[0], made[1]
    finally:
        for c in made:
            c.stop()


def start_datanode(directory: Path, token: str, namenodes: list[str]) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MINIHADOOP_")}
    env.update({f"MINIHADOOP_{k.upper()}": str(v) for k, v in FAST.items()})
    env["MINIHADOOP_TOKEN"] = token
    argv = [
        "datanode", "--dir", str(directory / "data"), "--namenode", ",".join(namenodes),
        "--port", "0", "--ready-file", str(directory / ".datanode.ready"),
    ]  # fmt: skip
    with open(directory / "datanode.log", "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "cli", *argv],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=REPO,
        )


def health(directory: Path) -> dict[str, Any] | None:
    ready = directory / ".datanode.ready"
    if not (ready.exists() and ready.read_text()):
        return None
    try:
        answer: dict[str, Any] = httpx.get(f"{ready.read_text()}/health", timeout=2).json()
        return answer
    except httpx.HTTPError:
        return None


def namenode_view(directory: Path, url: str) -> dict[str, Any]:
    """The datanode's own view of the namenode at `url`."""
    answer = health(directory)
    assert answer is not None, "the datanode does not answer"
    return next(n for n in answer["namenodes"] if n["url"] == url)


def live_nodes(fs: FileSystem) -> list[dict[str, Any]]:
    return [d for d in fs.cluster()["datanodes"] if d["state"] == "LIVE"]


def heartbeats_go_on(fs: FileSystem, directory: Path, url: str) -> None:
    """The namenode at `url` (`fs`'s) hears the datanode at every beat for longer than its
    dead-node timeout: a heartbeat waiting behind another namenode would have the datanode
    declared dead by this one."""
    contact = namenode_view(directory, url)["last_contact"]
    deadline = time.monotonic() + 1.5 * FAST["dead_node_timeout"]
    while time.monotonic() < deadline:
        (node,) = live_nodes(fs)
        assert node["last_heartbeat_age"] < 1.0
        time.sleep(0.1)
    assert namenode_view(directory, url)["last_contact"] > contact


def test_a_namenode_stopped_or_killed_holds_up_no_heartbeat_to_the_other(
    two_namenodes: tuple[LocalCluster, LocalCluster], tmp_path: Path
) -> None:
    a, b = two_namenodes
    info_a, info_b = a.info, b.info
    assert info_a is not None and info_b is not None
    url_a = info_a.namenode_service or info_a.namenode
    url_b = info_b.namenode_service or info_b.namenode
    proc = start_datanode(tmp_path, info_a.token, [url_a, url_b])
    try:
        with (
            FileSystem(info_a.namenode, info_a.token) as fs_a,
            FileSystem(info_b.namenode, info_b.token, retry_window=0) as fs_b,
        ):
            wait_for(lambda: len(live_nodes(fs_a)) == 1 and len(live_nodes(fs_b)) == 1, 30,
                     "the datanode registered with both namenodes")  # fmt: skip
            assert all(n["registered"] for n in (health(tmp_path) or {})["namenodes"])

            # Stopped (SIGSTOP): connections open, nothing answers, as when cut off.
            b.kill("namenode", signal.SIGSTOP)
            try:
                heartbeats_go_on(fs_a, tmp_path, url_a)
                wait_for(lambda: not namenode_view(tmp_path, url_b)["registered"], 15,
                         "the datanode noticing namenode b silent")  # fmt: skip
            finally:
                b.kill("namenode", signal.SIGCONT)
            wait_for(lambda: namenode_view(tmp_path, url_b)["registered"], 30,
                     "the datanode back with namenode b")  # fmt: skip

            b.kill("namenode")  # SIGKILL: connections refused
            wait_for(lambda: not namenode_view(tmp_path, url_b)["registered"], 15,
                     "the datanode noticing namenode b gone")  # fmt: skip
            heartbeats_go_on(fs_a, tmp_path, url_a)

            b.restart("namenode")  # same ports, an empty block map
            wait_for(lambda: len(live_nodes(fs_b)) == 1, 30,
                     "the datanode registered again with namenode b")  # fmt: skip
            view = namenode_view(tmp_path, url_b)
            assert view["registered"] and view["last_contact"] is not None
            assert len(live_nodes(fs_a)) == 1
    except BaseException:
        print((tmp_path / "datanode.log").read_text(errors="replace")[-4000:])
        print_log_tails(a)
        print_log_tails(b)
        raise
    finally:
        proc.terminate()
        proc.wait(15)
