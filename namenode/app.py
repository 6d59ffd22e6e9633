"""The namenode's HTTP adapter: parse, authorise, call the namesystem, map the result.

* ``/webhdfs/v1/<path>?op=…`` — the WebHDFS namespace operations, same JSON as Hadoop 3.
* ``/nn/v1/…`` — the native block-level protocol used by `minihadoop.FileSystem`:
  create, add_block, complete, abandon, blocks (located blocks of a file).
* ``/internal/v1/…`` — the datanode protocol: register, heartbeat, block reports; and
  ``delegation/check``, where a datanode asks whether a delegation token is live.
* ``/health`` — readiness, and ``/nn/v1/cluster`` — what the CLI and dashboard show.

Handlers are plain `def`: FastAPI runs them in its thread pool, so a handler waiting for an
edit-log fsync does not stall the event loop, and concurrent waiters share one fsync. Two
exceptions, both because a thread hop cost more than the work: the auth dependencies are
async (minihadoop.server), and a WebHDFS GETFILESTATUS is answered on the event loop when
the namesystem's lock is free — below ASGI, by the fast lane `namenode.hotreads.HotReads`
(``app.state.lane``, which the daemon serves with), with the guard's and the route's own
checks (the route itself answers it when the lane hands it over: a refusal, a busy lock,
a Raft group, anything unusual).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response
from starlette.datastructures import QueryParams
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from coord.commands import MAX_NAME
from minihadoop.config import Settings
from minihadoop.delegation import DelegationToken
from minihadoop.errors import AuthenticationError, IllegalArgumentError
from minihadoop.guard import HostNames, WebAuth, cluster_only, install_guard
from minihadoop.metrics import Metrics, families, install_metrics
from minihadoop.models import (
    AddBlockRequest,
    AppendRequest,
    AppendResponse,
    BadBlockReport,
    BalancerMoves,
    BlockRecoveryReport,
    BlockReportRequest,
    BlocksRequest,
    CompleteRequest,
    CreateRequest,
    DelegationCheckRequest,
    HeartbeatRequest,
    HeartbeatResponse,
    IncrementalReportRequest,
    LocatedBlock,
    LocatedBlocks,
    LocatedBlocksBatch,
    RegisterRequest,
)
from minihadoop.server import (
    daemon_app,
    install_error_handlers,
    json_response,
    limit_body_size,
)
from minihadoop.signing import Keys
from namenode import coord_api, dashboard, webhdfs
from namenode.fsck import fsck_report
from namenode.hotreads import HotReads
from namenode.namesystem import FENCE, Fence, Namesystem, Session
from namenode.status import cluster_status, metric_figures
from namenode.tokens import TokenStore
from raft.codec import BadMessageError, decode_batch, encode_batch
from raft.transport import PATH as RAFT_PATH
from raft.types import Message as RaftMessage

MAX_JSON_BODY = 64 << 20  # a block report of a few hundred thousand replicas
# How long a peer's Raft request waits for this node's answer (it is persisted first): well
# inside the sender's timeout, so a slow disk loses an answer, not the connection.
ANSWER_WAIT = 2.0


def create_app(
    system: Namesystem,
    settings: Settings,
    *,
    lifespan: Any = None,
    names: HostNames | None = None,
    tokens: TokenStore | None = None,
) -> FastAPI:
    """The namenode's app; `names` are the host names it answers to (`minihadoop.guard`)."""
    app = daemon_app("minihadoop namenode", lifespan)
    install_error_handlers(app)
    # Raft messages may carry a snapshot of the whole namespace; only a signed peer gets
    # as far as sending a body (the guard checks the signature on the headers first).
    limit_body_size(app, MAX_JSON_BODY, exempt=lambda p: p == RAFT_PATH)
    tokens = tokens or TokenStore(system.name_dir, Keys.derive(settings.token).delegation)

    def check_now(text: str, _op: str, _path: str) -> DelegationToken:
        if not system.single and not system.active:
            # A follower knows only the tokens it issued itself: its "never issued" would
            # stop a client that fails over on StandbyException (HdfsCLI) at a follower.
            raise system.standby()
        return tokens.check(text, time.time())

    async def check(text: str, op: str, path: str) -> DelegationToken:
        return check_now(text, op, path)

    web = WebAuth(check, settings.read_policy, check_now)
    auth = Depends(cluster_only)
    read = Depends(web.reader)
    app.state.system = system
    app.state.tokens = tokens

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "safemode": system.safemode.on}

    @app.get("/nn/v1/ha", dependencies=[read])
    def ha() -> dict[str, Any]:
        """This namenode's place in its group: what `minihadoop admin ha` prints."""
        return system.ha_status()

    app.include_router(dashboard.router(system, read))
    app.include_router(webhdfs.router(system, tokens, Depends(web.user), read))
    app.include_router(_native(system, auth, read))
    app.include_router(_admin(system, auth))
    app.include_router(_leases(system, auth))
    app.include_router(coord_api.router(system, auth))
    app.include_router(_internal(system, tokens, auth))
    app.router.routes.append(_raft(system))
    app.add_middleware(FenceMiddleware)
    metrics = Metrics("namenode", lambda: families(metrics, metric_figures(system, time.time())))
    system.storage.on_sync(
        metrics.histogram("edit_log_sync_seconds", "Time to make the edit log durable").observe
    )
    install_metrics(app, metrics)
    names = names or HostNames(settings.host_names())
    install_guard(app, settings, names)
    # Served below ASGI by the daemon (serve(lane=...)): see namenode.hotreads.
    app.state.lane = HotReads(system, tokens, web, names, metrics)
    return app


class FenceMiddleware:
    """Reads a request's `fence.lock` and `fence.token` (a lock of the lock service and a
    fencing token of it) into `FENCE`, so that every namespace change made while serving
    the request is applied only if that token still holds that lock. Only a change can be
    refused over a fence; it never widens what a caller may do."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Decoded keys, not raw bytes: "fence%2Elock" is fence.lock too.
        if scope["type"] != "http" or not scope.get("query_string"):
            await self.app(scope, receive, send)
            return
        reset = FENCE.set(fence_of(QueryParams(scope["query_string"])))
        try:
            await self.app(scope, receive, send)
        finally:
            FENCE.reset(reset)


def fence_of(q: QueryParams) -> Fence | IllegalArgumentError | None:
    lock, token = q.get("fence.lock"), q.get("fence.token")
    if lock is None and token is None:
        return None
    if not lock or len(lock) > MAX_NAME or token is None:
        return IllegalArgumentError(
            f"fence.lock (1-{MAX_NAME} characters) and fence.token go together"
        )
    if not token.isascii() or not token.isdigit() or not 0 < int(token) < 1 << 63:
        return IllegalArgumentError(f"fence.token must be a positive integer, not {token[:40]!r}")
    return lock, int(token)


def _session(request: Request) -> Session | None:
    return webhdfs.session_of(request.query_params)


def _native(system: Namesystem, auth: Any, read: Any) -> APIRouter:
    router = APIRouter(prefix="/nn/v1")

    # The hot routes (a file's create, add_block, complete; a read's blocks) answer with
    # json_response: see minihadoop.server for why.

    @router.get("/blocks", dependencies=[read], response_model=LocatedBlocks)
    def blocks(request: Request, path: str) -> Response:
        host = request.client.host if request.client else None
        with system.acting_as(webhdfs.user_of(request)):
            return json_response(system.blocks_for_reader(path, host))

    @router.post("/blocks", dependencies=[read], response_model=LocatedBlocksBatch)
    def blocks_many(request: Request, req: BlocksRequest) -> Response:
        """`/blocks` of many files at once: a job planning splits over small files."""
        host = request.client.host if request.client else None
        with system.acting_as(webhdfs.user_of(request)):
            located = system.blocks_for_readers(req.paths, host)
        return json_response(LocatedBlocksBatch(files=located))

    @router.post("/create", dependencies=[auth], response_model=dict[str, int | float])
    def create(
        req: CreateRequest, user: str = Depends(webhdfs.caller), session: Any = Depends(_session)
    ) -> Response:
        with system.acting_as(user):
            block_size, file_id = system.create(req, user, session)
        return json_response(
            {
                "block_size": block_size,
                "bytes_per_checksum": system.settings.bytes_per_checksum,
                "file_id": file_id,
                "lease_soft_limit": system.settings.lease_soft_limit,
            }
        )

    @router.post("/append", dependencies=[auth])
    def append(req: AppendRequest, request: Request) -> AppendResponse:
        host = request.client.host if request.client else None
        with system.acting_as(webhdfs.user_of(request)):
            return system.append(req, host, _session(request))

    @router.post("/add_block", dependencies=[auth], response_model=LocatedBlock)
    def add_block(req: AddBlockRequest, request: Request) -> Response:
        host = request.client.host if request.client else None
        with system.acting_as(webhdfs.user_of(request)):
            return json_response(system.add_block(req, host, _session(request)))

    @router.post("/complete", dependencies=[auth], response_model=dict[str, bool])
    def complete(req: CompleteRequest, request: Request) -> Response:
        with system.acting_as(webhdfs.user_of(request)):
            system.complete(req, _session(request))
        return json_response({"boolean": True})

    @router.post("/abandon", dependencies=[auth])
    def abandon(
        request: Request, path: str, client: str, file_id: int = Query(0, ge=0)
    ) -> dict[str, bool]:
        with system.acting_as(webhdfs.user_of(request)):
            system.abandon(path, client, file_id, _session(request))
        return {"boolean": True}

    @router.get("/fsck", dependencies=[read])
    def fsck(request: Request, path: str = "/") -> dict[str, Any]:
        with system.acting_as(webhdfs.user_of(request)):
            return fsck_report(system, path)

    @router.get("/cluster", dependencies=[read])
    def cluster() -> dict[str, Any]:
        return cluster_status(system, time.time())

    return router


def _admin(system: Namesystem, auth: Any) -> APIRouter:
    """An administrator's calls: safe mode, decommissioning, the balancer's."""
    router = APIRouter(prefix="/nn/v1")

    @router.post("/safemode", dependencies=[auth])
    def safemode(request: Request, action: str) -> dict[str, Any]:
        if action in ("enter", "leave"):  # an administrator's; anybody may ask
            with system.acting_as(webhdfs.user_of(request)):
                system.superuser_only()
        message = system.set_safemode(action)
        return {"safemode": system.safemode.on, "message": message}

    @router.get("/balancer/blocks", dependencies=[auth])
    def balancer_blocks(
        request: Request, datanode: str, size: int = Query(1 << 30, ge=1, le=1 << 40)
    ) -> dict[str, list[list[Any]]]:
        """HDFS's getBlocks for the balancer: [block id, length, holders] of `datanode`'s
        closed blocks, up to `size` bytes; a superuser's."""
        with system.acting_as(webhdfs.user_of(request)):
            system.superuser_only()
        return {"blocks": [list(b) for b in system.balancer_blocks(datanode, size)]}

    @router.post("/balancer/moves", dependencies=[auth])
    def balancer_moves(req: BalancerMoves, request: Request) -> dict[str, Any]:
        """Start moving replicas (a copy, then the source's deleted); a superuser's."""
        with system.acting_as(webhdfs.user_of(request)):
            system.superuser_only()
        moves = [(m.block_id, m.source, m.target) for m in req.moves]
        refused = system.balancer_move(moves)
        return {
            "accepted": len(moves) - len(refused),
            "refused": [{"block_id": b, "reason": why} for b, why in refused],
        }

    @router.post("/decommission", dependencies=[auth])
    def decommission(request: Request, datanode: str) -> dict[str, Any]:
        with system.acting_as(webhdfs.user_of(request)):
            system.superuser_only()
        return {"state": system.decommission(datanode).value}

    return router


def _leases(system: Namesystem, auth: Any) -> APIRouter:
    router = APIRouter(prefix="/nn/v1", dependencies=[auth])

    @router.post("/renew_lease")
    def renew_lease(request: Request, client: str) -> dict[str, int]:
        """HDFS's renewLease: every file `client` is writing that the caller may write
        keeps its lease."""
        with system.acting_as(webhdfs.user_of(request)):
            return {"files": system.renew_lease(client)}

    @router.post("/recover_lease")
    def recover_lease(request: Request, path: str) -> dict[str, bool]:
        """HDFS's recoverLease: true once `path` is closed, false while it is recovered.
        Taking a file from its writer needs `w` on it, as in HDFS."""
        with system.acting_as(webhdfs.user_of(request)):
            return {"boolean": system.recover_lease(path)}

    return router


def _raft(system: Namesystem) -> Route:
    """`POST /internal/v1/raft`: messages from another namenode of the group, for the Raft
    core. With `?answer=1` the reply's body is this node's messages for the sender (a batch,
    like the request's), written once the request's messages are handled and persisted.

    A plain Starlette route, not a FastAPI one: it is the group's hottest path (a request
    per batch per peer) and needs none of FastAPI's parameter and response machinery,
    which cost a follower a third of its CPU per create. The guard has checked the
    signature before it runs, as for every route."""

    async def raft(request: Request) -> Response:
        await cluster_only(request)
        answer = request.query_params.get("answer", "") in ("1", "true")
        try:
            messages = decode_batch(await request.body())
        except BadMessageError as e:
            raise IllegalArgumentError(f"not a batch of Raft messages: {e}") from None
        voters = system.host.config.voters
        senders = {m.frm for m in messages}
        for m in messages:
            if m.to != system.node_id or m.frm not in voters or m.frm == system.node_id:
                raise IllegalArgumentError(
                    f"a Raft message from {m.frm!r} to {m.to!r} does not belong here "
                    f"({system.node_id} of {', '.join(voters)})"
                )
        if len(senders) > 1:
            raise IllegalArgumentError("a batch of Raft messages comes from one namenode")
        if not answer:
            for m in messages:
                system.host.receive(m)
            return json_response({"boolean": True})
        answers: list[RaftMessage] = []
        if messages:
            future = system.host.deliver(messages[0].frm, messages)
            try:
                answers = await asyncio.wait_for(asyncio.wrap_future(future), ANSWER_WAIT)
            except Exception:  # stopping, or slow: the answer is lost, and Raft resends
                answers = []
        return Response(encode_batch(answers), media_type="application/json")

    return Route(RAFT_PATH, raft, methods=["POST"])


def _internal(system: Namesystem, tokens: TokenStore, auth: Any) -> APIRouter:
    router = APIRouter(prefix="/internal/v1", dependencies=[auth])

    @router.post("/register")
    def register(req: RegisterRequest, request: Request) -> dict[str, bool]:
        _check_url(req.url)  # clients and peers will be sent there
        system.register(req, request.client.host if request.client else "")
        return {"boolean": True}

    # Every datanode calls these every few seconds, and after every block it receives.

    @router.post("/heartbeat", response_model=HeartbeatResponse)
    async def heartbeat(req: HeartbeatRequest) -> Response:
        # On the event loop, not a pool thread: it takes no lock and does microseconds of
        # work, so a thousand nodes' beats never queue for threads held by slower calls.
        return json_response(system.heartbeat(req))

    # Reports queue for the one thread that processes them in batches (`ReportQueue`):
    # the request waits for its answer without holding one of the server's threads.

    @router.post("/block_report", response_model=HeartbeatResponse)
    async def block_report(req: BlockReportRequest) -> Response:
        done = system.reports.submit(lambda: system.block_report(req))
        return json_response(await asyncio.wrap_future(done))

    @router.post("/incremental_report", response_model=dict[str, bool])
    async def incremental_report(req: IncrementalReportRequest) -> Response:
        await asyncio.wrap_future(system.reports.submit(lambda: system.incremental_report(req)))
        return json_response({"boolean": True})

    @router.post("/delegation/check")
    def delegation_check(req: DelegationCheckRequest) -> dict[str, bool]:
        token = tokens.live(DelegationToken.unverified(req.body), time.time())
        if not token.permits(req.op, req.path):
            raise AuthenticationError(
                f"the delegation token does not permit {req.op} on {req.path}"
            )
        return {"boolean": True}

    @router.post("/commit_block_recovery")
    def commit_block_recovery(req: BlockRecoveryReport) -> dict[str, bool]:
        system.commit_block_recovery(req)
        return {"boolean": True}

    @router.post("/bad_block")
    def bad_block(req: BadBlockReport) -> dict[str, bool]:
        # A "corrupt replica" on a node nobody knows would never be cleared: refuse it.
        if system.datanodes.get(req.datanode_id) is None:
            raise IllegalArgumentError(f"no datanode {req.datanode_id!r} is registered")
        system.report_bad_replica(req.block_id, req.datanode_id, req.reason)
        return {"boolean": True}

    return router


def _check_url(url: str) -> None:
    if not url.startswith(("http://", "https://")) or len(url) > 500:
        raise IllegalArgumentError(f"url must be an http(s) URL, not {url[:100]!r}")
