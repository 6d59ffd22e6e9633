"""`minihadoop admin …`: operator commands, like `hdfs dfsadmin`."""

from __future__ import annotations

import time
from enum import StrEnum
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from cli.fs import DirOption, client

app = typer.Typer(
    help="Administer the cluster: safe mode, decommissioning, lease recovery, delegation tokens."
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
