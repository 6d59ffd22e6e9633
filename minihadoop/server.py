"""What every daemon's HTTP app shares: auth, error mapping, body limits, serving.

Errors: any `MiniHadoopError` becomes its status and WebHDFS's RemoteException body; a
request that fails validation becomes 400 IllegalArgumentException naming the bad field; an
unexpected exception becomes 500 RuntimeException (and is logged), never a crashed daemon.

Auth: mutating and internal endpoints depend on `require_token`, which accepts the cluster
token as ``Authorization: Bearer <token>`` or as WebHDFS's ``delegation`` parameter, compared
in constant time. Reads depend on `read_access`, which asks for the token only when the
cluster's read policy is "token".
"""

from __future__ import annotations

import hmac
import logging
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from minihadoop.errors import (
    AuthenticationError,
    IllegalArgumentError,
    MiniHadoopError,
    UnsupportedOperationError,
)

log = logging.getLogger("minihadoop")

TOKEN_HEADER = "authorization"


def error_response(exc: MiniHadoopError) -> JSONResponse:
    return JSONResponse(exc.to_remote(), status_code=exc.status)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(MiniHadoopError)
    async def _known(_req: Request, exc: MiniHadoopError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_req: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return error_response(IllegalArgumentError(f"invalid {where}: {first.get('msg', exc)}"))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_req: Request, exc: StarletteHTTPException) -> JSONResponse:
        err: MiniHadoopError
        if exc.status_code == 404:
            err = UnsupportedOperationError(f"no such endpoint ({exc.detail})")
            return JSONResponse(err.to_remote(), status_code=404)
        if exc.status_code == 405:
            err = UnsupportedOperationError(f"method not allowed ({exc.detail})")
            return JSONResponse(err.to_remote(), status_code=405)
        err = IllegalArgumentError(str(exc.detail))
        return JSONResponse(err.to_remote(), status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def _unexpected(_req: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error")
        body = {
            "RemoteException": {
                "exception": "RuntimeException",
                "javaClassName": "java.lang.RuntimeException",
                "message": f"{type(exc).__name__}: {exc}",
            }
        }
        return JSONResponse(body, status_code=500)


def limit_body_size(app: FastAPI, max_bytes: int, *, exempt: Callable[[str], bool]) -> None:
    """Refuse bodies declared larger than `max_bytes` (413) on paths not `exempt`."""

    @app.middleware("http")
    async def _limit(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        declared = request.headers.get("content-length")
        if declared is not None and not exempt(request.url.path):
            try:
                too_big = int(declared) > max_bytes
            except ValueError:
                too_big = True
            if too_big:
                err = IllegalArgumentError(f"request body larger than {max_bytes} bytes")
                return JSONResponse(err.to_remote(), status_code=413)
        return await call_next(request)


def presented_token(request: Request) -> str | None:
    header = request.headers.get(TOKEN_HEADER, "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.query_params.get("delegation")


def check_token(expected: str, presented: str | None) -> None:
    if not presented or not hmac.compare_digest(presented.encode(), expected.encode()):
        raise AuthenticationError("a valid cluster token is required")


def token_dependency(expected: str) -> Callable[[Request], None]:
    def require_token(request: Request) -> None:
        check_token(expected, presented_token(request))

    return require_token


def read_dependency(expected: str, policy: str) -> Callable[[Request], None]:
    def read_access(request: Request) -> None:
        if policy == "token":
            check_token(expected, presented_token(request))

    return read_access


def bind_socket(host: str, port: int) -> socket.socket:
    """Bind before serving, so port 0 gives a free port we can advertise."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def serve(app: Any, sock: socket.socket, *, log_level: str = "warning") -> None:
    """Run `app` on an already-bound socket until SIGINT/SIGTERM."""
    config = uvicorn.Config(
        app,
        log_level=log_level,
        access_log=False,
        timeout_graceful_shutdown=5,
        limit_concurrency=2000,
    )
    uvicorn.Server(config).run(sockets=[sock])


def url_for(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"
