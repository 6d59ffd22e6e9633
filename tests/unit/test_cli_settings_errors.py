"""Settings that do not validate are one line per problem on stderr — and never echo the
input, which holds the cluster token."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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
