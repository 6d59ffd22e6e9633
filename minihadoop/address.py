"""The address a daemon gives out, so others can reach it (the classic container pitfall:
a daemon bound to 0.0.0.0 must not tell anyone to connect to 0.0.0.0)."""

from __future__ import annotations

import ipaddress
import socket

from minihadoop.errors import IllegalArgumentError


def advertised_host(bind_host: str, advertise: str | None) -> str:
    """The host name peers and clients should use to reach this daemon.

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
