"""`minihadoop cluster up|down|status|stop|start|restart`: a whole cluster on this machine,
and its daemons one at a time (to try failures by hand)."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console

from cli.format import columns, human_size, parse_size
from minihadoop.config import home_dir
from minihadoop.errors import IllegalArgumentError
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
    namenodes: int = typer.Option(
        1, help="1, or 3 or 5 for a Raft group that rides out the loss of a namenode."
    ),
    jobtrackers: int = typer.Option(
        1, min=1, max=3, help="Job trackers: the first active, the others standing by."
    ),
    block_size: str = typer.Option("64M", help="Default block size (4k and up)."),
    replication: int = typer.Option(3, min=1, max=512, help="Default replication factor."),
    heartbeat: float = typer.Option(3.0, min=0.05, help="Datanode heartbeat interval, seconds."),
    dead_after: float = typer.Option(
        60.0, min=0.1, help="Declare a silent datanode dead after, s."
    ),
) -> None:
    """Start a namenode (or a group of 3 or 5), N datanodes, a job tracker (and standbys,
    with --jobtrackers) and a worker beside each datanode; wait until they are ready; print
    the URLs."""
    if namenodes not in (1, 3, 5):
        raise IllegalArgumentError(f"--namenodes must be 1, 3 or 5, not {namenodes}")
    where = home_dir(dir)
    cluster = LocalCluster(where)
    settings = {
        "block_size": parse_size(block_size),
        "replication": replication,
        "heartbeat_interval": heartbeat,
        "dead_node_timeout": dead_after,
    }
    what = "a namenode" if namenodes == 1 else f"{namenodes} namenodes"
    with out.status(f"starting {what} and {datanodes} datanodes in {where}…"):
        info = cluster.start(
            datanodes=datanodes, namenodes=namenodes, jobtrackers=jobtrackers, settings=settings
        )
    out.print(f"[green]cluster up[/] in {where}")
    out.print(f"  {'dashboard':<12} {cluster.leader() if namenodes > 1 else info.namenode}/")
    for d in info.daemons:
        role = cluster.role(d) if jobtrackers > 1 or namenodes > 1 else ""
        out.print(f"  {d.name:<12} {d.url}" + (f"  ({role})" if role else ""))
    out.print(f"  {'logs':<12} {where / 'logs'}")
    out.print("Try: minihadoop fs put README.md /  &&  minihadoop fs ls /")


@app.command()
def down(dir: Path | None = DirOption) -> None:
    """Stop every daemon of the local cluster (its data stays)."""
    stopped = LocalCluster(home_dir(dir)).stop()
    out.print(f"stopped {len(stopped)} daemons" if stopped else "nothing was running")


NameArgument = typer.Argument(
    ...,
    help="The daemon, as `cluster status` names it: namenode, datanode-0, jobtracker, worker-0…",
)
KillOption = typer.Option(False, "--kill", help="SIGKILL at once (a crash), not SIGTERM.")


@app.command()
def stop(name: str = NameArgument, kill: bool = KillOption, dir: Path | None = DirOption) -> None:
    """Stop one daemon: SIGTERM and wait for it to exit, or SIGKILL with --kill."""
    if LocalCluster(home_dir(dir)).stop_daemon(name, kill=kill):
        out.print(f"{'killed' if kill else 'stopped'} {name}")
    else:
        out.print(f"{name} was not running")


@app.command()
def start(name: str = NameArgument, dir: Path | None = DirOption) -> None:
    """Start one stopped daemon again, with the port, folder and settings it had."""
    d = LocalCluster(home_dir(dir)).start_daemon(name)
    out.print(f"started {name} (pid {d.pid}) on {d.url}")


@app.command()
def restart(
    name: str = NameArgument, kill: bool = KillOption, dir: Path | None = DirOption
) -> None:
    """Stop one daemon (if it runs), then start it again as it was."""
    cluster = LocalCluster(home_dir(dir))
    cluster.stop_daemon(name, kill=kill)
    d = cluster.start_daemon(name)
    out.print(f"restarted {name} (pid {d.pid}) on {d.url}")


@app.command()
def status(
    as_json: bool = typer.Option(False, "--json", help="Print JSON, for scripts."),
    dir: Path | None = DirOption,
) -> None:
    """Show every daemon (running or stopped), then the datanodes, capacity and block health
    as the namenode sees them."""
    where = home_dir(dir)
    cluster = LocalCluster(where)
    daemons = [
        {
            "daemon": d.name,
            "process": "running" if running else "stopped",
            "pid": d.pid if running else None,
            "url": d.url,
            "role": cluster.role(d) if running else "",
        }
        for d, running in cluster.daemon_states()
    ]
    if not as_json:
        head = ["daemon", "process", "pid", "url", "role"]
        table = [[str(d[k] if d[k] is not None else "-") for k in head] for d in daemons]
        for line in columns(head, table):
            print(line)
    with FileSystem.from_cluster(where, retry_window=0) as fs:  # a look, not a wait
        s = fs.cluster()  # a stopped namenode: this fails, with one line saying so
    if as_json:
        print(json.dumps({"daemons": daemons, "namenode": s}, indent=2))
        return
    rows = [
        [d["url"], d["state"], f"{d['last_heartbeat_age']:.1f}s ago", human_size(d["used"]),
         human_size(d["capacity"]), str(d["blocks"])]
        for d in s["datanodes"]
    ]  # fmt: skip
    print()
    head = ["datanode", "state", "heartbeat", "used", "capacity", "blocks"]
    for line in columns(head, rows, right=frozenset({2, 3, 4, 5})):
        print(line)
    print(
        f"live {s['live']}, dead {s['dead']}; blocks {s['blocks']} "
        f"(under-replicated {s['under_replicated']}, missing {s['missing']}, "
        f"corrupt {s['corrupt']})"
    )
    print(s["safemode_message"])
