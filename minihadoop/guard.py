"""What stands in front of every daemon's app: the Host check, request signatures, signed
answers, and the dependencies that say who may call a route.

`RequestGuard` (ASGI middleware, outermost):

1. **Host.** A request whose Host header names something other than this daemon is refused
   (400) before anything else, so a web page that rebinds its own DNS name to 127.0.0.1
   cannot read the cluster through a browser. Allowed: any IP literal (rebinding needs a
   name), ``localhost``, the machine's own names, the daemon's bind and advertised names,
   and `Settings.allowed_hosts`.
2. **Signature** (`minihadoop.signing`). A signed request is verified — signature, date,
   nonce — and its body checked against its signed digest as it arrives (a mismatch raises
   before the last chunk reaches the app, so nothing is acted on). A bad signature is 401.
   A request without one goes on as *anonymous*: the route's dependency decides.
3. **Answers** to a verified request are signed: one sent whole with its body digest, a
   streamed one as UNSIGNED-PAYLOAD.

The principal lands in ``scope["minihadoop.principal"]``: `CLUSTER` for a verified request,
a `Principal` holding a `DelegationToken` once a route's dependency has checked one, else
absent. Routes depend on `cluster_only` (daemon-to-daemon and native client calls),
`WebAuth.user` (WebHDFS writes: the cluster or a live delegation token permitting the op and
path) or `WebAuth.reader` (reads: that, or anyone under the "open" read policy).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import ipaddress
import socket
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from minihadoop import paths
from minihadoop.config import Settings
from minihadoop.delegation import DelegationToken
from minihadoop.errors import AuthenticationError, IllegalArgumentError, MiniHadoopError
from minihadoop.server import unexpected_response
from minihadoop.signing import (
    CONTENT,
    SIGNATURE,
    UNSIGNED,
    Keys,
    NonceCache,
    SignatureError,
    SignedRequest,
    digest,
    is_signed,
    sign_response,
    verify_request,
)

PRINCIPAL = "minihadoop.principal"
# Host header values longer than this are decided each time, never remembered: a DNS name
# is at most 253 characters, with a port 259; memos of 64 KiB headers would be 64 MiB.
MAX_HOST = 300


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request proved to be: the cluster itself, or a delegation token's user."""

    cluster: bool
    token: DelegationToken | None = None
    token_text: str | None = None

    @property
    def user(self) -> str | None:
        return self.token.user if self.token else None


CLUSTER = Principal(cluster=True)


def principal_of(request: Request) -> Principal | None:
    found: Principal | None = request.scope.get(PRINCIPAL)
    return found


# --- Host names ------------------------------------------------------------------------------


class HostNames:
    """The names this daemon answers to (see the module's docstring), and the ports.

    The port matters only to signed requests: a peer names the daemon it means, port
    included, and its signature covers that Host, so a request one daemon received cannot
    be relayed to another on the same machine. Browsers are not held to it (a dashboard seen
    through a forwarded port). An entry ``name:port`` in `extra` adds a port reached through
    a mapping (a container's published port).
    """

    def __init__(self, extra: Iterable[str] = (), ports: Iterable[int] = ()) -> None:
        self.names = {"localhost", socket.gethostname().lower(), socket.getfqdn().lower()}
        self.ports = set(ports)
        self._allowed: dict[str, bool] = {}  # unsigned requests' Host headers, decided
        self.add(*extra)

    def add(self, *names: str) -> None:
        for entry in names:
            name, port = _split_host(entry.strip().lower())
            if name:
                self.names.add(name)
            if port is not None:
                self.ports.add(port)
        self._allowed.clear()

    def allows(self, host_header: str, *, signed: bool = False) -> bool:
        if signed or len(host_header) > MAX_HOST:
            return self._allows(host_header, signed=signed)
        known = self._allowed.get(host_header)
        if known is None:
            if len(self._allowed) >= 1024:  # the header is the caller's to choose
                self._allowed.clear()
            known = self._allowed[host_header] = self._allows(host_header, signed=False)
        return known

    def _allows(self, host_header: str, *, signed: bool) -> bool:
        host, port = _split_host(host_header.strip().lower())
        if not host or not (_is_ip(host) or host in self.names):
            return False
        return not (signed and self.ports and port not in self.ports)


def _split_host(text: str) -> tuple[str, int | None]:
    """``name``, ``name:port``, ``[v6]:port`` or a bare v6 address: (name, port)."""
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            return "", None
        name, rest = text[1:end], text[end + 1 :]
        port = rest[1:] if rest.startswith(":") else ""
    elif text.count(":") == 1:
        name, port = text.split(":")
    else:
        name, port = text, ""
    if port and not (port.isdigit() and len(port) <= 5):
        return "", None
    return name.rstrip("."), int(port) if port else None


def _is_ip(text: str) -> bool:
    return len(text) <= MAX_HOST and _is_short_ip(text)


@functools.lru_cache(maxsize=1024)  # bounded: the Host header is the caller's to choose
def _is_short_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


# --- the middleware --------------------------------------------------------------------------


class RequestGuard:
    def __init__(
        self,
        app: ASGIApp,
        keys: Keys,
        names: HostNames,
        *,
        unsigned_payload: Callable[[str, str], bool] = lambda _m, _p: False,
        clock: Callable[[], float] = time.time,
        nonces: NonceCache | None = None,
        clock_skew: float = 1.0,
    ) -> None:
        self.app = app
        self.keys = keys
        self.names = names
        self.unsigned_payload = unsigned_payload
        self.clock = clock
        self.nonces = nonces if nonces is not None else NonceCache()
        # Built before the daemon listens: nothing signed earlier was meant for this process.
        self.not_before = clock() - clock_skew

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        host = headers.get("host", "")
        if is_signed(headers):
            try:
                signed = self._verify(scope, headers, host)
            except SignatureError as exc:
                await _refuse(AuthenticationError(str(exc)), scope, receive, send)
                return
            scope[PRINCIPAL] = CLUSTER
            if signed.content != UNSIGNED:
                receive = _checked_body(receive, signed.content)
            # From here on every answer is signed, a refusal of the Host included, so a
            # peer that named this daemon wrongly is told so rather than taken for an impostor.
            send = _signed_answers(send, self.keys, signed.nonce)
        elif _has_body(headers):
            if not scope["path"].startswith("/webhdfs/"):
                # Refused before a byte of it is read: only WebHDFS takes a body from a caller
                # that is not signed (with a delegation token, checked before the body is).
                unsigned = AuthenticationError("a request with a body must be signed")
                await _refuse(unsigned, scope, receive, _closing(send, 0))
                return
            send = _closing(send, 400)  # a refusal: the unread body is not waited for
        if not self.names.allows(host, signed=PRINCIPAL in scope):
            err = IllegalArgumentError(
                f"this daemon does not answer to the host {host[:100]!r} "
                "(a name of its own? add it to MINIHADOOP_ALLOWED_HOSTS there)"
            )
            await _refuse(err, scope, receive, send)
            return
        if PRINCIPAL not in scope:
            await self.app(scope, receive, send)
            return
        # Starlette answers an unexpected exception outside every middleware, this one too:
        # that 500 would go unsigned, and its caller would take it for an impostor's.
        started = False

        async def tracking(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking)
        except Exception as exc:
            if started:
                raise
            await unexpected_response(exc)(scope, receive, send)

    def _verify(self, scope: Scope, headers: Headers, host: str) -> SignedRequest:
        signed = verify_request(
            self.keys,
            scope["method"],
            host,
            scope.get("raw_path", b"").decode("latin-1") or scope["path"],
            scope.get("query_string", b"").decode("latin-1"),
            headers,
            self.clock(),
            self.nonces,
            self.not_before,
        )
        if signed.content == UNSIGNED and not self.unsigned_payload(scope["method"], scope["path"]):
            raise SignatureError("this route needs the request's body digest signed")
        return signed


def _has_body(headers: Headers) -> bool:
    return headers.get("content-length", "0") not in ("0", "") or "transfer-encoding" in headers


def _closing(send: Send, from_status: int) -> Send:
    """`send`, closing the connection after an answer of `from_status` or above."""

    async def closing(message: Message) -> None:
        if message["type"] == "http.response.start" and message["status"] >= from_status:
            MutableHeaders(scope=message)["connection"] = "close"
        await send(message)

    return closing


async def _refuse(err: MiniHadoopError, scope: Scope, receive: Receive, send: Send) -> None:
    await JSONResponse(err.to_remote(), status_code=err.status)(scope, receive, send)


def _checked_body(receive: Receive, expected: str) -> Receive:
    """`receive`, hashing the body as it passes; the last chunk is handed over only if the
    whole body matches its signed digest."""
    hasher = hashlib.sha256()

    async def checked() -> Message:
        message = await receive()
        if message["type"] == "http.request":
            hasher.update(message.get("body", b""))
            if not message.get("more_body", False) and not hmac.compare_digest(
                hasher.hexdigest(), expected
            ):
                # Raised as an HTTPException: FastAPI turns anything else met while reading a
                # body into a 400 "error parsing the body" (see server.install_error_handlers).
                raise StarletteHTTPException(
                    401, "the request's body does not match its signed digest"
                )
        return message

    return checked


def _signed_answers(send: Send, keys: Keys, nonce: str) -> Send:
    """`send`, signing the answer for the request `nonce`. An answer whose body comes in one
    piece (JSON, errors, a payload) is signed with its digest; a streamed one (block data,
    map output, which carry their own checksums or seal) as UNSIGNED-PAYLOAD, and is never
    held back: the caller can tell them apart before reading, and streams the latter."""
    start: Message | None = None

    async def signing(message: Message) -> None:
        nonlocal start
        if message["type"] == "http.response.start":
            start = message
            return
        if start is not None and message["type"] == "http.response.body":
            whole = not message.get("more_body", False)
            content = digest(message.get("body", b"")) if whole else UNSIGNED
            headers = MutableHeaders(scope=start)
            headers[CONTENT] = content
            headers[SIGNATURE] = sign_response(
                keys, nonce, start["status"], headers.get("location", ""), content
            )
            await send(start)
            start = None
        await send(message)

    return signing


def install_guard(
    app: Any,
    settings: Settings,
    names: HostNames,
    *,
    unsigned_payload: Callable[[str, str], bool] = lambda _m, _p: False,
) -> None:
    """Put the guard in front of `app` (a FastAPI app): call after every other middleware,
    so it is the outermost."""
    app.add_middleware(
        RequestGuard,
        keys=Keys.derive(settings.token),
        names=names,
        unsigned_payload=unsigned_payload,
        clock_skew=settings.max_clock_skew,
    )


# --- who may call a route ----------------------------------------------------------------


async def cluster_only(request: Request) -> None:
    """Daemon-to-daemon and native-client routes: a request signed with the cluster key."""
    if principal_of(request) is not CLUSTER:
        raise AuthenticationError("this call must be signed with the cluster token")


def read_access(policy: str) -> Callable[[Request], Awaitable[None]]:
    """Native read routes: anyone under the "open" read policy, else the cluster only."""

    async def reader(request: Request) -> None:
        if policy != "open":
            await cluster_only(request)

    return reader


# Checks a delegation token's text for the op and path it is used for; the namenode asks its
# token store, a datanode the namenode.
DelegationCheck = Callable[[str, str, str], Awaitable[DelegationToken]]


class WebAuth:
    """The WebHDFS routes' dependencies: `user` for writes, `reader` for reads; `reader_now`
    is `reader` for a caller that may not await (the namenode's fast lane), with `check_now`
    the check without awaiting."""

    def __init__(
        self,
        check: DelegationCheck,
        read_policy: str,
        check_now: Callable[[str, str, str], DelegationToken] | None = None,
    ) -> None:
        self.check = check
        self.read_policy = read_policy
        self.check_now = check_now

    async def user(self, request: Request) -> None:
        if principal_of(request) is CLUSTER:
            return
        text, op, path = _presented(request)
        _admit(request, text, op, path, await self.check(text, op, path))

    async def reader(self, request: Request) -> None:
        if not self._open(request):
            await self.user(request)

    def reader_now(self, request: Request) -> None:
        if self._open(request) or principal_of(request) is CLUSTER:
            return
        if self.check_now is None:
            raise TypeError("reader_now needs WebAuth(check_now=...)")
        text, op, path = _presented(request)
        _admit(request, text, op, path, self.check_now(text, op, path))

    def _open(self, request: Request) -> bool:
        return self.read_policy == "open" and "delegation" not in request.query_params


def _presented(request: Request) -> tuple[str, str, str]:
    """The delegation token a request presents, and the op and path it is presented for."""
    text = request.query_params.get("delegation")
    if not text:
        raise AuthenticationError(
            "a request signed with the cluster token or a delegation token is required"
        )
    op = request.query_params.get("op", "")
    path = paths.normalize("/" + request.path_params.get("path", "").lstrip("/"))
    return text, op, path


def _admit(request: Request, text: str, op: str, path: str, token: DelegationToken) -> None:
    """The request acts as `token`'s user from here on, if the token permits `op` on `path`."""
    if not token.permits(op, path):
        raise AuthenticationError(f"the delegation token does not permit {op} on {path}")
    request.scope[PRINCIPAL] = Principal(cluster=False, token=token, token_text=text)
