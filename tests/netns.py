"""A LAN of network namespaces on one machine, for tests that partition a real network.

`Lan.create(["nn", "dn0", ...])` builds::

    root namespace — the test process, as a client: 10.77.<n>.1 on bridge mh<n>br
      ├── port mh<n>nn  ─veth─ namespace mh<n>-nn   eth0 10.77.<n>.10
      ├── port mh<n>dn0 ─veth─ namespace mh<n>-dn0  eth0 10.77.<n>.11
      └── ...

`<n>` is a subnet no other run on this machine holds (claimed under a file lock by creating
the bridge), so concurrent test runs do not collide. The namespaces have no route beyond
their /24: nothing started in them can send traffic anywhere else.

Partitions, both silent (packets vanish, nobody is told), like a real network failure:

* `cut(host)` / `heal(host)` — the host's switch port down / up: it is cut off from everyone.
* `cut_from_client(host)` / `heal_from_client(host)` — the client's ARP entry for the host,
  and the host's for the client, point at a MAC no port has: their frames to each other are
  flooded and dropped, both ways (one way only would let a server's FIN through and turn the
  silence into a clean "connection closed"), while every other namespace still reaches the
  host. Needs no netfilter: nft, iptables and tc actions may be missing from the kernel.

`close()` must always run (a fixture's `finally`): it kills every process started in the
LAN — its process group, SIGTERM then SIGKILL — and anything else left in its namespaces,
then deletes the namespaces (which takes their veth pairs along) and the bridge. A LAN left
behind by a run that was killed outright is removed by the next `create()`, once the pid
recorded on its bridge is gone.

Needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN) and iproute2; `create()` raises
`NetnsUnavailable` saying so otherwise.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import os
import re
import shutil
import signal
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

SUBNETS = "10.77.{}.0/24"
OWNER = "minihadoop-test owner="  # the bridge's alias: which process the LAN belongs to
LOCK = Path("/tmp/minihadoop-netns.lock")
NOWHERE_MAC = "02:00:00:00:00:01"  # locally administered; no port of the bridge has it


class NetnsUnavailable(RuntimeError):
    """This machine cannot make network namespaces for us."""


def ip(*args: str, check: bool = True) -> str:
    """Run `ip <args>`; its output. Raises with ip's own message when it fails."""
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=15)
    if check and done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


@dataclass(frozen=True)
class Host:
    name: str
    netns: str
    ip: str
    port: str  # the bridge-side end of its veth pair: its port on the switch


@dataclass
class Lan:
    number: int
    hosts: dict[str, Host] = field(default_factory=dict)
    _procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def bridge(self) -> str:
        return f"mh{self.number}br"

    @property
    def client_ip(self) -> str:
        return self.address(1)

    def address(self, last: int) -> str:
        return str(ipaddress.ip_network(SUBNETS.format(self.number))[last])

    # --- life cycle -------------------------------------------------------------------------

    @classmethod
    def create(cls, names: Sequence[str]) -> Lan:
        probe()
        with _locked():
            _remove_abandoned()
            lan = cls(_free_number())
            ip("link", "add", lan.bridge, "type", "bridge")  # claims the subnet
        try:
            ip("link", "set", lan.bridge, "alias", f"{OWNER}{os.getpid()}")
            ip("addr", "add", f"{lan.client_ip}/24", "dev", lan.bridge)
            ip("link", "set", lan.bridge, "up")
            for i, name in enumerate(names):
                lan._add_host(name, lan.address(10 + i))
        except BaseException:
            lan.close()
            raise
        return lan

    def _add_host(self, name: str, address: str) -> None:
        host = Host(name, f"mh{self.number}-{name}", address, f"mh{self.number}{name}")
        if len(host.port) > 15:  # IFNAMSIZ
            raise ValueError(f"host name {name!r} is too long for an interface name")
        self.hosts[name] = host  # before anything exists, so close() removes a half-made host
        ip("netns", "add", host.netns)
        ip("link", "add", host.port, "type", "veth", "peer", "name", "eth0", "netns", host.netns)
        ip("link", "set", host.port, "master", self.bridge, "up")
        ip("-n", host.netns, "addr", "add", f"{address}/24", "dev", "eth0")
        ip("-n", host.netns, "link", "set", "eth0", "up")
        ip("-n", host.netns, "link", "set", "lo", "up")

    def spawn(
        self, host: Host, argv: Sequence[str], *, env: dict[str, str], log: Path, cwd: Path
    ) -> subprocess.Popen[bytes]:
        """Start `argv` inside the host's namespace, in a session (process group) of its own."""
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                ["ip", "netns", "exec", host.netns, *argv],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                cwd=cwd,
                start_new_session=True,
            )
        self._procs.append(proc)
        return proc

    def close(self) -> None:
        """Kill what runs in the LAN, then take the LAN apart. Safe to call twice."""
        # Last started, first stopped: datanodes before their namenode, so none of them
        # sees it vanish and starts retrying while being shut down.
        for proc in reversed(self._procs):
            _stop(proc)
        self._procs.clear()
        for host in self.hosts.values():
            _remove_netns(host.netns)
            ip("link", "del", host.port, check=False)  # normally gone with its namespace
        ip("link", "del", self.bridge, check=False)

    # --- partitions -------------------------------------------------------------------------

    def cut(self, host: Host) -> None:
        ip("link", "set", host.port, "down")

    def heal(self, host: Host) -> None:
        ip("link", "set", host.port, "up")

    def cut_from_client(self, host: Host) -> None:
        nowhere = ["lladdr", NOWHERE_MAC, "nud", "permanent"]
        ip("neigh", "replace", host.ip, *nowhere, "dev", self.bridge)
        ip("-n", host.netns, "neigh", "replace", self.client_ip, *nowhere, "dev", "eth0")

    def heal_from_client(self, host: Host) -> None:
        # With the entries gone, ARP finds the real addresses again.
        ip("neigh", "del", host.ip, "dev", self.bridge, check=False)
        ip("-n", host.netns, "neigh", "del", self.client_ip, "dev", "eth0", check=False)


def probe() -> None:
    """Raise `NetnsUnavailable` unless a network namespace can be made here."""
    if shutil.which("ip") is None:
        raise NetnsUnavailable("iproute2's `ip` command is not installed")
    name = f"mh-probe-{os.getpid()}"
    done = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True)
    if done.returncode != 0:
        raise NetnsUnavailable(
            f"cannot create a network namespace (`ip netns add` said: {done.stderr.strip()}); "
            "network partition tests need root (CAP_SYS_ADMIN and CAP_NET_ADMIN)"
        )
    ip("netns", "del", name)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    for sig, patience in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        if proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(patience)


def _remove_netns(netns: str) -> None:
    # Anything still inside was started there by a LAN of ours (e.g. a grandchild that left
    # its process group); a namespace outlives its name while a process holds it.
    for pid in ip("netns", "pids", netns, check=False).split():
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid), signal.SIGKILL)
    ip("netns", "del", netns, check=False)


@contextlib.contextmanager
def _locked() -> Iterator[None]:
    with open(LOCK, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _free_number() -> int:
    taken = []
    for line in ip("-4", "route", "show").splitlines():
        with contextlib.suppress(ValueError, IndexError):
            taken.append(ipaddress.ip_network(line.split()[0], strict=False))
    for n in range(1, 255):
        subnet = ipaddress.ip_network(SUBNETS.format(n))
        if not Path(f"/sys/class/net/mh{n}br").exists() and not any(
            subnet.overlaps(t) for t in taken
        ):
            return n
    raise NetnsUnavailable("no free 10.77.<n>.0/24 subnet left for a test LAN")


def _remove_abandoned() -> None:
    """Take apart LANs whose owning process is gone (a run killed before its teardown)."""
    for path in Path("/sys/class/net").glob("mh*br"):
        match = re.fullmatch(r"mh(\d+)br", path.name)
        alias = (path / "ifalias").read_text().strip() if (path / "ifalias").exists() else ""
        if match is None or not alias.startswith(OWNER):
            continue
        owner = int(alias.removeprefix(OWNER))
        if _alive(owner):
            continue
        prefix = f"mh{match.group(1)}-"
        for line in ip("netns", "list", check=False).splitlines():
            netns = line.split()[0] if line.split() else ""
            if netns.startswith(prefix):
                _remove_netns(netns)
        ip("link", "del", path.name, check=False)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        pass
    return True
