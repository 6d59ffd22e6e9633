"""How one holder of the cluster token proves itself to another over HTTP.

`ClusterAuth` is the one seam every daemon-to-daemon and client-to-daemon call goes
through: pass it as ``auth=`` to an httpx client and the request carries the proof.
"""

from __future__ import annotations

from collections.abc import Generator

import httpx


class ClusterAuth(httpx.Auth):
    """Proof of the cluster token on every request sent through a client."""

    def __init__(self, token: str) -> None:
        self._token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["authorization"] = f"Bearer {self._token}"
        yield request
