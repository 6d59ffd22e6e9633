"""A cluster on one machine: a namenode and N datanodes as background processes.

`LocalCluster(directory).start(datanodes=3)` lays out::

    <dir>/cluster.json        addresses, pids and the token (mode 600)
    <dir>/namenode/           the namenode's name folder (checkpoints, edit log)
    <dir>/datanode-<i>/       each datanode's block store
    <dir>/logs/<daemon>.log   each daemon's output

Every daemon listens on 127.0.0.1 on a free port chosen at start; a restarted daemon gets its
old port back, so clients and the namenode keep the addresses they know. Settings (block
size, replication, timeouts) reach the daemons as ``MINIHADOOP_*`` environment variables;
so does the token, which never appears on a command line. The settings, and each daemon's
arguments, are kept in `cluster.json`, so one daemon can be stopped and started again later
(`stop_daemon`, `start_daemon`) exactly as it was, from any shell.

A pid in `cluster.json` is signalled only while it still names the process that was
started: its start time is recorded beside it and compared first, since the kernel reuses
the pids of processes that have exited.

With ``tls_cert``, ``tls_key`` and
``tls_ca`` among the settings every daemon serves HTTPS, and this object and the clients that
read `cluster.json` verify them against that CA.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from minihadoop.config import (
    CLUSTER_FILE,
    JOBTRACKER_USER,
    ClusterInfo,
    DaemonInfo,
    client_tls_ca,
    current_user,
    settings_from_environment,
)
from minihadoop.errors import MiniHadoopError, UnavailableError
from minihadoop.rest import Verify, tls_verify
from minihadoop.signing import ClusterAuth


def standard_folders(
    superuser: str, user: str, mapreduce: bool = True
) -> list[tuple[str, str, str]]:
    """(path, owner, mode) of the folders a new cluster needs, parents first."""
    folders = [
        ("/tmp", superuser, "1777"),
        ("/user", superuser, "755"),
        (f"/user/{user}", user, "755"),
    ]
    if mapreduce:
        folders += [("/system", superuser, "755"), ("/system/mapred", JOBTRACKER_USER, "700")]
    return folders


class LocalCluster:
    def __init__(self, directory: str | os.PathLike[str], *, host: str = "127.0.0.1") -> None:
        self.directory = Path(directory).expanduser().resolve()
        self.host = host
        self.info: ClusterInfo | None = None
        self.settings: dict[str, Any] = {}
        # Children started by this object, kept so they can be reaped (no zombies, no
        # "still running" warnings); daemons started by another process are found by pid.
        self._procs: dict[int, subprocess.Popen[bytes]] = {}

    # --- layout ---------------------------------------------------------------------------

    @property
    def logs(self) -> Path:
        return self.directory / "logs"

    def _env(self, token: str) -> dict[str, str]:
        # Only the recorded settings: a daemon started again from another shell must not
        # pick up that shell's MINIHADOOP_* variables.
        env = {k: v for k, v in os.environ.items() if not k.startswith("MINIHADOOP_")}
        env["MINIHADOOP_TOKEN"] = token
        # Every daemon here reads one clock: none need allow for skew, so a restarted daemon
        # refuses everything signed before it started (`minihadoop.signing`).
        env.setdefault("MINIHADOOP_MAX_CLOCK_SKEW", "0")
        for key, value in self.settings.items():
            env[f"MINIHADOOP_{key.upper()}"] = str(value)
        return env

    def _spawn(self, name: str, argv: list[str], token: str) -> subprocess.Popen[bytes]:
        self.logs.mkdir(parents=True, exist_ok=True)
        ready = self.directory / f".{name}.ready"
        ready.unlink(missing_ok=True)
        with open(self.logs / f"{name}.log", "ab") as log:
            # -P: the daemons import minihadoop as installed, never a `cli/` or `namenode/`
            # folder that happens to be where `cluster up` was run.
            proc = subprocess.Popen(
                [sys.executable, "-P", "-m", "cli", *argv, "--ready-file", str(ready)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self._env(token),
                start_new_session=True,  # survives the shell that ran `cluster up`
            )
        self._procs[proc.pid] = proc
        return proc

    def _wait_ready(self, name: str, proc: subprocess.Popen[bytes], timeout: float) -> str:
        ready = self.directory / f".{name}.ready"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                tail = (self.logs / f"{name}.log").read_text(errors="replace")[-2000:]
                raise MiniHadoopError(f"{name} exited with code {proc.returncode}:\n{tail}")
            if ready.exists() and ready.read_text():
                url = ready.read_text().split()[0]  # a namenode adds its service URL below
                if _healthy(url, self._verify()):
                    return url
            time.sleep(0.05)
        raise UnavailableError(f"{name} did not become ready within {timeout:.0f}s")

    # --- life cycle -----------------------------------------------------------------------

    def start(
        self,
        *,
        datanodes: int = 3,
        namenodes: int = 1,
        mapreduce: bool = True,
        jobtrackers: int = 1,
        token: str | None = None,
        settings: dict[str, Any] | None = None,
        timeout: float = 30.0,
    ) -> ClusterInfo:
        """Start a namenode (or a Raft group of `namenodes`, 3 or 5) and `datanodes`
        datanodes — and, with `mapreduce`, `jobtrackers` job trackers (the first active,
        the others standing by) and one worker beside each datanode — and wait until they
        are all ready."""
        if (self.directory / CLUSTER_FILE).exists() and self.running():
            raise MiniHadoopError(f"a cluster is already running in {self.directory}")
        self.directory.mkdir(parents=True, exist_ok=True)
        # MINIHADOOP_TLS_CA among them: recorded in cluster.json, it lets clients that find
        # the cluster there verify its daemons from any shell.
        self.settings = {**settings_from_environment(), **(settings or {})}
        token = token or secrets.token_urlsafe(24)
        self.info = ClusterInfo(namenode="", token=token, settings=self.settings)
        try:
            if namenodes == 1:
                self._start_namenode(port=0, timeout=timeout)
            else:
                self._start_group(namenodes, timeout=timeout)
            for i in range(datanodes):
                self.add_datanode(port=0, index=i, timeout=timeout)
            self.wait_for_datanodes(datanodes, timeout=timeout)
            self.prepare_folders(mapreduce=mapreduce)
            if mapreduce:
                for j in range(jobtrackers):
                    self._start_jobtracker(port=0, timeout=timeout, index=j)
                    if j == 0:  # active before the next one starts waiting
                        self.active_jobtracker(timeout=timeout)
                for i in range(datanodes):
                    self._start_worker(index=i, port=0, timeout=timeout)
            self.wait_for_datanodes(datanodes, timeout=timeout)
            if mapreduce:
                self.wait_for_workers(datanodes, timeout=timeout)
        except BaseException:
            self.stop()
            raise
        return self.info

    def prepare_folders(self, *, mapreduce: bool = True) -> None:
        """What an HDFS administrator makes on a new cluster, made as the superuser where
        missing: ``/tmp`` for everybody (1777: sticky), the home folder of the user who
        runs the cluster, and the job tracker's own folder (``/system/mapred``, the
        ``mapred`` user's, 700)."""
        from minihadoop.filesystem import FileSystem

        superuser = getpass.getuser()  # the namenodes run as this machine's user
        with FileSystem.from_cluster(self.directory, user=superuser) as fs:
            for path, owner, mode in standard_folders(superuser, current_user(), mapreduce):
                if not fs.exists(path):
                    fs.mkdir(path, permission=mode)
                    fs.chown(path, owner=owner)

    def _start_daemon(
        self, name: str, argv: list[str], data_dir: Path, *, timeout: float
    ) -> DaemonInfo:
        info = self._require()
        proc = self._spawn(name, argv, info.token)
        start_time = _start_time(proc.pid)
        url = self._wait_ready(name, proc, timeout)
        port = url.rsplit(":", 1)[1]
        daemon = DaemonInfo(
            name=name,
            url=url,
            pid=proc.pid,
            data_dir=str(data_dir),
            log=str(self.logs / f"{name}.log"),
            start_time=start_time,
            argv=[port if a == "0" and argv[i - 1] == "--port" else a for i, a in enumerate(argv)],
        )
        others = [d for d in info.daemons if d.name != name]
        info.daemons = [daemon, *others] if name == "namenode" else [*others, daemon]
        if name == "namenode":
            info.namenode = url
        if name == "jobtracker":
            info.jobtracker = url
        info.save(self.directory)
        return daemon

    def _auth(self) -> ClusterAuth:
        return ClusterAuth(self._require().token)

    def _verify(self) -> Verify:
        # The CA the daemons' own clients use: this cluster's setting, else the environment
        # the daemons inherit (as `FileSystem.from_cluster` decides).
        ca = self.settings.get("tls_ca")
        return tls_verify(client_tls_ca() if ca is None else str(ca))

    def _bind(self, port: int) -> list[str]:
        return ["--host", self.host, "--port", str(port)]

    def _start_namenode(self, *, port: int, timeout: float) -> DaemonInfo:
        name_dir = self.directory / "namenode"
        info = self._require()
        service_port = int(info.namenode_service.rsplit(":", 1)[1]) if info.namenode_service else 0
        argv = [
            "namenode", "--dir", str(name_dir), *self._bind(port),
            "--service-port", str(service_port),
        ]  # fmt: skip
        daemon = self._start_daemon("namenode", argv, name_dir, timeout=timeout)
        # Datanodes talk to the namenode's service port: clients cannot crowd them out.
        lines = (self.directory / ".namenode.ready").read_text().split()
        info.namenode_service = lines[1] if len(lines) > 1 else None
        info.save(self.directory)
        return daemon

    def _start_group(self, count: int, *, timeout: float) -> None:
        """Start `count` namenodes as one Raft group, `namenode-1`… (ids nn1…). Their ports
        are chosen first, since each must be told every other's address."""
        if count not in (3, 5):
            raise MiniHadoopError(f"a namenode group has 3 or 5 members, not {count}")
        info = self._require()
        ids = [f"nn{i}" for i in range(1, count + 1)]
        scheme = "https" if self.settings.get("tls_cert") else "http"
        ports = {n: (free_port(self.host), free_port(self.host)) for n in ids}
        peers = ",".join(f"{n}={scheme}://{self.host}:{ports[n][0]}" for n in ids)
        service = ",".join(f"{n}={scheme}://{self.host}:{ports[n][1]}" for n in ids)
        for i, node in enumerate(ids, start=1):
            name_dir = self.directory / f"namenode-{i}"
            argv = [
                "namenode", "--dir", str(name_dir), *self._bind(ports[node][0]),
                "--service-port", str(ports[node][1]), "--id", node,
                "--peers", peers, "--service-peers", service,
            ]  # fmt: skip
            proc = self._spawn(f"namenode-{i}", argv, info.token)
            info.daemons.append(
                DaemonInfo(
                    name=f"namenode-{i}",
                    url=f"{scheme}://{self.host}:{ports[node][0]}",
                    pid=proc.pid,
                    data_dir=str(name_dir),
                    log=str(self.logs / f"namenode-{i}.log"),
                    start_time=_start_time(proc.pid),
                    argv=argv,
                )
            )
        for i in range(1, count + 1):  # started together: a group needs a majority to elect
            self._wait_ready(
                f"namenode-{i}", self._procs[self.daemon(f"namenode-{i}").pid], timeout
            )
        info.namenodes = [f"{scheme}://{self.host}:{ports[n][0]}" for n in ids]
        info.namenode = info.namenodes[0]
        # Datanodes report to every member of the group, on its service port.
        info.namenode_service = ",".join(f"{scheme}://{self.host}:{ports[n][1]}" for n in ids)
        info.save(self.directory)

    def add_datanode(
        self,
        *,
        port: int = 0,
        index: int | None = None,
        capacity: str | None = None,
        timeout: float = 30.0,
    ) -> DaemonInfo:
        """Start a datanode (a new one, or `index` again); `capacity` caps its space (e.g. 4M)."""
        info = self._require()
        if index is None:
            index = len([d for d in info.daemons if d.name.startswith("datanode-")])
        data_dir = self.directory / f"datanode-{index}"
        namenode = info.namenode_service or info.namenode
        argv = ["datanode", "--dir", str(data_dir), "--namenode", namenode, *self._bind(port)]
        if capacity:
            argv += ["--capacity", capacity]
        return self._start_daemon(f"datanode-{index}", argv, data_dir, timeout=timeout)

    def _start_jobtracker(self, *, port: int, timeout: float, index: int = 0) -> DaemonInfo:
        info = self._require()
        name = "jobtracker" if index == 0 else f"jobtracker-{index}"
        jt_dir = self.directory / name
        namenodes = ";".join(info.namenode_urls())  # the job tracker fails over among them
        argv = ["jobtracker", "--dir", str(jt_dir), "--namenode", namenodes, *self._bind(port)]
        return self._start_daemon(name, argv, jt_dir, timeout=timeout)

    def jobtracker_urls(self) -> list[str]:
        """Every job tracker's URL, the first started first."""
        daemons = self._require().daemons
        return [d.url for d in sorted(daemons, key=lambda d: d.name) if _is_jobtracker(d.name)]

    def role(self, d: DaemonInfo) -> str:
        """A namenode's place in its group (leader, follower) or a job tracker's (active,
        standby), as it says; "" for other daemons, or when it does not answer."""
        with contextlib.suppress(httpx.HTTPError, ValueError, KeyError, TypeError):
            if _is_jobtracker(d.name):
                return str(self._get(f"{d.url}/health")["role"])
            if d.name.startswith("namenode") and len(self.namenode_urls()) > 1:
                return str(self._get(f"{d.url}/nn/v1/ha")["role"])
        return ""

    def _get(self, url: str) -> Any:
        return httpx.get(url, auth=self._auth(), timeout=2, verify=self._verify()).json()

    def active_jobtracker(self, *, timeout: float = 30.0) -> str:
        """The URL of the active job tracker, once one is."""
        return self._first(
            self.jobtracker_urls(),
            "/health",
            lambda health: health["role"] == "active",
            timeout,
            "no job tracker became active",
        )

    def _start_worker(self, *, index: int, port: int, timeout: float) -> DaemonInfo:
        info = self._require()
        work_dir = self.directory / f"worker-{index}"
        argv = [
            "worker",
            "--dir", str(work_dir),
            "--jobtracker", ";".join(self.jobtracker_urls()),
            "--namenode", ";".join(info.namenode_urls()),
            "--datanode", self.daemon(f"datanode-{index}").url,
            *self._bind(port),
        ]  # fmt: skip
        return self._start_daemon(f"worker-{index}", argv, work_dir, timeout=timeout)

    def wait_for_workers(self, count: int, *, timeout: float = 30.0) -> None:
        """Poll the active job tracker until `count` workers heartbeat."""
        deadline = time.monotonic() + timeout
        live = 0
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError, ValueError, UnavailableError):
                active = self.active_jobtracker(timeout=max(0.0, deadline - time.monotonic()))
                workers = httpx.get(
                    f"{active}/mr/v1/workers",
                    auth=self._auth(),
                    timeout=5,
                    verify=self._verify(),
                ).json()
                live = sum(1 for w in workers if w["state"] == "LIVE")
                if live >= count:
                    return
            time.sleep(0.05)
        raise UnavailableError(f"only {live} of {count} workers registered within {timeout:.0f}s")

    def namenode_urls(self) -> list[str]:
        """Every namenode's client URL: one, or each member of the group."""
        return self._require().namenode_urls()

    def leader(self, *, timeout: float = 30.0) -> str:
        """The client URL of the active namenode (the group's leader), once there is one."""
        return self._first(
            self.namenode_urls(),
            "/nn/v1/ha",
            lambda state: state["role"] == "leader" and state["active"],
            timeout,
            "no namenode became the leader",
        )

    def _first(
        self, urls: list[str], path: str, says: Callable[[Any], bool], timeout: float, none: str
    ) -> str:
        """The first of `urls` whose `path` answers what `says` accepts, polled until one
        does; UnavailableError `none` after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            for url in urls:
                with contextlib.suppress(httpx.HTTPError, ValueError, KeyError, TypeError):
                    if says(self._get(f"{url}{path}")):
                        return url
            if time.monotonic() >= deadline:
                raise UnavailableError(f"{none} within {timeout:.0f}s")
            time.sleep(0.05)

    def wait_for_datanodes(self, count: int, *, timeout: float = 30.0) -> None:
        """Poll the (active) namenode until `count` datanodes are live and safe mode is off."""
        deadline = time.monotonic() + timeout
        status: dict[str, Any] = {}
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError, ValueError):
                leader = self.leader(timeout=max(0.0, deadline - time.monotonic()))
                status = httpx.get(
                    f"{leader}/nn/v1/cluster",
                    auth=self._auth(),
                    timeout=5,
                    verify=self._verify(),
                ).json()
                if status.get("live", 0) >= count and not status.get("safemode", True):
                    return
            time.sleep(0.05)
        raise UnavailableError(
            f"only {status.get('live', 0)} of {count} datanodes registered within {timeout:.0f}s"
        )

    def daemon(self, name: str) -> DaemonInfo:
        for d in self._require().daemons:
            if d.name == name:
                return d
        names = ", ".join(d.name for d in self._require().daemons)
        raise MiniHadoopError(f"no daemon named {name} (this cluster has {names})")

    def daemon_at(self, url: str) -> DaemonInfo:
        """The daemon serving `url` (which namenode is the leader, say)."""
        for d in self._require().daemons:
            if d.url == url:
                return d
        raise MiniHadoopError(f"no daemon of this cluster serves {url}")

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        d = self.daemon(name)
        if _signal(d, sig) and sig in (signal.SIGKILL, signal.SIGTERM):
            self._reap(d, 15.0)

    def is_running(self, d: DaemonInfo) -> bool:
        """Whether the process started as daemon `d` is still there (not merely its pid)."""
        return _alive(d.pid) and _same_process(d)

    def daemon_states(self) -> list[tuple[DaemonInfo, bool]]:
        """Every daemon of the cluster, running or not, in start order."""
        return [(d, self.is_running(d)) for d in sorted(self._require().daemons, key=start_order)]

    def stop_daemon(self, name: str, *, kill: bool = False, timeout: float = 15.0) -> bool:
        """Stop one daemon: SIGTERM and wait for it to exit (SIGKILL after `timeout`), or
        SIGKILL at once with `kill`. False when it was not running."""
        d = self.daemon(name)
        if not self.is_running(d):
            return False
        self._terminate(d, signal.SIGKILL if kill else signal.SIGTERM, timeout)
        return True

    def start_daemon(self, name: str, *, timeout: float = 30.0) -> DaemonInfo:
        """Start a stopped daemon again: same port, folder, arguments and settings."""
        d = self.daemon(name)
        if self.is_running(d):
            raise MiniHadoopError(f"{name} is already running (pid {d.pid})")
        return self.restart(name, timeout=timeout)

    def restart(self, name: str, *, timeout: float = 30.0) -> DaemonInfo:
        """Start a stopped or killed daemon again on its old port."""
        d = self.daemon(name)
        # A namenode is started afresh from what cluster.json holds: its service port was
        # chosen at its first start, after its arguments were recorded.
        if d.argv and name != "namenode":
            return self._start_daemon(name, d.argv, Path(d.data_dir), timeout=timeout)
        port = int(d.url.rsplit(":", 1)[1])
        kind, _, index = name.partition("-")
        match kind:
            case "namenode":
                return self._start_namenode(port=port, timeout=timeout)
            case "jobtracker":
                return self._start_jobtracker(port=port, timeout=timeout)
            case "worker":
                return self._start_worker(index=int(index), port=port, timeout=timeout)
        return self.add_datanode(port=port, index=int(index), timeout=timeout)

    def running(self) -> bool:
        try:
            info = self._require()
        except MiniHadoopError:
            return False
        return any(self.is_running(d) for d in info.daemons)

    def stop(self, *, timeout: float = 15.0) -> list[str]:
        """Stop every daemon (SIGTERM, then SIGKILL after `timeout`); the names stopped."""
        if (self.directory / CLUSTER_FILE).exists():
            self.info = None  # what cluster.json says now: another process may have changed it
        try:
            info = self._require()
        except MiniHadoopError:
            return []
        stopped = []
        # Compute first, then datanodes, the namenode last: nobody sees a peer die and
        # starts repairing what is only being shut down.
        for d in sorted(info.daemons, key=start_order, reverse=True):
            if self.is_running(d):
                self._terminate(d, signal.SIGTERM, timeout)
                stopped.append(d.name)
        for pid, proc in list(self._procs.items()):  # children another process stopped
            if proc.poll() is not None:
                del self._procs[pid]
        return stopped

    def _terminate(self, d: DaemonInfo, sig: int, timeout: float) -> None:
        """Send `sig` and wait for the process to exit; SIGKILL it after `timeout`."""
        if _signal(d, sig) and not self._reap(d, timeout) and _signal(d, signal.SIGKILL):
            self._reap(d, 5.0)

    def _reap(self, d: DaemonInfo, timeout: float) -> bool:
        """Wait until daemon `d` has exited (reaping it when it is our child)."""
        proc = self._procs.pop(d.pid, None)
        if proc is None:
            deadline = time.monotonic() + timeout
            while self.is_running(d):
                if time.monotonic() >= deadline:
                    return False
                time.sleep(0.02)
            return True
        try:
            proc.wait(timeout)
            return True
        except subprocess.TimeoutExpired:
            self._procs[d.pid] = proc
            return False

    def _require(self) -> ClusterInfo:
        if self.info is None:
            try:
                self.info = ClusterInfo.load(self.directory)
            except FileNotFoundError:
                raise MiniHadoopError(f"no cluster in {self.directory}") from None
            self.settings = dict(self.info.settings)
        return self.info


KINDS = ("namenode", "datanode", "jobtracker", "worker")  # the order they start in


def free_port(host: str) -> int:
    """A port nothing listens on now (the kernel's choice), for a daemon to be told to use."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def start_order(d: DaemonInfo) -> tuple[int, int]:
    """Where daemon `d` comes when a cluster starts: by kind, then by index."""
    kind, _, index = d.name.partition("-")
    rank = KINDS.index(kind) if kind in KINDS else len(KINDS)
    return rank, int(index) if index.isdigit() else 0


def _start_time(pid: int) -> int | None:
    """When process `pid` started, in clock ticks since boot; None when unknown (gone, or
    no /proc on this system)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    # The second field, the command name in parentheses, may hold spaces and parentheses:
    # count from after its last ")". The start time is field 22; the state, field 3, is
    # the first after it.
    try:
        return int(stat.rsplit(")", 1)[1].split()[22 - 3])
    except (IndexError, ValueError):
        return None


def _signal(d: DaemonInfo, sig: int) -> bool:
    """Send `sig` to daemon `d` if its pid still names the process started as `d`; whether
    it was sent. The process is pinned first (a pidfd), then checked, then signalled through
    the pin, so a pid reused between the check and the signal cannot be hit."""
    try:
        pin: int | None = os.pidfd_open(d.pid)
    except ProcessLookupError:
        return False
    except (AttributeError, OSError):  # no pidfds here: check, then signal by pid
        pin = None
    try:
        if not (_alive(d.pid) and _same_process(d)):
            return False
        if pin is None:
            os.kill(d.pid, sig)
        else:
            signal.pidfd_send_signal(pin, sig)
        return True
    except ProcessLookupError:
        return False
    finally:
        if pin is not None:
            os.close(pin)


def _same_process(d: DaemonInfo) -> bool:
    """Whether pid `d.pid` is still the process started as `d`."""
    if d.start_time is not None:
        now = _start_time(d.pid)
        return now is None or now == d.start_time  # None: no /proc here, nothing to compare
    # Recorded before start times were: the command line must name the daemon's folder.
    try:
        with open(f"/proc/{d.pid}/cmdline", "rb") as f:
            argv = f.read().split(b"\0")
    except OSError:
        return True
    return bool(d.data_dir) and d.data_dir.encode() in argv


def _healthy(url: str, verify: Verify) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=2, verify=verify).status_code == 200
    except httpx.HTTPError:
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of ours is dead for our purposes.
    with contextlib.suppress(ChildProcessError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done:
            return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except OSError:
        return True


def _is_jobtracker(name: str) -> bool:
    return name == "jobtracker" or name.startswith("jobtracker-")
