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
    name_dir: Path, settings: Settings, host: str = "127.0.0.1", port: int | None = None
) -> FastAPI:
    system = Namesystem(name_dir, settings)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        monitor = asyncio.create_task(_monitor(system, settings.replication_interval))
        yield
        monitor.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await monitor
        system.close()

    names = HostNames([*settings.host_names(), host], ports=[port] if port else [])
    return create_app(system, settings, lifespan=lifespan, names=names)


async def _monitor(system: Namesystem, interval: float) -> None:
    while True:
        try:
            await asyncio.to_thread(system.tick)
        except Exception:  # the monitor must outlive any one bad tick
            log.exception("monitor tick failed")
        await asyncio.sleep(interval)


def run(name_dir: Path, settings: Settings, host: str, port: int, ready_file: Path | None) -> None:
    sock = bind_socket(host, port)
    app = build_app(name_dir, settings, host, sock.getsockname()[1])
    url = url_for(host, sock.getsockname()[1], tls=settings.tls)
    if ready_file is not None:
        ready_file.write_text(url)
    log.warning("namenode serving %s on %s", name_dir, url)
    serve(app, sock, certfile=settings.tls_cert, keyfile=settings.tls_key)
