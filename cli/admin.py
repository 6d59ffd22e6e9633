"""`minihadoop admin …`: operator commands, like `hdfs dfsadmin`."""

from __future__ import annotations

import time
from enum import StrEnum
from pathlib import Path

import typer
from rich.console import Console

from cli.fs import DirOption, client

app = typer.Typer(help="Administer the cluster: safe mode, decommissioning, delegation tokens.")
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
def decommission(
    datanode: str = typer.Argument(..., help="The datanode's id or URL."),
    dir: Path | None = DirOption,
) -> None:
    """Drain a datanode: copy its replicas elsewhere, then retire it."""
    with client(dir) as fs:
        state = fs.decommission(datanode)
    out.print(f"{datanode}: {state}")


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
