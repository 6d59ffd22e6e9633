"""Running a datanode: open the block store, serve HTTP, heartbeat to its namenodes."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from datanode.app import create_app
from datanode.blockstore import BlockStore
from datanode.service import DatanodeIdentity, DatanodeService
from minihadoop.address import advertised_host
from minihadoop.config import Settings
from minihadoop.server import bind_socket, serve, url_for

log = logging.getLogger("minihadoop.datanode")


def run(
    data_dir: Path,
    namenodes: str | Sequence[str],
    settings: Settings,
    *,
    host: str,
    port: int,
    advertise: str | None = None,
    rack: str = "/default-rack",
    capacity: int = 0,
    ready_file: Path | None = None,
) -> None:
    store = BlockStore(data_dir, capacity=capacity)
    sock = bind_socket(host, port)
    url = url_for(advertised_host(host, advertise), sock.getsockname()[1], tls=settings.tls)
    service = DatanodeService(store, DatanodeIdentity(url=url, rack=rack), namenodes, settings)
    app = create_app(service, settings)
    if ready_file is not None:
        ready_file.write_text(url)
    log.warning(
        "datanode %s serving %s on %s for namenodes %s",
        store.datanode_id,
        data_dir,
        url,
        ", ".join(a.url for a in service.actors),
    )
    serve(app, sock, settings)
