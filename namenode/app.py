"""The namenode's HTTP adapter: parse, authorise, call the namesystem, map the result.

* ``/webhdfs/v1/<path>?op=…`` — the WebHDFS namespace operations, same JSON as Hadoop 3.
* ``/nn/v1/…`` — the native block-level protocol used by `minihadoop.FileSystem`:
  create, add_block, complete, abandon, blocks (located blocks of a file).
* ``/internal/v1/…`` — the datanode protocol: register, heartbeat, block reports.
* ``/health`` — readiness, and ``/nn/v1/cluster`` — what the CLI and dashboard show.

Handlers are plain `def`: FastAPI runs them in its thread pool, so a handler waiting for an
edit-log fsync does not stall the event loop, and concurrent waiters share one fsync.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import JSONResponse

from minihadoop import paths
from minihadoop.config import Settings
from minihadoop.errors import IllegalArgumentError, UnsupportedOperationError
from minihadoop.models import (
    AddBlockRequest,
    BadBlockReport,
    BlockReportRequest,
    CompleteRequest,
    CreateRequest,
    HeartbeatRequest,
    HeartbeatResponse,
    IncrementalReportRequest,
    LocatedBlock,
    LocatedBlocks,
    RegisterRequest,
)
from minihadoop.server import (
    install_error_handlers,
    limit_body_size,
    read_dependency,
    token_dependency,
)
from namenode import commands as c
from namenode.fsck import fsck_report
from namenode.namesystem import Namesystem
from namenode.status import cluster_status

MAX_JSON_BODY = 64 << 20  # a block report of a few hundred thousand replicas


def create_app(system: Namesystem, settings: Settings, *, lifespan: Any = None) -> FastAPI:
    app = FastAPI(title="minihadoop namenode", version="0.1.0", lifespan=lifespan)
    install_error_handlers(app)
    limit_body_size(app, MAX_JSON_BODY, exempt=lambda _p: False)
    auth = Depends(token_dependency(settings.token))
    read = Depends(read_dependency(settings.token, settings.read_policy))
    app.state.system = system

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "safemode": system.safemode.on}

    app.include_router(_webhdfs(system, auth, read))
    app.include_router(_native(system, auth, read))
    app.include_router(_internal(system, auth))
    return app


def _user(request: Request) -> str:
    user = request.query_params.get("user.name") or "hadoop"
    if not user.replace("-", "").replace("_", "").replace(".", "").isalnum() or len(user) > 64:
        raise IllegalArgumentError(f"invalid user.name {user!r}")
    return user


def _bool(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    if value.lower() in ("true", "1"):
        return True
    if value.lower() in ("false", "0"):
        return False
    raise IllegalArgumentError(f"expected true or false, got {value!r}")


def _int(value: str | None, name: str) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise IllegalArgumentError(f"{name} must be an integer, got {value!r}") from None


def _webhdfs(system: Namesystem, auth: Any, read: Any) -> APIRouter:
    router = APIRouter(prefix="/webhdfs/v1")

    @router.get("/{path:path}", dependencies=[read])
    def webhdfs_get(path: str, op: str = Query(...), user: str = Depends(_user)) -> Any:
        path = paths.normalize("/" + path)
        match op.upper():
            case "GETFILESTATUS":
                return {"FileStatus": system.status(path).to_webhdfs("")}
            case "LISTSTATUS":
                entries = system.listing(path)
                single = len(entries) == 1 and entries[0].path == path  # a file lists itself
                listed = [e.to_webhdfs("" if single else e.name) for e in entries]
                return {"FileStatuses": {"FileStatus": listed}}
            case "GETCONTENTSUMMARY":
                s = system.summary(path)
                return {
                    "ContentSummary": {
                        "directoryCount": s.directory_count,
                        "fileCount": s.file_count,
                        "length": s.length,
                        "quota": -1,
                        "spaceConsumed": s.space_consumed,
                        "spaceQuota": -1,
                    }
                }
            case "GETHOMEDIRECTORY":
                return {"Path": f"/user/{user}"}
            case "GETTRASHROOT":
                return {"Path": f"/user/{user}/.Trash"}
        raise UnsupportedOperationError(f'Invalid value for webhdfs parameter "op": {op}')

    @router.put("/{path:path}", dependencies=[auth])
    def webhdfs_put(
        path: str, request: Request, op: str = Query(...), user: str = Depends(_user)
    ) -> Any:
        path = paths.normalize("/" + path)
        q = request.query_params
        match op.upper():
            case "MKDIRS":
                system.sync(system.mkdirs(path, user, q.get("permission")))
                return {"boolean": True}
            case "RENAME":
                dst = q.get("destination")
                if not dst:
                    raise IllegalArgumentError("RENAME needs a destination")
                try:
                    system.sync(system.rename(path, dst))
                except (FileNotFoundError, FileExistsError):
                    return {"boolean": False}
                return {"boolean": True}
            case "SETREPLICATION":
                rep = _int(q.get("replication"), "replication") or system.settings.replication
                system.sync(system.set_replication(path, rep))
                return {"boolean": True}
            case "SETPERMISSION":
                perm = q.get("permission") or "755"
                if not perm.isdigit() or any(ch > "7" for ch in perm) or len(perm) not in (3, 4):
                    raise IllegalArgumentError(f"invalid permission {perm!r}")
                system.sync(system.set_attributes(c.SetPermission(path, perm)))
                return JSONResponse(None, status_code=200)
            case "SETOWNER":
                cmd = c.SetOwner(path, q.get("owner") or None, q.get("group") or None)
                system.sync(system.set_attributes(cmd))
                return JSONResponse(None, status_code=200)
            case "SETTIMES":
                mtime = _int(q.get("modificationtime"), "modificationtime")
                atime = _int(q.get("accesstime"), "accesstime")
                system.sync(system.set_attributes(c.SetTimes(path, mtime, atime)))
                return JSONResponse(None, status_code=200)
        raise UnsupportedOperationError(f'Invalid value for webhdfs parameter "op": {op}')

    @router.delete("/{path:path}", dependencies=[auth])
    def webhdfs_delete(
        path: str, request: Request, op: str = Query(...), user: str = Depends(_user)
    ) -> Any:
        if op.upper() != "DELETE":
            raise UnsupportedOperationError(f'Invalid value for webhdfs parameter "op": {op}')
        q = request.query_params
        # WebHDFS deletes for good; minihadoop's own clients ask for the trash explicitly.
        done, txid = system.delete(
            "/" + path,
            recursive=_bool(q.get("recursive"), False),
            skip_trash=_bool(q.get("skiptrash"), True),
            user=user,
        )
        if txid:
            system.sync(txid)
        return {"boolean": done}

    return router


def _native(system: Namesystem, auth: Any, read: Any) -> APIRouter:
    router = APIRouter(prefix="/nn/v1")

    @router.get("/blocks", dependencies=[read])
    def blocks(request: Request, path: str) -> LocatedBlocks:
        host = request.client.host if request.client else None
        return system.located_blocks(path, host)

    @router.post("/create", dependencies=[auth])
    def create(req: CreateRequest, user: str = Depends(_user)) -> dict[str, int]:
        txid, block_size = system.create(req, user)
        system.sync(txid)
        return {"block_size": block_size}

    @router.post("/add_block", dependencies=[auth])
    def add_block(req: AddBlockRequest, request: Request) -> LocatedBlock:
        host = request.client.host if request.client else None
        located, txid = system.add_block(req, host)
        system.sync(txid)
        return located

    @router.post("/complete", dependencies=[auth])
    def complete(req: CompleteRequest) -> dict[str, bool]:
        system.sync(system.complete(req))
        return {"boolean": True}

    @router.post("/abandon", dependencies=[auth])
    def abandon(path: str, client: str) -> dict[str, bool]:
        system.sync(system.abandon(path, client))
        return {"boolean": True}

    @router.get("/fsck", dependencies=[read])
    def fsck(path: str = "/") -> dict[str, Any]:
        return fsck_report(system, path)

    @router.get("/cluster", dependencies=[read])
    def cluster() -> dict[str, Any]:
        return cluster_status(system, time.time())

    @router.post("/safemode", dependencies=[auth])
    def safemode(action: str) -> dict[str, Any]:
        match action:
            case "enter":
                system.safemode.enter()
            case "leave":
                system.safemode.leave()
            case "get":
                pass
            case _:
                raise IllegalArgumentError("action must be enter, leave or get")
        return {"safemode": system.safemode.on, "message": system.safemode.describe()}

    return router


def _internal(system: Namesystem, auth: Any) -> APIRouter:
    router = APIRouter(prefix="/internal/v1", dependencies=[auth])

    @router.post("/register")
    def register(req: RegisterRequest) -> dict[str, bool]:
        system.register(req)
        return {"boolean": True}

    @router.post("/heartbeat")
    def heartbeat(req: HeartbeatRequest) -> HeartbeatResponse:
        return system.heartbeat(req)

    @router.post("/block_report")
    def block_report(req: BlockReportRequest) -> HeartbeatResponse:
        return system.block_report(req)

    @router.post("/incremental_report")
    def incremental_report(req: IncrementalReportRequest) -> dict[str, bool]:
        system.incremental_report(req)
        return {"boolean": True}

    @router.post("/bad_block")
    def bad_block(req: BadBlockReport) -> dict[str, bool]:
        system.report_bad_replica(req.block_id, req.datanode_id, req.reason)
        return {"boolean": True}

    return router
