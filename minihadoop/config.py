"""Configuration: with its client's half, `minihadoop.client_config`, the only module that
reads the environment.

`Settings` holds every tunable of the daemons, with Hadoop's meaning and minihadoop's
defaults. Values come from keyword arguments (the CLI's flags), then `MINIHADOOP_*`
environment variables, then the defaults here. Every timeout is a setting, so tests can
make a cluster that notices a dead node in a second.

`ClusterInfo` is the `cluster.json` a local cluster writes: where its daemons listen and its
token, so clients find the cluster with no flags. It and the other client settings live in
`minihadoop.client_config`, so that clients need not import pydantic-settings; every name
of that module is exported from here too.
"""

from __future__ import annotations

import os
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from minihadoop.client_config import (
    CLUSTER_FILE,
    DATANODE_PORT,
    DEFAULT_RETRY_WINDOW,
    DEFAULT_UMASK,
    JOBTRACKER_KEY,
    JOBTRACKER_LOCK,
    JOBTRACKER_PORT,
    JOBTRACKER_USER,
    NAMENODE_PORT,
    NAMENODE_SERVICE_PORT,
    WORKER_PORT,
    ClusterInfo,
    DaemonInfo,
    client_retry_window,
    client_tls_ca,
    client_umask,
    current_user,
    home_dir,
)

# The client's half (minihadoop.client_config) is exported from here too: whoever reads the
# configuration finds all of it in this module.
__all__ = [
    "CLUSTER_FILE",
    "DATANODE_PORT",
    "DEFAULT_RETRY_WINDOW",
    "DEFAULT_UMASK",
    "JOBTRACKER_KEY",
    "JOBTRACKER_LOCK",
    "JOBTRACKER_PORT",
    "JOBTRACKER_USER",
    "MEMBERSHIP",
    "MIN_BLOCK_SIZE",
    "NAMENODE_PORT",
    "NAMENODE_SERVICE_PORT",
    "WORKER_PORT",
    "ClusterInfo",
    "DaemonInfo",
    "MiB",
    "PlacementName",
    "ReadPolicy",
    "Settings",
    "client_retry_window",
    "client_tls_ca",
    "client_umask",
    "current_user",
    "home_dir",
    "settings_from_environment",
]

MiB = 1 << 20
MIN_BLOCK_SIZE = 4096
PlacementName = Literal["default", "random", "round-robin", "least-used"]
ReadPolicy = Literal["open", "token"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MINIHADOOP_", extra="ignore")

    # Security. Daemons refuse to start without a token; clients without one can only read
    # (and only when read_policy is "open").
    token: str = ""
    read_policy: ReadPolicy = "open"
    # Host names (comma-separated) a daemon answers to besides IP literals, localhost, the
    # machine's names and its own bind/advertised name: the names in front of it (a load
    # balancer, a DNS alias). Any other Host header is refused (DNS rebinding).
    allowed_hosts: str = ""
    # How far apart two machines' clocks may be. A daemon refuses requests signed before it
    # started, less this: what an impostor recorded while it was down is never accepted.
    max_clock_skew: float = Field(default=1.0, ge=0, le=300)
    # TLS, for networks where someone may sit in the path. Signing proves who sent what,
    # but block data streams as UNSIGNED-PAYLOAD and nothing is secret; TLS adds both.
    # `tls_cert` and `tls_key` (PEM files) make a daemon serve HTTPS; `tls_ca` (a PEM
    # bundle) is what every client verifies servers against, empty for the system's store.
    tls_cert: str = ""
    tls_key: str = ""
    tls_ca: str = ""

    # Files.
    block_size: int = Field(default=64 * MiB, ge=MIN_BLOCK_SIZE)
    replication: int = Field(default=3, ge=1, le=512)
    bytes_per_checksum: int = Field(default=4096, ge=512)

    # Datanode liveness and reports (Hadoop: 3 s heartbeats, dead after 630 s).
    heartbeat_interval: float = Field(default=3.0, gt=0)
    dead_node_timeout: float = Field(default=60.0, gt=0)
    block_report_interval: float = Field(default=3600.0, gt=0)
    scanner_interval: float = Field(default=3600.0, gt=0)

    # Replication monitor.
    replication_interval: float = Field(default=1.0, gt=0)
    replication_pending_timeout: float = Field(default=60.0, gt=0)
    replication_max_streams: int = Field(default=4, ge=1)

    # Safe mode (Hadoop: 0.999 of blocks, then a 30 s extension).
    safemode_threshold: float = Field(default=0.999, ge=0, le=1)
    safemode_extension: float = Field(default=0.0, ge=0)

    # The namenode group (Raft): this namenode's id, and every member's (itself included)
    # as comma-separated id=URL pairs — the client URLs in `namenode_peers`, the service
    # URLs (where the group's own traffic goes) in `namenode_service_peers` (empty: the
    # client URLs). No peers: a group of one. Every member must be given the same lists.
    namenode_id: str = Field(default="nn1", pattern=r"^[A-Za-z0-9_.-]{1,32}$")
    namenode_peers: str = ""
    namenode_service_peers: str = ""
    # The group's clock: a Raft tick every `raft_tick` seconds; a follower that hears no
    # leader for `raft_election_ticks` to twice that many ticks calls an election; the
    # leader heartbeats every tick.
    raft_tick: float = Field(default=0.1, gt=0)
    raft_election_ticks: int = Field(default=10, ge=3)

    # Namespace durability.
    # A snapshot is written by a forked child (~7 s at 1M files, nothing waiting on it);
    # replay on start runs at ~100k edits/s here. 100k edits between them keeps both short.
    checkpoint_every: int = Field(default=100_000, ge=1)
    # Leases (HDFS: 60 s soft, 1 h hard). A writer silent past the soft limit loses its file
    # to another client's create or append; past the hard limit the namenode abandons it.
    lease_soft_limit: float = Field(default=60.0, gt=0)
    lease_hard_limit: float = Field(default=3600.0, gt=0)
    trash: bool = True
    # HDFS's permission model (dfs.permissions.enabled, dfs.permissions.superusergroup,
    # hadoop.user.group.static.mapping.overrides: "alice=analysts,staff;bob=").
    permissions: bool = True
    supergroup: str = Field(default="supergroup", pattern=r"^[A-Za-z0-9._-]{1,64}$")
    user_groups: str = Field(default="", max_length=65536)
    umask: str = Field(default=DEFAULT_UMASK, pattern=r"^0?[0-7]{1,3}$")
    ls_limit: int = Field(default=1000, ge=1, le=100_000)  # dfs.ls.limit

    placement: PlacementName = "default"

    # Daemon logs (minihadoop.logs): plain text, or one JSON object a line for a log store.
    log_format: Literal["text", "json"] = "text"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "WARNING"

    # HTTP serving (every daemon): how long a client may take over a request's headers, and
    # stay silent in its body; how many connections a listening port, and one client
    # address on it, may hold open (minihadoop.httpguard).
    http_header_timeout: float = Field(default=10.0, gt=0)
    http_body_timeout: float = Field(default=60.0, gt=0)
    http_max_connections: int = Field(default=2000, ge=1)
    http_max_connections_per_client: int = Field(default=256, ge=1)

    # Clients of a master that is down or starting up (the FileSystem client, task attempts,
    # the job tracker) retry within this many seconds, then give up (Hadoop's
    # dfs.client.retry.policy / ipc.client.connect.max.retries, as a time). 0: no retries.
    retry_window: float = Field(default=DEFAULT_RETRY_WINDOW, ge=0)

    # MapReduce (Hadoop: tasks time out after 600 s; 4 attempts).
    mr_heartbeat_interval: float = Field(default=0.3, gt=0)
    worker_timeout: float = Field(default=30.0, gt=0)
    task_timeout: float = Field(default=600.0, gt=0)
    worker_slots: int = Field(default=0, ge=0)  # 0: one per CPU core
    # Task logs (mapreduce.tasklogs): bytes kept per log of an attempt (the first and the
    # last half), and how long a worker keeps them (yarn.nodemanager.log.retain-seconds).
    task_log_limit: int = Field(default=1 << 20, ge=1024)
    task_log_retention: float = Field(default=86400.0, gt=0)
    # The active job tracker's lock session: a standby takes over within about this long
    # of the active one dying (or being cut off from the namenodes).
    jobtracker_session_ttl: float = Field(default=10.0, ge=1, le=600)
    sort_buffer_records: int = Field(default=1_000_000, ge=100)  # Hadoop: a 100 MB buffer

    @model_validator(mode="after")
    def _tls_pair(self) -> Settings:
        # A daemon given one of the two would otherwise serve plain HTTP, silently.
        if bool(self.tls_cert) != bool(self.tls_key):
            given, missing = ("tls_cert", "tls_key") if self.tls_cert else ("tls_key", "tls_cert")
            raise ValueError(
                f"{given} is set but {missing} is not: TLS needs both a certificate and its "
                f"key (MINIHADOOP_TLS_CERT and MINIHADOOP_TLS_KEY), or neither"
            )
        return self

    @model_validator(mode="after")
    def _group(self) -> Settings:
        peers = self.namenode_group()
        if peers and "namenode_id" not in self.model_fields_set:
            # Defaulting to nn1 would give a group two members who both vote as nn1.
            raise ValueError(
                "namenode_peers is set but namenode_id is not: each member of a namenode "
                "group must be told which one it is (--id, or MINIHADOOP_NAMENODE_ID)"
            )
        if peers and self.namenode_id not in peers:
            listed = ", ".join(peers)
            raise ValueError(
                f"namenode_id {self.namenode_id!r} is not one of namenode_peers ({listed})"
            )
        service = _id_urls(self.namenode_service_peers, "namenode_service_peers")
        if service and set(service) != set(peers):
            raise ValueError("namenode_service_peers must name the same ids as namenode_peers")
        return self

    def namenode_group(self) -> dict[str, str]:
        """id -> client URL of every namenode of the group; empty for a group of one."""
        return _id_urls(self.namenode_peers, "namenode_peers")

    def namenode_service_group(self) -> dict[str, str]:
        """id -> service URL (where the group's Raft messages go) of every namenode."""
        return _id_urls(self.namenode_service_peers, "namenode_service_peers") or (
            self.namenode_group()
        )

    @property
    def tls(self) -> bool:
        """Whether a daemon with these settings serves HTTPS."""
        return bool(self.tls_cert)

    def host_names(self) -> list[str]:
        return [name.strip() for name in self.allowed_hosts.split(",") if name.strip()]


def _id_urls(text: str, what: str) -> dict[str, str]:
    """`nn1=http://a:9870,nn2=http://b:9870` as a dict; ValueError saying what is wrong."""
    found: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        node, sep, url = item.partition("=")
        node, url = node.strip(), url.strip().rstrip("/")
        if not sep or not node or not url.startswith(("http://", "https://")):
            raise ValueError(f"{what}: {item!r} is not id=http(s)://host:port")
        if node in found:
            raise ValueError(f"{what}: {node} is listed twice")
        found[node] = url
    if found and len(found) % 2 == 0:
        raise ValueError(f"{what}: a group of {len(found)} cannot outvote a split; use 1, 3 or 5")
    return found


MEMBERSHIP = ("namenode_id", "namenode_peers", "namenode_service_peers")


def settings_from_environment() -> dict[str, str]:
    """The daemon settings set as MINIHADOOP_* variables here, as text (a local cluster
    records them for its daemons); the token aside, and a namenode's place in a group,
    which the local cluster decides (a shell set up for a remote group must not make a
    local namenode think itself a member of it)."""
    fields = set(Settings.model_fields) - {"token", *MEMBERSHIP}
    found = {}
    for key, value in os.environ.items():
        field = key.removeprefix("MINIHADOOP_").lower()
        if key.startswith("MINIHADOOP_") and field in fields:
            found[field] = value
    return found
