"""`GET /metrics` on every daemon, in Prometheus' text format (through `prometheus_client`).

Each daemon has its own registry (never the library's global one: tests run several apps
in one process). Two kinds of figures:

* **kept as they happen** — requests by operation and status, and their latency, counted
  by a middleware inside the request guard (so only requests the guard let through); a
  daemon adds its own counters and histograms with `counter` and `histogram`;
* **read when scraped** — capacity, files, blocks, datanodes by state, jobs by state: the
  daemon's `collect` callback turns its state into metric families at scrape time, so
  nothing is kept twice and nothing goes stale.

The page carries counts and sizes, never a path or a name, and is open like ``/health``:
a Prometheus server scrapes it without the cluster token.
"""

from __future__ import annotations

import gc
import logging
import time
import weakref
from collections.abc import Callable, Iterable
from typing import Any

from fastapi import FastAPI
from fastapi.responses import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from minihadoop.logs import RequestIds

PREFIX = "minihadoop"
# Seconds: a stat answers in well under a millisecond, a Raft commit waits for an fsync, a
# block transfer or a job submission may take seconds.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10)
# WebHDFS operations are labelled by op; an op the daemon does not know is "other", so a
# caller cannot grow the label set (and the scrape) without bound.
WEBHDFS_OPS = frozenset(
    """OPEN GETFILESTATUS LISTSTATUS LISTSTATUS_BATCH GETCONTENTSUMMARY GETFILECHECKSUM
    GETHOMEDIRECTORY GETTRASHROOT GETFILEBLOCKLOCATIONS GETXATTRS LISTXATTRS CHECKACCESS
    GETACLSTATUS GETSERVERDEFAULTS GETSTORAGEPOLICY GETALLSTORAGEPOLICY GETQUOTAUSAGE SETQUOTA
    GETDELEGATIONTOKEN CREATE MKDIRS RENAME
    SETREPLICATION SETPERMISSION SETOWNER SETTIMES SETXATTR REMOVEXATTR RENEWDELEGATIONTOKEN
    CANCELDELEGATIONTOKEN APPEND CONCAT TRUNCATE DELETE""".split()
)
Collect = Callable[[], Iterable[Metric]]

# Python's cycle collector stops every thread while it runs, for a time that grows with the
# objects alive (a namenode's namespace and block map are millions): like the JVM's GC time
# in Hadoop's metrics, its pauses are measured. One callback for the process, feeding every
# daemon's histogram (tests run several daemons in one process).
_GC_HISTOGRAMS: weakref.WeakSet[Histogram] = weakref.WeakSet()
_gc_started = 0.0
LONG_GC_PAUSE = 0.1  # seconds: a pause this long is logged


def _gc_callback(phase: str, info: dict[str, int]) -> None:
    global _gc_started
    if phase == "start":
        _gc_started = time.perf_counter()
        return
    paused = time.perf_counter() - _gc_started
    generation = info.get("generation", 0)
    for histogram in list(_GC_HISTOGRAMS):
        histogram.labels(str(generation)).observe(paused)
    log = logging.getLogger("minihadoop.gc")
    # Hadoop's JvmPauseMonitor says the same of the JVM's; only where logging is set up
    # (a daemon), not through logging's last-resort printer in any process importing this.
    if paused >= LONG_GC_PAUSE and log.hasHandlers():
        log.warning(
            "a garbage collection paused every thread for %.0f ms (generation %d, %d objects "
            "freed, %d still watched)", 1000 * paused, generation, info.get("collected", 0),
            len(gc.get_objects()),
        )  # fmt: skip


gc.callbacks.append(_gc_callback)


class Metrics:
    """One daemon's metrics: `daemon` names it in every figure (``minihadoop_namenode_…``)."""

    def __init__(self, daemon: str, collect: Collect | None = None) -> None:
        self.daemon = daemon
        self.registry = CollectorRegistry(auto_describe=False)
        self.requests = self.counter(
            "http_requests", "HTTP requests answered, by operation and status", ["op", "status"]
        )
        self.latency = self.histogram(
            "http_request_duration_seconds", "Time to answer a request, by operation", ["op"]
        )
        self.gc_pauses = self.histogram(
            "gc_pause_seconds",
            "Time every thread stood still for Python's cycle collector, by generation",
            ["generation"],
        )
        _GC_HISTOGRAMS.add(self.gc_pauses)
        self.registry.register(_Callback(self._heap))
        # Both label sets are bounded (routes x statuses; WEBHDFS_OPS), so these stay small.
        self._answered: dict[tuple[str, int], Any] = {}
        if collect is not None:
            self.registry.register(_Callback(collect))

    def _heap(self) -> list[Metric]:
        return [
            self.gauge(
                "gc_frozen_objects",
                "Objects out of the cycle collector's sight (minihadoop.heap.settle)",
                gc.get_freeze_count(),
            )
        ]

    def answered(self, op: str, status: int, seconds: float) -> None:
        """Count one request answered with `status` after `seconds`, under label `op`."""
        children = self._answered.get((op, status))
        if children is None:  # labelled children are looked up once: labels() costs us
            children = self._answered[op, status] = (
                self.requests.labels(op, str(status)),
                self.latency.labels(op),
            )
        children[0].inc()
        children[1].observe(seconds)

    def name(self, metric: str) -> str:
        return f"{PREFIX}_{self.daemon}_{metric}"

    def counter(self, name: str, doc: str, labels: Iterable[str] = ()) -> Counter:
        return Counter(self.name(name), doc, list(labels), registry=self.registry)

    def histogram(
        self,
        name: str,
        doc: str,
        labels: Iterable[str] = (),
        buckets: Iterable[float] = LATENCY_BUCKETS,
    ) -> Histogram:
        return Histogram(
            self.name(name), doc, list(labels), registry=self.registry, buckets=tuple(buckets)
        )

    def gauge(self, name: str, doc: str, value: float) -> GaugeMetricFamily:
        """A figure read at scrape time, for a `collect` callback."""
        return GaugeMetricFamily(self.name(name), doc, value=value)

    def gauges(
        self, name: str, doc: str, label: str, values: dict[str, float]
    ) -> GaugeMetricFamily:
        family = GaugeMetricFamily(self.name(name), doc, labels=[label])
        for key, value in sorted(values.items()):
            family.add_metric([key], value)
        return family

    def total(self, name: str, doc: str, value: float) -> CounterMetricFamily:
        """A counter read at scrape time (`name` without ``_total``)."""
        return CounterMetricFamily(self.name(name), doc, value=value)

    def page(self) -> bytes:
        return generate_latest(self.registry)


class _Callback(Collector):
    def __init__(self, collect: Collect) -> None:
        self._collect = collect

    def collect(self) -> Iterable[Metric]:
        return list(self._collect())


def install_metrics(app: FastAPI, metrics: Metrics) -> None:
    """``GET /metrics``, the request counters, and request ids for the logs
    (`minihadoop.logs`): call before `install_guard`, so the guard stays the outermost
    middleware."""

    @app.get("/metrics", include_in_schema=False)
    def scrape() -> Response:
        return Response(metrics.page(), media_type=CONTENT_TYPE_LATEST)

    app.add_middleware(_Timing, metrics=metrics)
    app.add_middleware(RequestIds)


def operation(scope: Scope) -> str:
    """The label a request is counted under: its route's template (never the path, which
    names files), and for WebHDFS its op."""
    route = scope.get("route")
    template = getattr(route, "path", None)
    if template is None:
        return "unmatched"
    if template.startswith("/webhdfs/"):
        return webhdfs_operation(scope.get("query_string", b""))
    return str(template)


def webhdfs_operation(query_string: bytes) -> str:
    """A WebHDFS request's label: its first `op`, as sent, when it is one of WEBHDFS_OPS."""
    for part in query_string.decode("latin-1").split("&"):
        key, _, value = part.partition("=")
        if key == "op":
            op = value.upper()
            return f"webhdfs {op if op in WEBHDFS_OPS else 'other'}"
    return "webhdfs none"


class _Timing:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def noting(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, noting)
        finally:
            self.metrics.answered(operation(scope), status, time.perf_counter() - started)


def families(metrics: Metrics, figures: dict[str, tuple[str, Any]]) -> Iterable[Metric]:
    """Gauges from ``{name: (doc, value)}``; a value that is a dict is one gauge per key,
    labelled ``state``; a name ending ``_total`` is a counter."""
    for name, (doc, value) in figures.items():
        if name.endswith("_total"):
            yield metrics.total(name.removesuffix("_total"), doc, value)
        elif isinstance(value, dict):
            yield metrics.gauges(name, doc, "state", value)
        else:
            yield metrics.gauge(name, doc, value)
