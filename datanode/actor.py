"""One namenode of the group, as a datanode talks to it (HDFS's BPServiceActor).

Each actor registers with its namenode, sends it full block reports, heartbeats and
block-received/deleted reports (`IncrementalQueue`), each on its own schedule and with its
own HTTP client, retries and timeouts, as its own asyncio task. A namenode that is stopped,
partitioned or slow holds up nobody but its own actor: every call has a short deadline of
its own (`call_timeout`, a few heartbeat intervals) that covers the whole call, not each
read, so a namenode that answers a byte a second cannot hold one for ever either.

What an actor does with a reply: it obeys the `register` and `report` commands itself (they
concern its namenode alone) and hands the reply to the datanode (`on_reply`), which alone
decides, by `datanode.fence`, whether the data commands in it are carried out.

After an outage the actor registers again, sends what its queue holds, then a full block
report: the report's snapshot is taken after the queue was sent, so a change the queue
reported to a namenode that had forgotten this node is in the report too. A namenode that
answers that it is overloaded (503, 429) is no outage: the actor backs off
and tries again, still registered, rather than adding a registration and a full report to
the load. Its pauses are jittered (±10 %), so nodes do not heartbeat in waves.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from typing import Any, Protocol

import httpx

from datanode.fence import Verdict
from datanode.incremental import IncrementalQueue, report_of
from minihadoop.config import Settings
from minihadoop.models import (
    BlockReportRequest,
    HeartbeatRequest,
    HeartbeatResponse,
    RegisterRequest,
)
from minihadoop.rest import tls_verify
from minihadoop.signing import ClusterAuth

log = logging.getLogger("minihadoop.datanode")

OWN_COMMANDS = ("register", "report")  # obeyed by the actor whatever the fence says
MAX_BACKOFF = 4  # heartbeat intervals between attempts to reach a namenode that is away


class Datanode(Protocol):
    """What an actor needs of the datanode it reports for."""

    @property
    def id(self) -> str: ...

    def register_request(self) -> RegisterRequest: ...

    def heartbeat_request(self) -> HeartbeatRequest: ...

    def block_report_request(self) -> BlockReportRequest: ...

    async def on_reply(self, actor: NamenodeActor, reply: HeartbeatResponse) -> None:
        """Carry out the data commands of `reply`, if the fence allows."""


class NamenodeActor:
    def __init__(
        self,
        url: str,
        datanode: Datanode,
        settings: Settings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = url
        self.datanode = datanode
        self.settings = settings
        hb = settings.heartbeat_interval
        # Short enough that an unreachable namenode is noticed within a few beats; long
        # enough that a loaded namenode is not taken for a dead one at every pause.
        self.call_timeout = min(max(4 * hb, 2.0), 15.0)
        # A full report of a big store takes the namenode longer to digest.
        self.report_timeout = max(30.0, 10 * hb)
        self.client = httpx.AsyncClient(
            timeout=httpx.Timeout(self.call_timeout),
            limits=httpx.Limits(max_connections=8),
            auth=ClusterAuth(settings.token),
            verify=tls_verify(settings.tls_ca),
            transport=transport,
        )
        self.queue = IncrementalQueue()
        self.registered = False
        self.failures = 0  # calls failed in a row
        self.active: bool | None = None  # what its last reply said; None before one
        self.term: int | None = None
        self.verdict: Verdict | None = None  # the fence's verdict on its last reply
        self.last_contact: float | None = None  # wall time of its last good answer
        self._flushing = asyncio.Lock()  # one report in flight, so batches stay in order
        self._wake = asyncio.Event()
        self._rng = random.Random()

    # --- calls ------------------------------------------------------------------------------

    async def post(
        self, endpoint: str, body: Any, *, timeout: float | None = None
    ) -> httpx.Response:
        """POST to this namenode's internal API; raises httpx.HTTPError on any failure,
        a deadline passed among them."""
        payload = body.model_dump(mode="json") if hasattr(body, "model_dump") else body
        deadline = timeout or self.call_timeout
        try:
            async with asyncio.timeout(deadline):
                response = await self.client.post(
                    f"{self.url}/internal/v1/{endpoint}",
                    json=payload,
                    timeout=httpx.Timeout(deadline),
                )
        except TimeoutError:
            raise httpx.ReadTimeout(f"no answer from {self.url} within {deadline:.1f}s") from None
        response.raise_for_status()
        self.last_contact = time.time()
        return response

    async def register(self) -> None:
        await self.post("register", self.datanode.register_request())
        self.registered = True
        await self.flush()
        await self.block_report()

    async def block_report(self) -> None:
        report = self.datanode.block_report_request()
        response = await self.post("block_report", report, timeout=self.report_timeout)
        await self._handle(HeartbeatResponse.model_validate(response.json()))

    async def heartbeat(self) -> None:
        request = self.datanode.heartbeat_request()
        response = await self.post("heartbeat", request)
        await self._handle(HeartbeatResponse.model_validate(response.json()))

    async def _handle(self, reply: HeartbeatResponse) -> None:
        self.active, self.term = reply.active, reply.term
        await self.datanode.on_reply(self, reply)  # the data commands: fenced there
        for command in reply.commands:
            match command.kind:
                case "register":
                    await self.register()
                case "report":
                    await self.block_report()

    async def flush(self) -> None:
        """Send every queued change to this namenode; raises httpx.HTTPError when it could
        not, with what was not sent still queued."""
        async with self._flushing:
            while batch := self.queue.peek():
                await self.post("incremental_report", report_of(self.datanode.id, batch))
                self.queue.sent(batch)

    async def try_flush(self) -> bool:
        """`flush`, if this namenode knows this node; False when it did not get through
        (the actor's loop sends the rest once it is back)."""
        if not self.registered:
            return False
        try:
            await self.flush()
        except httpx.HTTPError:
            return False
        return True

    def wake(self) -> None:
        """Have the loop send the queue now rather than at the next heartbeat."""
        self._wake.set()

    # --- the loop ---------------------------------------------------------------------------

    async def run(self) -> None:
        s = self.settings
        next_report = time.monotonic()
        while True:
            started = time.monotonic()
            try:
                if not self.registered:
                    await self.register()
                    next_report = time.monotonic() + s.block_report_interval
                await self.heartbeat()
                if time.monotonic() >= next_report:
                    await self.block_report()
                    next_report = time.monotonic() + s.block_report_interval
                await self.flush()
            except (httpx.HTTPError, ValueError) as exc:
                # A busy namenode (503, 429) still knows this node: going
                # through registration and a full report again would only add to its load
                # (at a thousand nodes, that fed the very overload). It asks for both itself
                # when it needs them (a restart, or this node declared dead).
                self._failed(_why(exc), forget=not _busy(exc))
            except Exception as exc:  # a bug or a disk error: keep serving the others
                self._failed(f"unexpected {type(exc).__name__}: {exc}", trace=True)
            else:
                if self.failures:
                    log.warning("namenode %s reachable again", self.url)
                self.failures = 0
            # Jittered, so nodes whose reports finished together do not beat together.
            pause = s.heartbeat_interval * self._backoff() * self._rng.uniform(0.9, 1.1)
            await self._pause_until(started + pause)

    def _failed(self, why: str, *, trace: bool = False, forget: bool = True) -> None:
        if not self.failures:  # once per outage, not at every attempt
            log.warning("namenode %s: %s; retrying", self.url, why, exc_info=trace)
        self.failures += 1
        if forget:
            self.registered = False

    def _backoff(self) -> int:
        return min(1 << self.failures, MAX_BACKOFF) if self.failures else 1

    async def _pause_until(self, until: float) -> None:
        """Sleep until `until`, sending the queue whenever `wake` is called meanwhile."""
        while (left := until - time.monotonic()) > 0:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(left):
                    await self._wake.wait()
            if self._wake.is_set():
                self._wake.clear()
                await self.try_flush()

    def status(self, now: float) -> dict[str, Any]:
        return {
            "url": self.url,
            "registered": self.registered,
            "state": self.verdict.value if self.verdict else "unknown",
            "term": self.term,
            "last_contact": self.last_contact,
            "seconds_since_contact": None
            if self.last_contact is None
            else round(now - self.last_contact, 3),
            "pending_reports": len(self.queue),
            "failures": self.failures,
        }

    async def close(self) -> None:
        await self.client.aclose()


def _busy(exc: Exception) -> bool:
    """A namenode that is there but says it is overloaded (503, 429). No answer at all
    within the deadline is an outage still: a namenode stopped or cut off looks the same."""
    return isinstance(exc, httpx.HTTPStatusError) and exc.response.status_code in (429, 503)


def _why(exc: Exception) -> str:
    if isinstance(exc, httpx.HTTPStatusError):
        if exc.response.status_code == 401:
            return "refused our token (is MINIHADOOP_TOKEN the same on every daemon?)"
        return f"answered HTTP {exc.response.status_code}"
    return f"not reachable ({type(exc).__name__}: {exc})"
