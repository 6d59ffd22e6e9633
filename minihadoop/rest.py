"""Calling a minihadoop daemon over HTTP, for every client: errors come back as the same
exception classes the daemon raised (see `minihadoop.errors`), and servers are verified
against the cluster's CA (`tls_verify`)."""

from __future__ import annotations

import functools
import os
import ssl
import threading
from typing import Any

import httpx

from minihadoop.errors import (
    ConnectionLostError,
    MiniHadoopError,
    UnreachableError,
    from_remote,
)

Verify = ssl.SSLContext | bool  # what httpx takes as verify=


class DefaultTrust(ssl.SSLContext):
    """A verifying client context that reads httpx's default trust store — $SSL_CERT_FILE,
    else $SSL_CERT_DIR, else certifi's bundle — at its first TLS connection, not when it
    is made: the bundle takes ~30 ms to parse, and a command on a plain-HTTP cluster (most
    of them) never opens one. Every TLS connection, sync or async, is made by `wrap_socket`
    or `wrap_bio`, and both load the store first."""

    _lock = threading.Lock()

    def __new__(cls) -> DefaultTrust:
        return super().__new__(cls, ssl.PROTOCOL_TLS_CLIENT)  # verifies host and chain

    def __init__(self) -> None:
        super().__init__()
        self._loaded = False

    def _load(self) -> None:
        with self._lock:
            if self._loaded:
                return
            if os.environ.get("SSL_CERT_FILE"):
                self.load_verify_locations(cafile=os.environ["SSL_CERT_FILE"])
            elif os.environ.get("SSL_CERT_DIR"):
                self.load_verify_locations(capath=os.environ["SSL_CERT_DIR"])
            else:
                import certifi  # here: only a TLS connection needs it

                self.load_verify_locations(cafile=certifi.where())
            self._loaded = True

    def wrap_socket(self, *args: Any, **kwargs: Any) -> ssl.SSLSocket:
        if not self._loaded:
            self._load()
        return super().wrap_socket(*args, **kwargs)

    def wrap_bio(self, *args: Any, **kwargs: Any) -> ssl.SSLObject:
        if not self._loaded:
            self._load()
        return super().wrap_bio(*args, **kwargs)


@functools.lru_cache(maxsize=8)
def tls_verify(ca: str = "") -> ssl.SSLContext:
    """What every httpx client of the cluster passes as ``verify=``: a context trusting only
    the PEM bundle `ca` (`Settings.tls_ca`), or, when it is empty, httpx's default store
    (`DefaultTrust`, read at the first TLS connection). Plain-HTTP URLs never use it, so it
    is the same call with TLS on or off.

    Cached per path: daemons and tasks make clients often, and the bundle is read once per
    process (a new CA takes a restart, as a new certificate does). A named bundle is read
    here, so a missing one is an error at once, not at the first connection.
    """
    if not ca:
        return DefaultTrust()
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
