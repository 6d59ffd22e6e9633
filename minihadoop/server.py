"""What every daemon's HTTP app shares: auth, error mapping, body limits, serving.

Errors: any `MiniHadoopError` becomes its status and WebHDFS's RemoteException body; a
request that fails validation becomes 400 IllegalArgumentException naming the bad field; an
unexpected exception becomes 500 RuntimeException (and is logged), never a crashed daemon. A
client that hangs up in the middle of its body is a 400, not a logged 500. JSON endpoints
refuse a body over their limit with 413, declared or chunked.

Auth is `minihadoop.guard`'s: signed requests and answers, delegation tokens, the Host check.
"""

from __future__ import annotations

import inspect
import logging
import socket
import ssl
from collections.abc import Callable
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from minihadoop import heap, paths
from minihadoop.config import Settings
from minihadoop.errors import (
    AuthenticationError,
    IllegalArgumentError,
    MiniHadoopError,
    UnsupportedOperationError,
)
from minihadoop.httpguard import ConnectionLimits, FastLane, Repeats, guarded_protocol

log = logging.getLogger("minihadoop")


def _no_telemetry() -> dict[str, Any]:
    """FastAPI's arguments that turn its native OpenTelemetry off, where it has one (0.165
    and later): it asks the global OpenTelemetry providers whether they are set up on every
    request (~12 us, more than a stat's own work), and minihadoop exports Prometheus
    metrics, not traces."""
    if "telemetry" not in inspect.signature(FastAPI.__init__).parameters:
        return {}
    return {"telemetry": {"tracing": False, "metrics": False, "logs": False}}


NO_TELEMETRY = _no_telemetry()


def daemon_app(title: str, lifespan: Callable[[FastAPI], Any]) -> FastAPI:
    """A daemon's FastAPI app, its routes to come, with FastAPI's telemetry off."""
    return FastAPI(title=title, version="0.1.0", lifespan=lifespan, **NO_TELEMETRY)


def error_response(exc: MiniHadoopError) -> JSONResponse:
    return JSONResponse(exc.to_remote(), status_code=exc.status)


def json_response(content: Any) -> Response:
    """`content` as a JSON answer, encoded once: a Response is passed through, a pydantic
    model dumped by its own serializer, plain data (dicts, lists, str, int, bool, None) by
    json.dumps.

    Hot handlers return this instead of the data itself: FastAPI would first walk plain data
    through `jsonable_encoder` (tens of microseconds for one WebHDFS FileStatus, so
    milliseconds for a listing) or validate a returned model again against the response
    model. Routes keep declaring `response_model` for their OpenAPI schema.
    """
    if isinstance(content, Response):
        return content
    if isinstance(content, BaseModel):
        return Response(content.model_dump_json(), media_type="application/json")
    return JSONResponse(content)


def install_error_handlers(app: FastAPI) -> None:
    # Every app that answers in WebHDFS's error shape also refuses undecodable URLs in it.
    app.add_middleware(_CheckedUrls)

    @app.exception_handler(MiniHadoopError)
    async def _known(_req: Request, exc: MiniHadoopError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_req: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        # A body that is not JSON leaves a cycle: the error, its cause, their tracebacks,
        # FastAPI's frame holding the body (as bytes and as str), the error. Broken here,
        # the body goes with the answer, not at the next collection.
        exc.body = None
        for e in (exc, exc.__cause__, exc.__context__):
            if e is not None:
                e.__traceback__ = None
        return error_response(IllegalArgumentError(f"invalid {where}: {first.get('msg', exc)}"))

    @app.exception_handler(ClientDisconnect)
    async def _gone(_req: Request, _exc: ClientDisconnect) -> JSONResponse:
        # The client left mid-body (a truncated upload): bad input, not a server error.
        # Nobody reads this answer; handling it here keeps it out of the 500 path and its log.
        return error_response(IllegalArgumentError("the client closed the request early"))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_req: Request, exc: StarletteHTTPException) -> JSONResponse:
        err: MiniHadoopError
        if exc.status_code == 404:
            err = UnsupportedOperationError(f"no such endpoint ({exc.detail})")
            return JSONResponse(err.to_remote(), status_code=404)
        if exc.status_code == 405:
            err = UnsupportedOperationError(f"method not allowed ({exc.detail})")
            return JSONResponse(err.to_remote(), status_code=405)
        if exc.status_code == 401:
            err = AuthenticationError(str(exc.detail))
        else:
            err = IllegalArgumentError(str(exc.detail))
        return JSONResponse(err.to_remote(), status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def _unexpected(_req: Request, exc: Exception) -> JSONResponse:
        return unexpected_response(exc)


def unexpected_response(exc: BaseException) -> JSONResponse:
    """A 500 RuntimeException for an exception nobody expected, logged here."""
    log.error("unexpected error", exc_info=exc)
    # An OSError's text names the file: a path on this server, which is nobody's business
    # outside it (the log has it).
    detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    body = {
        "RemoteException": {
            "exception": "RuntimeException",
            "javaClassName": "java.lang.RuntimeException",
            "message": f"{type(exc).__name__}: {detail}",
        }
    }
    return JSONResponse(body, status_code=500)


class _CheckedUrls:
    """Refuses (400) a request whose URL breaks `paths.check_url`, before any route sees
    it: the server would otherwise decode bad bytes to U+FFFD and act on another name."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            raw = scope.get("raw_path") or scope["path"].encode()
            try:
                paths.check_url(raw, scope.get("query_string", b""))
            except MiniHadoopError as exc:
                await error_response(exc)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def limit_body_size(app: FastAPI, max_bytes: int, *, exempt: Callable[[str], bool]) -> None:
    """Refuse bodies larger than `max_bytes` (413) on paths not `exempt`: at once when the
    declared Content-Length says so, and as soon as a chunked body has gone past it, so an
    undeclared body is never buffered whole."""
    app.add_middleware(_BodyLimit, max_bytes=max_bytes, exempt=exempt)


class _BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int, exempt: Callable[[str], bool]) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.exempt = exempt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.exempt(scope["path"]):
            await self.app(scope, receive, send)
            return
        message = f"request body larger than {self.max_bytes} bytes"
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            err = IllegalArgumentError(message)
            await JSONResponse(err.to_remote(), status_code=413)(scope, receive, send)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            msg = await receive()
            if msg["type"] == "http.request":
                received += len(msg.get("body", b""))
                if received > self.max_bytes:
                    # FastAPI re-raises an HTTPException met while reading the body, so this
                    # reaches `install_error_handlers`' `_http`: a 413 RemoteException.
                    raise StarletteHTTPException(413, message)
            return msg

        await self.app(scope, limited, send)


def bind_socket(host: str, port: int) -> socket.socket:
    """Bind before serving, so port 0 gives a free port we can advertise."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def serve(
    app: Any,
    sock: socket.socket,
    settings: Settings,
    *,
    service_sock: socket.socket | None = None,
    log_level: str = "warning",
    lane: FastLane | None = None,
) -> None:
    """Run `app` on an already-bound socket (and `service_sock`, a second port with
    connection caps of its own) until SIGINT/SIGTERM; HTTPS when the settings name a
    certificate and its key (`tls_cert`, `tls_key`). Slow and greedy clients are bounded by
    the settings' connection limits (minihadoop.httpguard), which replace uvicorn's
    `limit_concurrency`: that counted half-open connections from anyone, and answered
    everyone 503 when they won. `lane` answers the app's hottest read below ASGI
    (`minihadoop.httpguard.FastLane`)."""
    if settings.tls:
        check_tls_files(settings.tls_cert, settings.tls_key)
    config = uvicorn.Config(
        app,
        http=guarded_protocol(ConnectionLimits.of(settings), lane),
        # uvicorn believes X-Forwarded-For/-Proto from 127.0.0.1 by default: any local user
        # could then say who a caller is. Daemons take the peer's address from the socket.
        proxy_headers=False,
        log_level=log_level,
        access_log=False,
        timeout_graceful_shutdown=5,
        ssl_certfile=settings.tls_cert or None,
        ssl_keyfile=settings.tls_key or None,
    )
    _quiet_about_bad_requests()  # after uvicorn's logging set-up
    heap.settle()  # the app and what it holds are built: out of the collector's way
    socks = [sock] if service_sock is None else [sock, service_sock]
    uvicorn.Server(config).run(sockets=socks)


# uvicorn logs these once per request, and the requests are anybody's to send (500
# malformed requests were 500 log lines).
REPEATED_BY_REQUESTS = frozenset({"Invalid HTTP request received.", "Unsupported upgrade request."})


def _quiet_about_bad_requests() -> None:
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, Repeats) for f in logger.filters):
        logger.addFilter(Repeats(REPEATED_BY_REQUESTS))


def check_tls_files(certfile: str, keyfile: str) -> None:
    """Load the certificate and key as the server will, so a missing file or a key that is
    not the certificate's stops the daemon with both paths named (uvicorn would say only
    "No such file or directory")."""
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(certfile, keyfile)
    except (OSError, ssl.SSLError) as exc:
        raise IllegalArgumentError(
            f"cannot serve TLS with the certificate {certfile} and the key {keyfile}: "
            f"{exc.strerror or exc}"
        ) from None


def url_for(host: str, port: int, *, tls: bool = False) -> str:
    """The URL a daemon advertises: https when it serves TLS, so every peer and client that
    learns it (registrations, redirects, shuffle locations) speaks TLS to it."""
    shown = f"[{host}]" if ":" in host else host
    return f"{'https' if tls else 'http'}://{shown}:{port}"


# --- WebHDFS query parameters (namenode and datanode) ---------------------------------------


def flag(value: str | None, default: bool = False) -> bool:
    """A WebHDFS boolean query parameter: true/false/1/0, any case; empty is `default`."""
    if value is None or value == "":
        return default
    if value.lower() in ("true", "1"):
        return True
    if value.lower() in ("false", "0"):
        return False
    raise IllegalArgumentError(f"expected true or false, got {value!r}")


def integer(value: str | None, name: str) -> int | None:
    """A WebHDFS integer query parameter (a Java long); empty is None."""
    if value is None or value == "":
        return None
    try:
        number = int(value)
    except ValueError:
        raise IllegalArgumentError(f"{name} must be an integer, got {value!r}") from None
    if not -(1 << 63) <= number < 1 << 63:  # a Java long, as Hadoop's LongParam
        raise IllegalArgumentError(f"{name} is out of range: {value[:40]}")
    return number
