"""`minihadoop cluster up|down|status`: a whole cluster on this machine."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from cli.format import human_size, parse_size
from minihadoop.config import home_dir
from minihadoop.filesystem import FileSystem
from minihadoop.localcluster import LocalCluster

app = typer.Typer(
    help="Run a local cluster: a namenode, datanodes, a job tracker and workers in the background."
)
out = Console()

DirOption = typer.Option(
    None, "--dir", help="Cluster folder (default: $MINIHADOOP_HOME or ~/.minihadoop)."
)


@app.command()
def up(
    dir: Path | None = DirOption,
    datanodes: int = typer.Option(3, min=1, max=64, help="How many datanodes."),
    block_size: str = typer.Option("64M", help="Default block size (4k and up)."),
    replication: int = typer.Option(3, min=1, max=512, help="Default replication factor."),
    heartbeat: float = typer.Option(3.0, min=0.05, help="Datanode heartbeat interval, seconds."),
    dead_after: float = typer.Option(
        60.0, min=0.1, help="Declare a silent datanode dead after, s."
    ),
) -> None:
    """Start a namenode, N datanodes, a job tracker and a worker beside each datanode;
    wait until they are ready; print the URLs."""
    where = home_dir(dir)
    cluster = LocalCluster(where)
    settings = {
        "block_size": parse_size(block_size),
        "replication": replication,
        "heartbeat_interval": heartbeat,
        "dead_node_timeout": dead_after,
    }
    with out.status(f"starting a namenode and {datanodes} datanodes in {where}…"):
        info = cluster.start(datanodes=datanodes, settings=settings)
    out.print(f"[green]cluster up[/] in {where}")
    out.print(f"  dashboard  {info.namenode}/")
    out.print(f"  namenode   {info.namenode}")
    for d in info.daemons[1:]:
        out.print(f"  {d.name:<10} {d.url}")
    out.print(f"  logs       {where / 'logs'}")
    out.print("Try: minihadoop fs put README.md /  &&  minihadoop fs ls /")


@app.command()
def down(dir: Path | None = DirOption) -> None:
    """Stop every daemon of the local cluster (its data stays)."""
    stopped = LocalCluster(home_dir(dir)).stop()
    out.print(f"stopped {len(stopped)} daemons" if stopped else "nothing was running")


@app.command()
def status(dir: Path | None = DirOption) -> None:
    """Show the cluster's daemons, capacity and block health."""
    where = home_dir(dir)
    with FileSystem.from_cluster(where) as fs:
        s = fs.cluster()
    table = Table("datanode", "state", "heartbeat", "used", "capacity", "blocks")
    for d in s["datanodes"]:
        table.add_row(
            d["url"],
            d["state"],
            f"{d['last_heartbeat_age']:.1f}s ago",
            human_size(d["used"]),
            human_size(d["capacity"]),
            str(d["blocks"]),
        )
    out.print(table)
    out.print(
        f"live {s['live']}, dead {s['dead']}; blocks {s['blocks']} "
        f"(under-replicated {s['under_replicated']}, missing {s['missing']}, "
        f"corrupt {s['corrupt']})"
    )
    out.print(s["safemode_message"])
