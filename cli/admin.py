"""`minihadoop admin …`: operator commands, like `hdfs dfsadmin`."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import typer
from rich.console import Console
from rich.table import Table

from cli.failures import Failures
from cli.format import human_size, parse_size
from cli.fs import DirOption, absolute, client
from coord.errors import LockHeldError
from minihadoop.balancer import Balancer
from minihadoop.locks import LockSession

app = typer.Typer(
    help="Administer the cluster: report, balancer, quotas, safe mode, decommissioning, "
    "lease recovery, delegation tokens."
)
RECOVER_RETRY_SECONDS = 5.0  # hdfs debug recoverLease waits 5000 ms between tries
out = Console()


class SafeModeAction(StrEnum):
    get = "get"
    enter = "enter"
    leave = "leave"


@app.command()
def safemode(
    action: SafeModeAction = typer.Argument(SafeModeAction.get), dir: Path | None = DirOption
) -> None:
    """Get, enter or leave safe mode (read-only namespace)."""
    with client(dir) as fs:
        out.print(fs.safemode(action.value)["message"])


# `hdfs dfsadmin -report`'s sections, in its order, by the datanode states they hold.
REPORT_SECTIONS = (
    ("live", "Live datanodes", ("LIVE",)),
    ("dead", "Dead datanodes", ("DEAD",)),
    ("decommissioning", "Decommissioning datanodes", ("DECOMMISSIONING", "DECOMMISSIONED")),
)


@app.command()
def report(
    live: bool = typer.Option(False, "-live", "--live", help="Only the live datanodes."),
    dead: bool = typer.Option(False, "-dead", "--dead", help="Only the dead datanodes."),
    decommissioning: bool = typer.Option(
        False, "-decommissioning", "--decommissioning", help="Only those being drained."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON, for scripts."),
    dir: Path | None = DirOption,
) -> None:
    """The cluster's capacity, block health and every datanode, like `hdfs dfsadmin
    -report` (same fields, same order); -live, -dead, -decommissioning pick sections."""
    with client(dir) as fs:
        s = fs.cluster()
    wanted = {k for k, on in (("live", live), ("dead", dead),
                              ("decommissioning", decommissioning)) if on}  # fmt: skip
    sections = [sec for sec in REPORT_SECTIONS if not wanted or sec[0] in wanted]
    if as_json:
        nodes = [n for n in s["datanodes"] if any(n["state"] in sec[2] for sec in sections)]
        keep = ("capacity", "used", "remaining", "blocks", "under_replicated", "missing",
                "corrupt", "safemode", "live", "dead", "decommissioning",
                "decommissioned")  # fmt: skip
        print(json.dumps({**{k: s[k] for k in keep}, "datanodes": nodes}, indent=2))
        return
    for line in report_lines(s, sections, time.time()):
        print(line)


def report_lines(
    s: dict[str, Any], sections: Sequence[tuple[str, str, tuple[str, ...]]], now: float
) -> list[str]:
    """`hdfs dfsadmin -report`'s text for the namenode's `cluster` answer."""
    lines = ["Safe mode is ON"] if s["safemode"] else []
    lines += _capacity_lines(s["capacity"], s["used"], s["remaining"], present=True)
    lines += [
        "Replicated Blocks:",
        f"\tUnder replicated blocks: {s['under_replicated']}",
        f"\tBlocks with corrupt replicas: {s['corrupt']}",
        f"\tMissing blocks: {s['missing']}",
        f"\tTotal blocks: {s['blocks']}",
        "",
        "-" * 49,
    ]
    for _key, title, states in sections:
        nodes = [n for n in s["datanodes"] if n["state"] in states]
        lines += [f"{title} ({len(nodes)}):", ""]
        for n in nodes:
            contact = time.strftime(
                "%a %b %d %H:%M:%S %Z %Y", time.localtime(now - n["last_heartbeat_age"])
            )
            status = {"LIVE": "Normal", "DEAD": "Normal", "DECOMMISSIONING":
                      "Decommission in progress", "DECOMMISSIONED": "Decommissioned"}  # fmt: skip
            address = urlsplit(n["url"])
            lines += [
                f"Name: {address.netloc} ({n['id']})",
                f"Hostname: {address.hostname}",
                f"Rack: {n['rack']}",
                f"Decommission Status : {status[n['state']]}",
                *_capacity_lines(n["capacity"], n["used"], n["remaining"], present=False),
                f"Last contact: {contact}",
                f"Num of Blocks: {n['blocks']}",
                "",
            ]
    return lines


def _capacity_lines(capacity: int, used: int, remaining: int, *, present: bool) -> list[str]:
    def size(n: int) -> str:
        return f"{n} ({human_size(n)})"

    def pct(n: int) -> str:
        return f"{100 * n / capacity:.2f}%" if capacity else "0.00%"

    if present:  # the summary: what HDFS can use, its own bytes and what is free
        return [
            f"Configured Capacity: {size(capacity)}",
            f"Present Capacity: {size(used + remaining)}",
            f"DFS Remaining: {size(remaining)}",
            f"DFS Used: {size(used)}",
            f"DFS Used%: {pct(used)}",
        ]
    return [  # a datanode's lines, in HDFS's per-node order
        f"Configured Capacity: {size(capacity)}",
        f"DFS Used: {size(used)}",
        f"Non DFS Used: {size(max(0, capacity - used - remaining))}",
        f"DFS Remaining: {size(remaining)}",
        f"DFS Used%: {pct(used)}",
        f"DFS Remaining%: {pct(remaining)}",
    ]


def _quota_each(folders: list[str], dir: Path | None, **quota: int) -> None:
    """Set one quota on each folder; a folder that fails is said and the others done, and
    the exit status is 1 if any failed (as `hdfs dfsadmin` goes through its list)."""
    failures = Failures()
    with client(dir) as fs:
        for folder in folders:
            with failures.each():
                fs.set_quota(absolute(fs, folder), **quota)
    failures.exit()


@app.command()
def setquota(
    quota: int = typer.Argument(..., min=1, help="Files and folders each tree may hold."),
    folders: list[str] = typer.Argument(..., metavar="FOLDER…"),
    dir: Path | None = DirOption,
) -> None:
    """A name quota: at most QUOTA files and folders under each folder, itself included
    (`hdfs dfsadmin -setQuota`). A superuser's to set."""
    _quota_each(folders, dir, names=quota)


@app.command()
def clrquota(folders: list[str] = typer.Argument(..., metavar="FOLDER…"),
             dir: Path | None = DirOption) -> None:  # fmt: skip
    """Remove each folder's name quota (`hdfs dfsadmin -clrQuota`)."""
    _quota_each(folders, dir, names=-1)


@app.command()
def setspacequota(
    quota: str = typer.Argument(..., help="Bytes of replicas: 1073741824, 10g, 1t."),
    folders: list[str] = typer.Argument(..., metavar="FOLDER…"),
    dir: Path | None = DirOption,
) -> None:
    """A space quota: at most QUOTA bytes of replicas under each folder — a file's length
    times its replication, a block being written counted whole (`hdfs dfsadmin
    -setSpaceQuota`). A superuser's to set."""
    size = parse_size(quota)
    if size < 1:
        raise typer.BadParameter("a space quota must be at least 1 byte")
    _quota_each(folders, dir, space=size)


@app.command()
def clrspacequota(folders: list[str] = typer.Argument(..., metavar="FOLDER…"),
                  dir: Path | None = DirOption) -> None:  # fmt: skip
    """Remove each folder's space quota (`hdfs dfsadmin -clrSpaceQuota`)."""
    _quota_each(folders, dir, space=-1)


@app.command()
def balance(
    threshold: float = typer.Option(
        10.0,
        "--threshold",
        "-threshold",
        min=0.001,
        max=100,
        help="Percent: each datanode's use within this of the cluster's mean.",
    ),
    bandwidth: str = typer.Option(
        "100m", "--bandwidth", help="Bytes a second each datanode may send or take (10m, 1g)."
    ),
    dir: Path | None = DirOption,
) -> None:
    """Move replicas until every datanode's use is within the threshold of the mean (`hdfs
    balancer`). Never lowers a block's replication; safe to stop and run again. Exits 0
    when balanced, 1 when no more can be moved. A superuser's."""
    rate = parse_size(bandwidth)
    if rate < 1:
        raise typer.BadParameter("the bandwidth must be at least 1 byte a second")
    with client(dir) as fs, LockSession(fs) as session:
        try:
            session.acquire("balancer", timeout=0.5)
        except LockHeldError:
            out.print("Another balancer is running. Exiting...")
            raise typer.Exit(1) from None
        balancer = Balancer(fs, threshold=threshold, bandwidth=rate, say=print)
        if not balancer.run():
            raise typer.Exit(1)


@app.command()
def ha(
    dir: Path | None = DirOption,
    timeout: float = typer.Option(2.0, min=0.1, help="Seconds to wait for each namenode."),
) -> None:
    """One line per namenode: its name, URL, role (leader, follower or down), term and
    commit index — like `hdfs haadmin -getAllServiceState`. Exits 1 when no namenode
    answers as the leader."""
    with client(dir) as fs:
        states = fs.namenode_states(timeout)
    table = Table(box=None, pad_edge=False)
    for column in ("name", "url", "role", "term", "commit"):
        table.add_column(column, justify="right" if column in ("term", "commit") else "left")
    for s in states:
        role = {"leader": "[green]leader[/]", "down": "[red]down[/]"}.get(s.role, s.role)
        term = "-" if s.term is None else str(s.term)
        commit = "-" if s.commit is None else str(s.commit)
        name = "-" if s.name == s.url else s.name  # a namenode that did not answer: unnamed
        table.add_row(name, s.url, role, term, commit)
    out.print(table)
    if not any(s.role == "leader" for s in states):
        raise typer.Exit(1)


@app.command()
def decommission(
    datanode: str = typer.Argument(..., help="The datanode's id or URL."),
    dir: Path | None = DirOption,
) -> None:
    """Drain a datanode: copy its replicas elsewhere, then retire it."""
    with client(dir) as fs:
        state = fs.decommission(datanode)
    out.print(f"{datanode}: {state}")


@app.command("recover-lease")
def recover_lease(
    path: str = typer.Argument(..., help="A file whose writer died while writing it."),
    retries: int = typer.Option(1, "--retries", min=1, help="How many times to ask."),
    dir: Path | None = DirOption,
) -> None:
    """Take a file from a dead writer and close it with the bytes its datanodes hold, like
    `hdfs debug recoverLease -path PATH -retries N`. Exits 0 once the file is closed."""
    with client(dir) as fs:
        for attempt in range(1, retries + 1):
            if fs.recover_lease(path):
                out.print(f"recoverLease SUCCEEDED on {path}")
                return
            out.print("recoverLease returned false.")
            if attempt < retries:
                out.print(f"Retrying in {int(RECOVER_RETRY_SECONDS * 1000)} ms...")
                time.sleep(RECOVER_RETRY_SECONDS)
                out.print(f"Retry #{attempt}")
    tries = "try" if retries == 1 else "tries"
    out.print(f"Giving up on recoverLease for {path} after {retries} {tries}.")
    raise typer.Exit(1)


@app.command()
def fetchdt(
    renewer: str | None = typer.Option(None, help="Who may renew it (default: you)."),
    renew: str | None = typer.Option(None, "--renew", metavar="TOKEN", help="Renew TOKEN."),
    cancel: str | None = typer.Option(None, "--cancel", metavar="TOKEN", help="Cancel TOKEN."),
    dir: Path | None = DirOption,
) -> None:
    """Print a delegation token for WebHDFS clients (fsspec, HdfsCLI), like `hdfs fetchdt`.

    Give it to a client instead of the cluster token: it acts as you, expires in a day unless
    renewed (up to a week), and can be cancelled.
    """
    if renew is not None and cancel is not None:
        raise typer.BadParameter("--renew and --cancel cannot be used together")
    with client(dir) as fs:
        if renew is not None:
            expiry = fs.renew_delegation_token(renew)
            stamp = time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(expiry))
            out.print(f"renewed until {stamp}")
        elif cancel is not None:
            fs.cancel_delegation_token(cancel)
            out.print("cancelled")
        else:
            print(fs.get_delegation_token(renewer))  # plain: for $(...) and pipes
