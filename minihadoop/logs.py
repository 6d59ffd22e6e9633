"""Daemon logs: plain lines for a terminal, or one JSON object a line for a log store.

`MINIHADOOP_LOG_FORMAT=json` makes every record — the daemon's own, uvicorn's, a task
launcher's — a JSON object on one line with ``time`` (ISO 8601, UTC), ``level``,
``daemon``, ``logger`` and ``message``, and when known ``request_id`` (the request being
served: its ``X-Request-Id`` header, else one made up and sent back in the answer's),
``job_id`` (the MapReduce job being worked on) and ``exception`` (the traceback). A message
is never split over lines, so a shipper reading line by line gets whole records.
`MINIHADOOP_LOG_LEVEL` (WARNING) picks what is logged.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import random
import secrets
import sys
import time
from collections.abc import Iterator
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
JOB_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("job_id", default=None)
HEADER = "x-request-id"
HEADER_BYTES = HEADER.encode()
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"  # Hadoop's order


class JsonFormatter(logging.Formatter):
    def __init__(self, daemon: str) -> None:
        super().__init__()
        self.daemon = daemon

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        entry: dict[str, Any] = {
            "time": f"{stamp}.{int(record.msecs):03d}Z",
            "level": record.levelname,
            "daemon": self.daemon,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, var in (("request_id", REQUEST_ID), ("job_id", JOB_ID)):
            value = getattr(record, key, None) or var.get()
            if value:
                entry[key] = value
        if "job_id" not in entry and _about_a_job(record):
            entry["job_id"] = str(record.args[0])  # type: ignore[index]
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def _about_a_job(record: logging.LogRecord) -> bool:
    """The job tracker's records about one job start ``job %s`` with its id."""
    return (
        isinstance(record.msg, str)
        and record.msg.startswith("job %s")
        and isinstance(record.args, tuple)
        and bool(record.args)
    )


def setup(daemon: str, fmt: str = "text", level: str = "WARNING") -> None:
    """Send every logger's records to stderr in `fmt` (text or json), from `level` up."""
    handler = logging.StreamHandler(sys.stderr)
    formatter = JsonFormatter(daemon) if fmt == "json" else logging.Formatter(TEXT_FORMAT)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error"):  # uvicorn's own handlers would print plain text
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True


@contextlib.contextmanager
def job(job_id: str) -> Iterator[None]:
    """Log what runs inside as work on `job_id`."""
    reset = JOB_ID.set(job_id)
    try:
        yield
    finally:
        JOB_ID.reset(reset)


def request_id_of(scope: Scope) -> str:
    """The id a request is logged under: the caller's ``X-Request-Id`` when it is sensible
    (1-64 letters, digits, ``-`` and ``_``), else a new one."""
    return request_id(dict(scope.get("headers") or []).get(HEADER_BYTES, b""))


def request_id(header: bytes) -> str:
    """`request_id_of` given the header's value (empty when there is none)."""
    given = header.decode("latin-1")
    bare = given.replace("-", "").replace("_", "")
    ok = 0 < len(given) <= 64 and bare.isascii() and bare.isalnum()
    return given if ok else f"{_ids.getrandbits(64):016x}"


# Request ids only tell log records apart (a caller may send its own): no secret, so no
# system call per request (`secrets.token_hex` cost ~6 us).
_ids = random.Random(secrets.randbits(128))


def tagged(send: Send, request_id: str) -> Send:
    """`send`, with `request_id` added to the answer's headers."""
    tag = (HEADER_BYTES, request_id.encode())

    async def tagging(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), tag]}
        await send(message)

    return tagging


class RequestIds:
    """Gives each request an id for its log records: the caller's ``X-Request-Id`` when it
    sends a sensible one, else a new one; either is sent back in the answer's."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_of(scope)
        reset = REQUEST_ID.set(request_id)
        try:
            await self.app(scope, receive, tagged(send, request_id))
        finally:
            REQUEST_ID.reset(reset)
