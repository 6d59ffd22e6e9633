"""`minihadoop namenode` and `minihadoop datanode`: one daemon in the foreground."""

from __future__ import annotations

import logging
from pathlib import Path

import typer

from minihadoop import logs
from minihadoop.config import (
    DATANODE_PORT,
    JOBTRACKER_PORT,
    NAMENODE_PORT,
    NAMENODE_SERVICE_PORT,
    WORKER_PORT,
    Settings,
)
from minihadoop.errors import IllegalArgumentError


def _log_warnings() -> None:
    """Plain warnings until the settings say how to log (`_settings`)."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")


def _settings(daemon: str = "", **overrides: object) -> Settings:
    settings = Settings(**{k: v for k, v in overrides.items() if v is not None})  # type: ignore[arg-type]
    if not settings.token:
        raise IllegalArgumentError(
            "no cluster token: set MINIHADOOP_TOKEN (the same value on every daemon and client)"
        )
    if daemon:
        logs.setup(daemon, settings.log_format, settings.log_level)
    return settings


def namenode(
    dir: Path = typer.Option(..., "--dir", help="Name folder: the replicated log and snapshots."),
    host: str = typer.Option("127.0.0.1", help="Address to bind (0.0.0.0 for every interface)."),
    port: int = typer.Option(NAMENODE_PORT, help="HTTP port (Hadoop's default: 9870)."),
    service_port: int = typer.Option(
        NAMENODE_SERVICE_PORT,
        help="Port for datanodes only (heartbeats, block reports); -1: use --port.",
    ),
    ready_file: Path | None = typer.Option(None, help="Write the URL here once listening."),
    node_id: str | None = typer.Option(
        None, "--id", help="This namenode's id in its group (default nn1)."
    ),
    peers: str | None = typer.Option(
        None,
        help="Every namenode of the group, itself included, as id=client-URL pairs: "
        "nn1=http://a:9870,nn2=http://b:9870,nn3=http://c:9870. None: a group of one.",
    ),
    service_peers: str | None = typer.Option(
        None,
        help="The same ids with their service URLs (--service-port), for the group's "
        "own traffic. Default: the client URLs.",
    ),
) -> None:
    """Run a namenode in the foreground: alone, or as one of a Raft group of 3 or 5."""
    from namenode.daemon import run

    _log_warnings()
    settings = _settings(
        "namenode", namenode_id=node_id, namenode_peers=peers, namenode_service_peers=service_peers
    )
    run(dir, settings, host, port, ready_file, None if service_port < 0 else service_port)


def datanode(
    dir: Path = typer.Option(..., "--dir", help="Data folder for block replicas."),
    namenodes: list[str] = typer.Option(
        ...,
        "--namenode",
        metavar="URL[,URL...]",
        help="The namenode's service URL (its --service-port). For a namenode group, every "
        "namenode's: comma-separated, or the flag once per namenode.",
    ),
    host: str = typer.Option("127.0.0.1", help="Address to bind."),
    port: int = typer.Option(DATANODE_PORT, help="HTTP port (Hadoop's default: 9864)."),
    advertise: str | None = typer.Option(
        None, help="Host name clients and peers use to reach this node (default: --host)."
    ),
    rack: str = typer.Option("/default-rack", help="Rack, for rack-aware placement."),
    capacity: str | None = typer.Option(None, help="Cap the space offered, e.g. 10G."),
    ready_file: Path | None = typer.Option(None, help="Write the URL here once listening."),
) -> None:
    """Run a datanode in the foreground."""
    from cli.format import parse_size
    from datanode.daemon import run

    _log_warnings()
    run(
        dir,
        namenodes,
        _settings("datanode"),
        host=host,
        port=port,
        advertise=advertise,
        rack=rack,
        capacity=parse_size(capacity) if capacity else 0,
        ready_file=ready_file,
    )


def jobtracker(
    dir: Path = typer.Option(..., "--dir", help="Job history and job payloads."),
    namenode_url: str = typer.Option(
        ...,
        "--namenode",
        help="The namenode's URL; for a namenode group, every member's, separated by ';'.",
    ),
    host: str = typer.Option("127.0.0.1", help="Address to bind."),
    port: int = typer.Option(JOBTRACKER_PORT, help="HTTP port (default 8088)."),
    advertise: str | None = typer.Option(
        None, help="Host name workers and the dashboard use to reach it (default: --host)."
    ),
    ready_file: Path | None = typer.Option(None, help="Write the URL here once listening."),
) -> None:
    """Run a job tracker in the foreground."""
    from mapreduce.jobtracker_app import run

    _log_warnings()
    run(
        dir,
        namenode_url,
        _settings("jobtracker"),
        host=host,
        port=port,
        advertise=advertise,
        ready_file=ready_file,
    )


def worker(
    dir: Path = typer.Option(..., "--dir", help="Scratch space for map outputs."),
    jobtracker_url: str | None = typer.Option(
        None,
        "--jobtracker",
        help="The job tracker's URL; with a standby, every job tracker's, separated by ';'.",
    ),
    namenode_url: str | None = typer.Option(
        None,
        "--namenode",
        help="The namenodes' URLs, separated by ';': the active job tracker is found there.",
    ),
    datanode_url: str | None = typer.Option(
        None, "--datanode", help="The datanode beside this worker (for data-local maps)."
    ),
    host: str = typer.Option("127.0.0.1", help="Address to bind."),
    port: int = typer.Option(WORKER_PORT, help="HTTP port (default 8042)."),
    slots: int = typer.Option(0, min=0, help="Concurrent tasks (0: one per CPU core)."),
    advertise: str | None = typer.Option(
        None, help="Host name reducers use to fetch map output from it (default: --host)."
    ),
    ready_file: Path | None = typer.Option(None, help="Write the URL here once listening."),
) -> None:
    """Run a worker in the foreground."""
    from mapreduce.worker_app import run

    if not jobtracker_url and not namenode_url:
        raise typer.BadParameter(
            "give --jobtracker, --namenode, or both", param_hint="--jobtracker"
        )
    _log_warnings()
    run(
        dir,
        jobtracker_url,
        _settings("worker"),
        host=host,
        port=port,
        datanode=datanode_url,
        namenode=namenode_url,
        slots=slots,
        advertise=advertise,
        ready_file=ready_file,
    )
