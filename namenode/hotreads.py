"""WebHDFS's hottest read, GETFILESTATUS, answered in front of FastAPI.

A stat costs the namesystem a few microseconds; through FastAPI it cost the namenode
~290 us of CPU (3,500 stats/s under wrk, a tenth of a bare ASGI endpoint's rate), nearly all
of it the framework around the handler: seven middlewares, the router's match over ~60
routes, dependency solving, the response's encoding. Here it costs ~110 us (9,000/s):
bench/namenode_http.py, docs/performance.md. `HotReads` sits just inside the request guard
and answers a plain ``GET /webhdfs/v1/<path>?op=GETFILESTATUS`` itself, with the very
functions the regular route calls, in the same order:

* the guard (outside) has checked the Host and any signature, and signs the answer;
* the URL is refused by `paths.check_url` as ``_CheckedUrls`` would refuse it;
* `WebAuth.reader` decides who may read (cluster signature, delegation token, or the open
  read policy), `webhdfs.user_of` who the caller acts as, and `webhdfs.dispatch` checks the
  caller's permissions and asks the namesystem, under `acting_as`, as the route does;
* a refusal is `server.error_response` of the same exception, as the app's handler makes it;
* the answer carries the request id (`logs.RequestIds`) and is counted in the metrics under
  the label `metrics.operation` gives it.

What must hold: it answers only what the regular route would answer the same way, and
hands everything else to it untouched — any other method, path or op, a request that
declares a body, a URL that `check_url` refuses, a namenode in a Raft group (a read waits
for the leader's read-index round), and a namesystem whose lock is busy (the loop must never
wait for it: the regular route takes the stat to a thread then). Handing over is safe at
any point before the answer starts: a stat changes nothing.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from minihadoop import paths
from minihadoop.errors import MiniHadoopError
from minihadoop.guard import WebAuth
from minihadoop.logs import REQUEST_ID, request_id_of, tagged
from minihadoop.metrics import Metrics, webhdfs_operation
from minihadoop.server import error_response
from namenode import webhdfs
from namenode.namesystem import Namesystem
from namenode.tokens import TokenStore

PREFIX = "/webhdfs/v1/"
# GET operations cheap enough to answer on the event loop: O(path depth), no fsync.
HOT_OPS = frozenset({"GETFILESTATUS"})
JSON = b"application/json"


class HotReads:
    def __init__(
        self,
        app: ASGIApp,
        system: Namesystem,
        tokens: TokenStore,
        web: WebAuth,
        metrics: Metrics,
    ) -> None:
        self.app = app
        self.system = system
        self.tokens = tokens
        self.web = web
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = self._hot(scope)
        if request is None:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = request_id_of(scope)
        reset = REQUEST_ID.set(request_id)
        try:
            status = await self._answer(request, scope, receive, tagged(send, request_id))
        finally:
            REQUEST_ID.reset(reset)
        if status is None:  # the lock was busy: the regular route takes it to a thread
            await self.app(scope, receive, send)
            return
        label = webhdfs_operation(scope.get("query_string", b""))
        self.metrics.answered(label, status, time.perf_counter() - started)

    def _hot(self, scope: Scope) -> Request | None:
        """The request, when it is one this class answers; else None."""
        if scope["type"] != "http" or scope["method"] != "GET" or not self.system.single:
            return None
        path: str = scope["path"]
        if not path.startswith(PREFIX) or scope.get("root_path"):
            return None
        for name, value in scope["headers"]:
            if name == b"transfer-encoding" or (name == b"content-length" and value != b"0"):
                return None  # a body: the regular route's limits and refusals apply
        query: bytes = scope.get("query_string", b"")
        try:
            paths.check_url(scope.get("raw_path") or path.encode(), query)
        except MiniHadoopError:
            return None  # refused there, in front of the router, as always
        request = Request(scope)
        op = request.query_params.get("op")
        if op is None or op.upper() not in HOT_OPS:
            return None
        # What the route's `{path:path}` parameter would hold.
        scope["path_params"] = {"path": path[len(PREFIX) :]}
        return request

    async def _answer(
        self, request: Request, scope: Scope, receive: Receive, send: Send
    ) -> int | None:
        """Answer `request`; its status, or None (nothing sent) when the lock is busy."""
        try:
            await self.web.reader(request)  # before the lock: it may await
            content = self._status(request, scope["path_params"]["path"])
        except MiniHadoopError as exc:
            await error_response(exc)(scope, receive, send)
            return exc.status
        if content is None:
            return None
        body = orjson.dumps(content)
        headers = [(b"content-length", str(len(body)).encode()), (b"content-type", JSON)]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        return 200

    def _status(self, request: Request, path: str) -> Any:
        """The op's answer, as the route's handler makes it; None when the lock is busy."""
        system = self.system
        if not system.lock.acquire(blocking=False):
            return None
        try:
            op = request.query_params["op"]
            return webhdfs.dispatch(webhdfs.GET_OPS, system, self.tokens, path, request, op)
        finally:
            system.lock.release()
