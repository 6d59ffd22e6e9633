"""Running a namenode: load the namespace, serve HTTP, tick the monitor, checkpoint on exit."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import FastAPI

from minihadoop.config import Settings
from minihadoop.guard import HostNames
from minihadoop.server import bind_socket, serve, url_for
from namenode.app import create_app
from namenode.namesystem import Namesystem

log = logging.getLogger("minihadoop.namenode")


def build_app(
    name_dir: Path, settings: Settings, host: str = "127.0.0.1", ports: list[int] | None = None
) -> FastAPI:
    system = Namesystem(name_dir, settings, settle_heap=True)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        monitor = asyncio.create_task(_monitor(system, settings.replication_interval))
        yield
        monitor.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await monitor
        system.close()

    names = HostNames([*settings.host_names(), host], ports=ports or [])
    return create_app(system, settings, lifespan=lifespan, names=names)


async def _monitor(system: Namesystem, interval: float) -> None:
    while True:
        try:
            await asyncio.to_thread(system.tick)
        except Exception:  # the monitor must outlive any one bad tick
            log.exception("monitor tick failed")
        await asyncio.sleep(interval)


def run(
    name_dir: Path,
    settings: Settings,
    host: str,
    port: int,
    ready_file: Path | None,
    service_port: int | None = None,
) -> None:
    """Serve clients on `port` and datanodes on `service_port` (None: on `port` too).

    The service port is HDFS's service RPC address: heartbeats, block reports and
    block-received reports arrive there, with connection caps of their own, so no number of
    clients, slow or greedy, can make the namenode miss heartbeats and declare datanodes
    dead. The ready file gets the client URL, then the service URL on a second line."""
    sock = bind_socket(host, port)
    tls = settings.tls
    url = url_for(host, sock.getsockname()[1], tls=tls)
    service_sock = bind_socket(host, service_port) if service_port is not None else None
    service_url = url_for(host, service_sock.getsockname()[1], tls=tls) if service_sock else url
    ports = [s.getsockname()[1] for s in (sock, service_sock) if s is not None]
    app = build_app(name_dir, settings, host, ports)
    if ready_file is not None:
        ready_file.write_text(f"{url}\n{service_url}")
    log.warning("namenode serving %s on %s (datanodes: %s)", name_dir, url, service_url)
    serve(app, sock, settings, service_sock=service_sock, lane=app.state.lane)
