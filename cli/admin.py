"""`minihadoop admin …`: operator commands, like `hdfs dfsadmin`."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import typer
from rich.console import Console

from cli.fs import DirOption, client

app = typer.Typer(help="Administer the cluster: safe mode, decommissioning.")
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
