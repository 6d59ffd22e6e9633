"""WebHDFS's hottest read, GETFILESTATUS, answered below ASGI: the namenode's fast lane.

A stat costs the namesystem a few microseconds. Through FastAPI it cost the namenode ~290 us
of CPU (3,500 stats/s under wrk, a tenth of a bare ASGI endpoint's rate); answered by an
ASGI middleware in front of FastAPI, ~90 us (0.3x the bare endpoint), because uvicorn's
scope, task and answer messages and the guard cost more than the stat. `HotReads` is a
`minihadoop.httpguard.FastLane`: uvicorn's protocol offers it each plain ``GET
/webhdfs/v1/…`` as parsed bytes, and writes the answer it gives (bench/namenode_http.py,
docs/performance.md). It answers ``?op=GETFILESTATUS`` with the very functions the app's
guard and regular route call, in the same order:

* the guard's Host check (`HostNames.allows`, as for an unsigned request);
* `paths.check_url` on the URL, as ``_CheckedUrls`` checks it;
* `WebAuth.reader_now` decides who may read (delegation token or the open read policy),
  `webhdfs.dispatch` who the caller acts as and whether it may, and asks the namesystem,
  under `acting_as`, as the route does;
* the answer carries the request id (`logs.request_id_of`, as `logs.RequestIds`) and is
  counted in the metrics under the label `metrics.webhdfs_operation` gives it.

What must hold: it answers only successes, and only those the regular route would give
the same way; everything else goes to the app untouched — a refusal of any kind (the app
makes it, with its own bytes), any other op, a signed request (the guard verifies it and
signs the answer), a request with a body, a namenode in a Raft group (a read waits for the
leader's read-index round), and a namesystem whose lock is busy (the event loop must never
wait for it: the regular route takes the stat to a thread then). Handing over is safe at
any point: a stat changes nothing.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import unquote

import httptools
import orjson
from starlette.datastructures import QueryParams
from starlette.requests import Request

from minihadoop import logs, paths
from minihadoop.errors import MiniHadoopError
from minihadoop.guard import HostNames, WebAuth
from minihadoop.httpguard import Headers
from minihadoop.logs import HEADER_BYTES, REQUEST_ID
from minihadoop.metrics import Metrics, webhdfs_operation
from namenode import webhdfs
from namenode.namesystem import Namesystem
from namenode.tokens import TokenStore

PREFIX = "/webhdfs/v1/"
# GET operations cheap enough to answer on the event loop: O(path depth), no fsync.
HOT_OPS = frozenset({"GETFILESTATUS"})
JSON = b"application/json"


class HotReads:
    prefix = PREFIX.encode()

    def __init__(
        self,
        system: Namesystem,
        tokens: TokenStore,
        web: WebAuth,
        names: HostNames,
        metrics: Metrics,
    ) -> None:
        self.system = system
        self.tokens = tokens
        self.web = web
        self.names = names
        self.metrics = metrics
        self.answers = metrics.counter(
            "fast_lane_answers", "WebHDFS stats answered by the fast lane, below ASGI"
        )

    def answer(self, url: bytes, headers: Headers) -> tuple[Headers, bytes] | None:
        """The headers and body of the 200 answer to ``GET url``; None to hand it over."""
        started = time.perf_counter()
        host: bytes | None = None
        given_id = b""
        for name, value in headers:
            if name == b"host":
                if host is not None:
                    return None  # two: the guard's to refuse
                host = value
            elif name == HEADER_BYTES:
                given_id = value
            elif name == b"authorization":
                return None  # the guard's to verify, and its answer to sign
        if not self.names.allows((host or b"").decode("latin-1")):
            return None  # refused by the guard
        request = self._hot(url, headers)
        if request is None:
            return None
        request_id = logs.request_id(given_id)
        reset = REQUEST_ID.set(request_id)
        try:
            content = self._status(request)
        except MiniHadoopError:
            return None  # the app refuses it, in its own words
        finally:
            REQUEST_ID.reset(reset)
        if content is None:
            return None
        body = orjson.dumps(content)
        label = webhdfs_operation(request.scope["query_string"])
        self.metrics.answered(label, 200, time.perf_counter() - started)
        self.answers.inc()
        return [(b"content-type", JSON), (HEADER_BYTES, request_id.encode())], body

    def _hot(self, url: bytes, headers: Headers) -> Request | None:
        """The request, as the regular route would see it, when it is one this lane may
        answer; else None."""
        if not self.system.single:
            return None
        try:
            parsed = httptools.parse_url(url)
            raw_path: bytes = parsed.path
            query: bytes = parsed.query or b""
            paths.check_url(raw_path, query)
            path = raw_path.decode("ascii")  # as uvicorn decodes it
        except (httptools.HttpParserInvalidURLError, MiniHadoopError, UnicodeDecodeError):
            return None  # refused by uvicorn, or in front of the router
        if "%" in path:
            path = unquote(path)
        scope: dict[str, Any] = {
            "type": "http",
            "method": "GET",
            "path": path,
            "raw_path": raw_path,
            "query_string": query,
            "headers": headers,
            # What the route's `{path:path}` parameter holds.
            "path_params": {"path": path[len(PREFIX) :]},
        }
        request = _Request(scope, _query(query))
        op = request.query_params.get("op")
        if op is None or op.upper() not in HOT_OPS:
            return None
        return request

    def _status(self, request: Request) -> Any:
        """The op's answer, as the route's handler makes it; None when the lock is busy."""
        self.web.reader_now(request)
        system = self.system
        if not system.lock.acquire(blocking=False):
            return None
        try:
            path = request.scope["path_params"]["path"]
            op = request.query_params["op"]
            return webhdfs.dispatch(webhdfs.GET_OPS, system, self.tokens, path, request, op)
        finally:
            system.lock.release()


class _Request(Request):
    """A Starlette request with its query already parsed (Starlette keeps the parsed query
    in `_query_params`; were that to change, it would parse it again, slower but alike)."""

    def __init__(self, scope: dict[str, Any], query: QueryParams) -> None:
        super().__init__(scope)
        self._query_params = query


def _query(query: bytes) -> QueryParams:
    """``QueryParams(query)``, as Starlette parses it (`urllib.parse.parse_qsl`, blanks
    kept), without its per-character work when nothing in `query` is escaped: ~1.6 us
    where it takes ~4."""
    if b"%" in query or b"+" in query:
        return QueryParams(query)
    fields = query.decode("latin-1").split("&")
    return QueryParams(
        [(name, value) for name, _, value in (f.partition("=") for f in fields if f)]
    )
