"""Settings that do not validate are one line per problem on stderr — and never echo the
input, which holds the cluster token."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from minihadoop.config import settings_from_environment

SECRET = "csL0WsBSXhIH_xTheSecretPart"


def test_a_bad_group_is_named_without_echoing_the_token(tmp_path: Path) -> None:
    peers = "nn1=http://a:1,nn2=http://b:2,nn3=http://c:3"
    done = subprocess.run(
        [sys.executable, "-m", "cli", "namenode", "--dir", str(tmp_path / "n"),
         "--id", "nn9", "--peers", peers],
        env={"PATH": "/usr/bin:/bin", "MINIHADOOP_TOKEN": SECRET},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1
    assert "namenode_id 'nn9' is not one of namenode_peers" in done.stderr
    assert SECRET[:6] not in done.stderr + done.stdout
    assert "Traceback" not in done.stderr and not (tmp_path / "n").exists()


def test_a_group_member_must_be_told_which_one_it_is(tmp_path: Path) -> None:
    """--peers without --id once ran as nn1, whatever machine it was on: two members of a
    group then voted as nn1. Refused, and nothing is made."""
    peers = "nn1=http://a:1,nn2=http://b:2,nn3=http://c:3"
    done = subprocess.run(
        [sys.executable, "-m", "cli", "namenode", "--dir", str(tmp_path / "n"), "--peers", peers],
        env={"PATH": "/usr/bin:/bin", "MINIHADOOP_TOKEN": SECRET},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "minihadoop: settings: Value error, namenode_peers is set but namenode_id is not: "
        "each member of a namenode group must be told which one it is (--id, or "
        "MINIHADOOP_NAMENODE_ID)"
    )
    assert not (tmp_path / "n").exists()


def test_a_local_cluster_takes_no_group_membership_from_the_shell(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A shell set up for a remote group (MINIHADOOP_NAMENODE_PEERS and the id) must not
    make `cluster up`'s namenode think itself a member of that group; other settings
    carry over."""
    monkeypatch.setenv("MINIHADOOP_NAMENODE_PEERS", "nn1=http://far:9870,nn2=http://away:9870")
    monkeypatch.setenv("MINIHADOOP_NAMENODE_SERVICE_PEERS", "nn1=http://far:8022")
    monkeypatch.setenv("MINIHADOOP_NAMENODE_ID", "nn2")
    monkeypatch.setenv("MINIHADOOP_REPLICATION", "2")
    found = settings_from_environment()
    assert found["replication"] == "2"
    assert not {"namenode_id", "namenode_peers", "namenode_service_peers"} & set(found)
