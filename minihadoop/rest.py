"""Calling a minihadoop daemon over HTTP, for every client: errors come back as the same
exception classes the daemon raised (see `minihadoop.errors`), and servers are verified
against the cluster's CA (`tls_verify`)."""

from __future__ import annotations

import functools
import ssl
from typing import Any

import httpx

from minihadoop.errors import (
    ConnectionLostError,
    MiniHadoopError,
    UnreachableError,
    from_remote,
)

Verify = ssl.SSLContext | bool


@functools.lru_cache(maxsize=8)
def tls_verify(ca: str = "") -> Verify:
    """What every httpx client of the cluster passes as ``verify=``: a context trusting only
    the PEM bundle `ca` (`Settings.tls_ca`), or True — httpx's default store (certifi's
    bundle, or $SSL_CERT_FILE) — when it is empty. Plain-HTTP URLs never use it, so it is
    the same call with TLS on or off.

    Cached per path: daemons and tasks make clients often, and the bundle is read once per
    process (a new CA takes a restart, as a new certificate does).
    """
    if not ca:
        return True
    return ssl.create_default_context(cafile=ca)


def call(client: httpx.Client, method: str, url: str, **kw: Any) -> httpx.Response:
    """One request; an error answer is its own class. A transport failure is
    UnreachableError when no connection was made (the daemon never saw the request), else
    ConnectionLostError (it may have)."""
    where = url.split("/", 3)[2]
    try:
        response = client.request(method, url, **kw)
    except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
        raise UnreachableError(f"cannot reach {where}: {exc}") from exc
    except httpx.TransportError as exc:
        raise ConnectionLostError(f"cannot reach {where}: connection lost mid-call: {exc}") from exc
    if response.status_code >= 400:
        raise remote_error(response)
    return response


def remote_error(response: httpx.Response) -> MiniHadoopError:
    try:
        body = response.json()
    except ValueError:
        body = response.text
    return from_remote(body, response.status_code)
