"""deploy/ on four "machines": network namespaces on one LAN (`tests.netns`), each running its
daemons exactly as the systemd units in deploy/systemd start them.

Nothing is retyped: each daemon's command line is its unit's ExecStart, its environment is
the unit's EnvironmentFile — deploy/minihadoop.env.example, edited as an operator edits it
(the token, the machines' addresses, settings that make a test quick) — and its start check
(ExecStartPre) runs first, with systemd's `$$` unescaped. Only two things are moved: the
install prefix (/opt/minihadoop/bin → this checkout's virtualenv) and the state directory
(/var/lib/minihadoop → a folder per machine), since the four machines share one disk. So
when a unit and the code disagree — a flag renamed, a variable the daemon no longer reads,
a port that is not the one the env file names — this fails.

nn1 runs the namenode and the job tracker; dn1, dn2 and dn3 each a datanode and a worker.
The test process is a client on the LAN: a put, a get, a word count, then dn1 cut off
(its blocks re-replicated) and healed.
"""

from __future__ import annotations

import os
import re
import secrets
import shlex
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mapreduce import Job, JobState
from minihadoop.filesystem import FileSystem
from tests.conftest import FAST
from tests.netns import Host, Lan, NetnsUnavailable
from tests.support import cluster_auth, wait_for
from tests.unit.test_deploy import ENV_EXAMPLE, UNITS, env_lines, read, unit_value

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

REPO = Path(__file__).resolve().parents[2]
PREFIX = "/opt/minihadoop/bin/"
STATE = "/var/lib/minihadoop"
DATANODES = ("dn1", "dn2", "dn3")
MACHINES = {"nn1": ("namenode", "jobtracker"), **{dn: ("datanode", "worker") for dn in DATANODES}}
PORTS = {"namenode": 9870, "datanode": 9864, "jobtracker": 8088, "worker": 8042}


def substitute(text: str, env: dict[str, str]) -> str:
    """systemd's expansion in Exec lines: ${VAR} and $VAR from the environment, $$ is $."""

    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1) or match.group(2)
        if name not in env:
            raise AssertionError(f"the unit uses ${name}, which the environment file does not set")
        return env[name]

    return re.sub(r"\$\$|\$\{(\w+)\}|\$(\w+)", one, text)


def unit_command(daemon: str, key: str, env: dict[str, str], state: Path) -> list[str]:
    (line,) = unit_value(UNITS[daemon], "Service", key)
    argv = shlex.split(substitute(line, env))
    moved = []
    for word in argv:
        if word.startswith(PREFIX):
            word = str(Path(sys.executable).parent / word[len(PREFIX) :])
        moved.append(word.replace(STATE, str(state)))
    return moved


class Machines:
    def __init__(self, lan: Lan, directory: Path) -> None:
        self.lan = lan
        self.directory = directory
        nn = lan.hosts["nn1"].ip
        # The example file, edited as its comments ask: the token, the machines' names.
        self.base = {
            **env_lines(read(ENV_EXAMPLE)),
            "MINIHADOOP_TOKEN": secrets.token_urlsafe(24),
            "MINIHADOOP_NAMENODE": f"http://{nn}:9870",
            "NAMENODE_SERVICE": f"http://{nn}:8022",
            "JOBTRACKER_ADVERTISE": nn,
            "MINIHADOOP_REPLICATION": "2",
            # Quick, as the rest of the suite: heartbeats, dead-node timeout, 1 MiB blocks.
            **{f"MINIHADOOP_{k.upper()}": str(v) for k, v in FAST.items()},
        }
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    @property
    def token(self) -> str:
        return self.base["MINIHADOOP_TOKEN"]

    @property
    def namenode(self) -> str:
        return self.base["MINIHADOOP_NAMENODE"]

    def env_for(self, host: Host) -> dict[str, str]:
        env = dict(self.base)
        if host.name.startswith("dn"):
            env["DATANODE_ADVERTISE"] = host.ip
        # What systemd gives a service: the file's variables, and a PATH.
        return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env}

    def start(self, host: Host, daemon: str) -> None:
        env = self.env_for(host)
        state = self.directory / host.name
        state.mkdir(parents=True, exist_ok=True)
        check = unit_command(daemon, "ExecStartPre", env, state)
        done = subprocess.run(check, env=env, capture_output=True, text=True, timeout=10)
        assert done.returncode == 0, f"{daemon} on {host.name}: ExecStartPre: {done.stderr}"
        argv = unit_command(daemon, "ExecStart", env, state)
        log = self.directory / "logs" / f"{host.name}-{daemon}.log"
        self.procs[f"{host.name}/{daemon}"] = self.lan.spawn(
            host, argv, env=env, log=log, cwd=state
        )
        url = f"http://{host.ip}:{PORTS[daemon]}"

        def serving() -> bool:
            proc = self.procs[f"{host.name}/{daemon}"]
            if proc.poll() is not None:
                raise AssertionError(f"{daemon} on {host.name} exited:\n{log.read_text()[-3000:]}")
            try:
                return httpx.get(f"{url}/health", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(serving, timeout=30, what=f"{daemon} on {host.name} serving at {url}")


def first_folders() -> list[list[str]]:
    """The commands deploy/README.md has the administrator run before the first job
    tracker starts (the block after "Before the first job tracker starts")."""
    text = read(REPO / "deploy" / "README.md")
    after = text.split("Before the first job tracker starts", 1)[1]
    block = after.split("```sh\n", 1)[1].split("```", 1)[0]
    commands = [shlex.split(line) for line in block.splitlines() if line.startswith("minihadoop ")]
    assert len(commands) >= 3, block
    return commands


@pytest.fixture
def machines(tmp_path: Path) -> Iterator[Machines]:
    try:
        lan = Lan.create(list(MACHINES))
    except NetnsUnavailable as exc:
        pytest.fail(f"network namespaces are not available here: {exc}")
    try:
        m = Machines(lan, tmp_path)
        m.start(lan.hosts["nn1"], "namenode")
        for dn in DATANODES:
            m.start(lan.hosts[dn], "datanode")
        # The administrator's first steps, from the client's machine, as deploy/README.md
        # gives them (a remote cluster: MINIHADOOP_NAMENODE and MINIHADOOP_TOKEN).
        env = {**os.environ, "MINIHADOOP_NAMENODE": m.namenode, "MINIHADOOP_TOKEN": m.token}
        for argv in first_folders():
            argv[0] = str(Path(sys.executable).parent / "minihadoop")
            done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
            assert done.returncode == 0, f"{shlex.join(argv)}: {done.stderr}"
        m.start(lan.hosts["nn1"], "jobtracker")
        for dn in DATANODES:
            m.start(lan.hosts[dn], "worker")
        yield m
    finally:
        lan.close()


def mapper(_offset: int, line: str) -> Iterator[tuple[str, int]]:
    for word in line.split():
        yield word, 1


def reducer(word: str, counts: Iterator[int]) -> Iterator[tuple[str, int]]:
    yield word, sum(counts)


def live_replicas(fs: FileSystem, path: str) -> list[list[str]]:
    return [b["locations"] for f in fs.fsck(path)["files_detail"] for b in f["blocks"]]


def test_the_systemd_units_make_a_cluster_on_four_machines(
    machines: Machines, monkeypatch: pytest.MonkeyPatch
) -> None:
    m = machines
    text = "".join(f"{w} the {w} hadoop\n" for w in ("apple", "pear", "fig") * 20_000)
    with FileSystem(m.namenode, m.token, retry_window=30) as fs:
        wait_for(lambda: fs.cluster()["live"] == 3 and not fs.cluster()["safemode"],
                 timeout=30, what="three datanodes registered")  # fmt: skip
        fs.mkdir("/data")
        fs.write_bytes("/data/words.txt", text.encode())  # two 1 MiB blocks and a bit
        assert fs.read_bytes("/data/words.txt") == text.encode()
        wait_for(lambda: all(len(at) == 2 for at in live_replicas(fs, "/data")),
                 what="two replicas of every block")  # fmt: skip

    # Every worker known to the job tracker, beside its datanode, before the job: one it has
    # not heard from yet cannot be waited for, and its maps would go to whoever asks first.
    jobtracker = f"http://{m.lan.hosts['nn1'].ip}:{PORTS['jobtracker']}/mr/v1/workers"

    def workers_beside_datanodes() -> bool:
        known = httpx.get(jobtracker, auth=cluster_auth(m.token), timeout=5).json()
        return sum(1 for w in known if w["state"] == "LIVE" and w["datanode"]) == 3

    wait_for(workers_beside_datanodes, timeout=30, what="three workers heard from")

    # A word count, its job tracker found through the namenode as a remote client finds it.
    monkeypatch.setenv("MINIHADOOP_NAMENODE", m.namenode)
    monkeypatch.setenv("MINIHADOOP_TOKEN", m.token)
    done = Job(mapper, reducer, combiner=reducer, inputs=["/data"], output="/out",
               num_reducers=2).run()  # fmt: skip
    assert done.state is JobState.SUCCEEDED, done.error
    with FileSystem(m.namenode, m.token) as fs:
        counted: Counter[str] = Counter()
        for part in sorted(s.path for s in fs.ls("/out") if s.name.startswith("part-")):
            for line in fs.read_bytes(part).decode().splitlines():
                word, n = line.split("\t")
                counted[word] += int(n)
        assert counted == Counter(text.split())
        assert done.counters["DATA_LOCAL_MAPS"] > 0  # the workers run beside their datanodes

        # dn1's machine drops off the network: declared dead, its blocks copied elsewhere.
        dn1 = m.lan.hosts["dn1"]
        dn1_url = f"http://{dn1.ip}:9864"
        m.lan.cut(dn1)
        cut = time.monotonic()

        def replaced() -> bool:
            where = live_replicas(fs, "/")
            return all(len(at) == 2 and dn1_url not in at for at in where)

        wait_for(replaced, timeout=60, what="dn1's blocks re-replicated on dn2 and dn3")
        assert time.monotonic() - cut < 60
        assert fs.read_bytes("/data/words.txt") == text.encode()

        # Back on the network: it registers again and the cluster is whole.
        m.lan.heal(dn1)
        wait_for(lambda: fs.cluster()["live"] == 3, timeout=30, what="dn1 back")
        assert fs.fsck("/")["status"] == "HEALTHY"
