"""Calling a minihadoop daemon over HTTP, for every client: errors come back as the same
exception classes the daemon raised (see `minihadoop.errors`)."""

from __future__ import annotations

from typing import Any

import httpx

from minihadoop.errors import MiniHadoopError, UnavailableError, from_remote


def call(client: httpx.Client, method: str, url: str, **kw: Any) -> httpx.Response:
    """One request; a transport failure is UnavailableError, an error answer its own class."""
    try:
        response = client.request(method, url, **kw)
    except httpx.TransportError as exc:
        raise UnavailableError(f"cannot reach {url.split('/', 3)[2]}: {exc}") from exc
    if response.status_code >= 400:
        raise remote_error(response)
    return response


def remote_error(response: httpx.Response) -> MiniHadoopError:
    try:
        body = response.json()
    except ValueError:
        body = response.text
    return from_remote(body, response.status_code)
