"""Bounds on what a client can hold of a daemon's HTTP server: time and connections.

uvicorn times out idle keep-alive connections, but not a client that opens a connection
and sends its headers, or its body, a byte at a time (slowloris), and its only cap,
`limit_concurrency`, counts those half-open connections too: ~2,000 of them made every
request answer 503, heartbeats included. So every daemon serves through
`guarded_protocol(limits)`, uvicorn's httptools protocol with:

* a header deadline: a request's headers must arrive within `header_timeout` of its first
  byte (of the connection, for the first request), or the connection is closed;
* a body idle limit: a body that sends nothing for `body_timeout` (while the server is
  reading it, not when it has paused reading) is cut off, which the app sees as a client
  disconnect (400);
* a size cap on a request's headers: `MAX_HEAD` bytes of request line and header fields
  (Hadoop's ``hadoop.http.max.request.header.size``), and `MAX_HEAD_BUFFERED` bytes of
  anything received before the headers end (one endless header line); over either, the
  request is answered 400 and the connection closed, so nobody holds memory with headers;
* small writes of one turn of the event loop sent together (`CorkedTransport`);
* an optional fast lane (`FastLane`): a daemon's hottest read answered from the parsed
  request line and headers, without an ASGI request (see `FastLane`);
* caps per listening socket: at most `max_connections` open connections, and at most
  `max_per_client` from one client address; a connection over a cap is closed at once.
  Counted per listening socket, so the namenode's service port (datanodes only) is never
  full because its client port is.

`ConnectionCounter` is the pure accounting; the protocol class is the thin adapter.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, cast

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from minihadoop.config import Settings

log = logging.getLogger("minihadoop")

MAX_HEAD = 64 << 10
MAX_HEAD_BUFFERED = 1 << 20
CORK_LIMIT = 64 << 10  # bytes a connection may hold back to send with its next write
LOG_EVERY = 60.0  # seconds between log lines about one address's refused connections, or
# of one message that requests can repeat (`Repeats`)
Listener = int  # the local port a connection came in on
Peer = str  # the client's address


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    header_timeout: float = 10.0
    body_timeout: float = 60.0
    max_connections: int = 2000
    max_per_client: int = 256

    @staticmethod
    def of(settings: Settings) -> ConnectionLimits:
        return ConnectionLimits(
            header_timeout=settings.http_header_timeout,
            body_timeout=settings.http_body_timeout,
            max_connections=settings.http_max_connections,
            max_per_client=settings.http_max_connections_per_client,
        )


class ConnectionCounter:
    """Open connections per listener and per (listener, client address)."""

    def __init__(self, limits: ConnectionLimits) -> None:
        self.limits = limits
        self._total: Counter[Listener] = Counter()
        self._per_client: Counter[tuple[Listener, Peer]] = Counter()
        self._logged: dict[tuple[Listener, Peer], float] = {}

    def admit(self, listener: Listener, peer: Peer) -> bool:
        """Count a new connection in; False (and nothing counted) when it is over a cap."""
        if self._total[listener] >= self.limits.max_connections:
            return False
        if self._per_client[listener, peer] >= self.limits.max_per_client:
            return False
        self._total[listener] += 1
        self._per_client[listener, peer] += 1
        return True

    def should_log(self, listener: Listener, peer: Peer, now: float) -> bool:
        """Whether to log a refusal now: once per address and port a minute, so a flood
        of refused connections is not also a flood of log lines."""
        key = (listener, peer)
        if now - self._logged.get(key, -LOG_EVERY) < LOG_EVERY:
            return False
        if len(self._logged) > 10_000:  # many addresses: start over rather than grow
            self._logged.clear()
        self._logged[key] = now
        return True

    def release(self, listener: Listener, peer: Peer) -> None:
        self._total[listener] -= 1
        self._per_client[listener, peer] -= 1
        if not self._per_client[listener, peer]:
            del self._per_client[listener, peer]  # forget addresses gone, or this only grows

    def open(self, listener: Listener, peer: Peer | None = None) -> int:
        if peer is None:
            return self._total[listener]
        return self._per_client[listener, peer]


class Repeats(logging.Filter):
    """Lets each of `messages` (a log call's format string, before its arguments) through
    once every `LOG_EVERY` seconds: for what a stream of requests could log once each."""

    def __init__(self, messages: frozenset[str]) -> None:
        super().__init__()
        self.messages = messages
        self.last: dict[str, float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg not in self.messages:
            return True
        now = time.monotonic()
        if now - self.last.get(record.msg, -LOG_EVERY) < LOG_EVERY:
            return False
        self.last[record.msg] = now
        return True


LANE_FAILED = "the fast lane failed on %r; the app answers it"
lane_log = logging.getLogger("minihadoop.fastlane")
lane_log.addFilter(Repeats(frozenset({LANE_FAILED})))


class CorkedTransport:
    """A connection's transport whose small writes in one turn of the event loop leave as
    one: uvicorn writes an answer's head and its body apart, two system calls and two TCP
    segments (the client woken twice) where one does. Under wrk that was a tenth of a
    small answer's CPU (bench/namenode_http.py).

    What must hold: bytes leave in the order written, and nothing is held long or much.
    Held bytes are sent at the end of the turn (`call_soon`), before any write that would
    take them past `CORK_LIMIT` (which is itself written through at once, so a streamed
    answer and uvicorn's flow control see its writes as before), and before `close`."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: list[bytes] = []
        self._size = 0

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._size + len(data) > CORK_LIMIT:
            self.flush()
            self._transport.write(data)
            return
        if not self._held:
            self._loop.call_soon(self.flush)
        self._held.append(bytes(data))
        self._size += len(data)

    def flush(self) -> None:
        if not self._held:
            return
        data = b"".join(self._held)
        self._held.clear()
        self._size = 0
        if not self._transport.is_closing():  # lost meanwhile: as a write to it would be
            self._transport.write(data)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


Headers = list[tuple[bytes, bytes]]  # as uvicorn parsed them: names lower-case


class FastLane(Protocol):
    """A read answered below ASGI. Through uvicorn and an ASGI app a request costs a scope,
    a task, the app's middlewares and its router; a bare ASGI endpoint alone costs ~26 us
    of CPU here, more than a namenode's stat. A lane is offered a GET whose URL starts with
    its `prefix`, on a connection with nothing else in flight and not paused for writing,
    in HTTP/1.1, with no body, no ``Expect`` and no upgrade, and gives either the body and
    headers of a 200 answer, or None: the request then goes to the app exactly as if there
    were no lane. (A client that sends without reading therefore meets the app's flow
    control, which stops reading its requests, after one buffer of answers.)

    What a lane must hold to: it answers only what the app would answer the same way
    (the same checks, in the same order, the same bytes), answers successes only (a refusal
    is the app's to make), and changes nothing (so handing over is always safe). Everything
    the app does around a request that a caller could see (the Host check, the request id,
    metrics) is the lane's to do too. An exception in a lane is logged (once a minute) and
    the request handed over."""

    prefix: bytes

    def answer(self, url: bytes, headers: Headers) -> tuple[Headers, bytes] | None: ...


class GuardedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with header/body deadlines, connection caps and an
    optional fast lane."""

    counter: ClassVar[ConnectionCounter]
    lane: ClassVar[FastLane | None] = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._slot: tuple[Listener, Peer] | None = None
        self._deadline: asyncio.TimerHandle | None = None
        self._awaiting_body = False
        self._body_seen = 0.0  # loop time of the body's last bytes
        self._head = 0  # bytes of this request's line and headers, parsed
        self._head_raw = 0  # bytes received since this request's headers began
        self._head_too_large = False
        self._answered = False  # the fast lane answered this request

    # --- connection ------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        sockname = transport.get_extra_info("sockname")
        peername = transport.get_extra_info("peername")
        listener = sockname[1] if isinstance(sockname, tuple) else 0
        peer = str(peername[0]) if isinstance(peername, tuple) else ""
        if not self.counter.admit(listener, peer):
            if self.counter.should_log(listener, peer, time.monotonic()):
                log.warning(
                    "refusing connections from %s on port %s: too many open", peer, listener
                )
            transport.abort()
            return
        self._slot = (listener, peer)
        super().connection_made(cast(asyncio.Transport, CorkedTransport(transport, self.loop)))
        self._arm(self.counter.limits.header_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._slot is None:
            return  # refused in connection_made: uvicorn never saw it
        self.counter.release(*self._slot)
        self._slot = None
        self._disarm()
        super().connection_lost(exc)

    # --- deadlines -------------------------------------------------------------------------

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        if self._awaiting_body:
            # Body bytes only note the time (a block upload brings thousands of pieces);
            # the timer, when it fires, measures the silence since the last of them.
            silent = self.loop.time() - self._body_seen
            if silent < self.counter.limits.body_timeout:
                self._arm(self.counter.limits.body_timeout - silent)
                return
            if self._server_holds_the_body():
                self._arm(self.counter.limits.body_timeout)
                return
        if not self.transport.is_closing():
            self.transport.close()

    def _server_holds_the_body(self) -> bool:
        """The silence is ours, not the client's: reading is paused because the app is
        behind, or the client waits for the "100 Continue" the app has not asked for yet."""
        paused = self.flow is not None and self.flow.read_paused
        return paused or (self.cycle is not None and self.cycle.waiting_for_100_continue)

    def _between_requests(self) -> bool:
        return self.cycle is None or self.cycle.response_complete

    def shutdown(self) -> None:
        """The server is stopping. An idle TLS connection is dropped at once: closing it
        sends close_notify and then waits for the client's, which a client keeping the
        connection idle in its pool does not send until it next uses it — so the server's
        graceful shutdown waited out its whole 5 s for it (a TLS datanode holding a peer's
        pipeline connection took 5 s to stop). The same for one already closing (its idle
        deadline passed) that still waits for that goodbye. Only with nothing left to send:
        a connection still answering, or with bytes of its last answer buffered, is closed
        as before."""
        idle = self._between_requests() and self.transport.get_extra_info("sslcontext")
        if idle and isinstance(self.transport, CorkedTransport):
            self.transport.flush()
        if idle and not self.transport.get_write_buffer_size():
            self.transport.abort()
            return
        super().shutdown()

    def data_received(self, data: bytes) -> None:
        if self._deadline is None and self._between_requests():
            self._arm(self.counter.limits.header_timeout)  # a new request's first bytes
        if not self._awaiting_body:
            self._head_raw += len(data)
            if self._head_raw > MAX_HEAD_BUFFERED + MAX_HEAD:
                self._head_too_large = True
                self.send_400_response(_HEAD_MESSAGE)
                return
        super().data_received(data)

    # --- the size of a request's headers -----------------------------------------------------

    def _count_head(self, size: int) -> None:
        self._head += size
        if self._head > MAX_HEAD:
            self._head_too_large = True
            # httptools turns this into HttpParserError: uvicorn answers 400 and closes.
            raise ValueError(_HEAD_MESSAGE)

    def on_url(self, url: bytes) -> None:
        self._count_head(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count_head(len(name) + len(value) + 4)
        super().on_header(name, value)

    def send_400_response(self, msg: str) -> None:
        super().send_400_response(_HEAD_MESSAGE if self._head_too_large else msg)

    def on_headers_complete(self) -> None:
        self._head = self._head_raw = 0
        if self.lane is not None and self.url.startswith(self.lane.prefix) and self._fast():
            self._disarm()  # answered; no body to wait for
            return
        self._awaiting_body = True
        self._body_seen = self.loop.time()
        self._arm(self.counter.limits.body_timeout)
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        self._body_seen = self.loop.time()
        super().on_body(body)

    def on_message_complete(self) -> None:
        self._awaiting_body = False
        self._disarm()
        if self._answered:
            self._answered = False
            self.on_response_complete()  # as a cycle's end: keep-alive timer, next request
            return
        super().on_message_complete()

    # --- the fast lane -----------------------------------------------------------------------

    def _fast(self) -> bool:
        """Whether the lane answered this request (then it is written, and nothing of it
        reaches the app)."""
        parser = self.parser
        if (
            parser.get_method() != b"GET"
            or parser.get_http_version() != "1.1"
            or parser.should_upgrade()
            or self.expect_100_continue
            or self.root_path
            or not self._between_requests()  # pipelined behind an answer still coming
            or self.flow.write_paused  # a client not reading: the app's path waits for it
        ):
            return False
        for name, value in self.headers:
            if name == b"transfer-encoding" or (name == b"content-length" and value != b"0"):
                return False  # a body: the app's to read
        assert self.lane is not None
        try:
            answer = self.lane.answer(self.url, self.headers)
        except Exception:
            lane_log.exception(LANE_FAILED, self.url[:200])
            return False
        if answer is None:
            return False
        headers, body = answer
        content = [STATUS_LINE[200]]
        for name, value in [*self.server_state.default_headers, *headers]:
            content += [name, b": ", value, b"\r\n"]
        keep_alive = parser.should_keep_alive()
        if not keep_alive:
            content.append(b"connection: close\r\n")
        content += [b"content-length: %d\r\n\r\n" % len(body), body]
        self.transport.write(b"".join(content))
        if not keep_alive:
            self.transport.close()
        self._answered = True
        return True


_HEAD_MESSAGE = f"request headers larger than {MAX_HEAD} bytes"


def guarded_protocol(
    limits: ConnectionLimits, lane: FastLane | None = None
) -> type[GuardedProtocol]:
    """A protocol class for `uvicorn.Config(http=...)` with its own connection counts (one
    per server: the counts live as long as the server does) and `lane`, if any."""
    shared = {"counter": ConnectionCounter(limits), "lane": lane}
    return type("Guarded", (GuardedProtocol,), shared)
