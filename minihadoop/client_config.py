"""The client's half of the configuration: what a command, a job's client or a library user
needs to find its cluster and act in it — `ClusterInfo` (the `cluster.json` a local cluster
writes), the cluster folder, the user, the umask, the retry window and the CA bundle — each
read from the environment alone, not through `Settings`.

Apart from `minihadoop.config` (which exports all of it too, and stays where daemons read
their settings from) so that a client does not import pydantic-settings for `Settings`:
~65 ms here, a sixth of what `minihadoop fs ls` took.
"""

from __future__ import annotations

import getpass
import json
import os
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

NAMENODE_PORT = 9870
NAMENODE_SERVICE_PORT = 8022  # datanodes only (HDFS: dfs.namenode.servicerpc-address)
DATANODE_PORT = 9864
JOBTRACKER_PORT = 8088
WORKER_PORT = 8042
CLUSTER_FILE = "cluster.json"
DEFAULT_UMASK = "022"  # Settings.umask's default
DEFAULT_RETRY_WINDOW = 60.0  # Settings.retry_window's default

JOBTRACKER_USER = "mapred"  # who the job tracker is on the DFS (its journal's owner)
# The lock the active job tracker holds, and where it publishes its URL under the same
# session (gone when it dies): a lock and a key are named apart. Here, not in
# minihadoop.locks, so a job's client finds the job tracker without importing the lock
# service's client.
JOBTRACKER_LOCK = "minihadoop/jobtracker"
JOBTRACKER_KEY = "minihadoop/jobtracker"


def home_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """Where a local cluster lives: `explicit`, else $MINIHADOOP_HOME, else ~/.minihadoop."""
    if explicit:
        return Path(explicit).expanduser()
    env = os.environ.get("MINIHADOOP_HOME")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".minihadoop"


def client_tls_ca() -> str:
    """The CA bundle a client verifies servers against when its caller names none:
    $MINIHADOOP_TLS_CA, or empty (the system's trust store). Read alone, not through
    `Settings`, so a client is not refused for a daemon-only setting it does not use."""
    return os.environ.get("MINIHADOOP_TLS_CA", "")


def client_umask() -> int:
    """The mode bits a client leaves off the files (666) and folders (777) it makes when
    not told a mode: $MINIHADOOP_UMASK (octal, Hadoop's fs.permissions.umask-mode), else
    022 — so 644 and 755."""
    text = os.environ.get("MINIHADOOP_UMASK") or DEFAULT_UMASK
    if not re.fullmatch(r"0?[0-7]{1,3}", text):
        raise ValueError(f"MINIHADOOP_UMASK must be an octal mode like 022, not {text[:20]!r}")
    return int(text, 8)


def client_retry_window() -> float:
    """How long a client retries an unavailable namenode when its caller does not say:
    $MINIHADOOP_RETRY_WINDOW, else the default. Read alone, as `client_tls_ca` is."""
    text = os.environ.get("MINIHADOOP_RETRY_WINDOW")
    if text is None:
        return DEFAULT_RETRY_WINDOW
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not seconds >= 0:  # NaN included
        raise ValueError(f"MINIHADOOP_RETRY_WINDOW must be seconds, 0 or more, not {text!r}")
    return seconds


def current_user() -> str:
    """The user name a client acts as, like Hadoop's HADOOP_USER_NAME / login user."""
    for var in ("MINIHADOOP_USER", "HADOOP_USER_NAME"):
        if os.environ.get(var):
            return os.environ[var]
    try:  # the account this process runs as, as Hadoop's login user is
        return getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a bare container)
        return "hadoop"


class DaemonInfo(BaseModel):
    model_config = ConfigDict(defer_build=True)  # built when first read: not by every import

    name: str
    url: str
    pid: int
    data_dir: str = ""
    log: str = ""
    # The process's start time (/proc/<pid>/stat, clock ticks since boot): a pid the kernel
    # gave to another process since has another, so it is never signalled by mistake.
    start_time: int | None = None
    # The command's arguments, port included, so the daemon can be started again as it was.
    argv: list[str] = []


class ClusterInfo(BaseModel):
    model_config = ConfigDict(defer_build=True)

    namenode: str
    token: str
    # A namenode group's client URLs, the leader's included; empty with one namenode. Clients
    # fail over among them; `namenode` stays one of them, for readers that know one URL.
    namenodes: list[str] = []
    # The namenode's service port, which datanodes use (None: they use `namenode`).
    namenode_service: str | None = None
    daemons: list[DaemonInfo] = []
    jobtracker: str | None = None
    settings: dict[str, Any] = {}

    def namenode_urls(self) -> list[str]:
        """Every namenode a client may ask: the group, or the one namenode."""
        return self.namenodes or [self.namenode]

    @staticmethod
    def load(directory: Path) -> ClusterInfo:
        path = directory / CLUSTER_FILE
        return ClusterInfo.model_validate(json.loads(path.read_text()))

    def save(self, directory: Path) -> None:
        path = directory / CLUSTER_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text(self.model_dump_json(indent=2))
        os.chmod(tmp, 0o600)  # it holds the token
        tmp.replace(path)
