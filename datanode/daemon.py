"""Running a datanode: open the block store, serve HTTP, heartbeat to the namenode."""

from __future__ import annotations

import ipaddress
import logging
import socket
from pathlib import Path

from datanode.app import create_app
from datanode.blockstore import BlockStore
from datanode.service import DatanodeIdentity, DatanodeService
from minihadoop.config import Settings
from minihadoop.errors import IllegalArgumentError
from minihadoop.server import bind_socket, serve, url_for

log = logging.getLogger("minihadoop.datanode")


def advertised_host(bind_host: str, advertise: str | None) -> str:
    """The host name peers and clients should use to reach this datanode.

    A wildcard bind address (0.0.0.0, ::) is no address to give out: without --advertise the
    machine's fully qualified name is used instead, as Hadoop does.
    """
    if advertise is None:
        return socket.getfqdn() if bind_host in ("0.0.0.0", "::", "") else bind_host
    if "/" in advertise or (":" in advertise and not _is_ipv6(advertise)):
        raise IllegalArgumentError(
            f"--advertise takes a host name or address, not a URL or host:port: {advertise!r}"
        )
    return advertise


def _is_ipv6(text: str) -> bool:
    try:
        return ipaddress.ip_address(text).version == 6
    except ValueError:
        return False


def run(
    data_dir: Path,
    namenode_url: str,
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
    url = url_for(advertised_host(host, advertise), sock.getsockname()[1])
    service = DatanodeService(store, DatanodeIdentity(url=url, rack=rack), namenode_url, settings)
    app = create_app(service, settings)
    if ready_file is not None:
        ready_file.write_text(url)
    log.warning("datanode %s serving %s on %s", store.datanode_id, data_dir, url)
    serve(app, sock)
