"""The lock service's HTTP API (`/coord/v1`), on every namenode; the leader answers, a
follower says StandbyException naming it (as for the namespace).

Signed with the cluster token like the rest of the native API; `user.name` says who the
caller acts as (a session is that user's), `clientid` and `seq` make a retried change
answer once. Names of locks and keys travel as query parameters (they may hold `/`).

    POST /coord/v1/session/open?ttl=S               -> {"session", "ttl_ms"}
    POST /coord/v1/session/keepalive?session=ID     -> {"session", "ttl_ms", "renewed"}
    POST /coord/v1/session/close?session=ID         -> {"released": [...], "deleted": [...]}
    GET  /coord/v1/sessions                         -> {"sessions": [...]}
    POST /coord/v1/lock/acquire?lock=N&session=ID[&shared=true][&wait=S]
                                                    -> {"granted": true, "token": T} or
                                                       {"granted": false, "position": n}
    POST /coord/v1/lock/release?lock=N&session=ID   -> {"released": bool}
    GET  /coord/v1/locks[?lock=N]                   -> {"locks": [...]}
    GET  /coord/v1/key?key=K[&after=REV&wait=S]     -> {"key", "exists", "value", "revision", ...}
    POST /coord/v1/key/put?key=K[&session=ID]  {"value": "..."}  -> {"revision"}
    POST /coord/v1/key/delete?key=K                 -> {"revision"}

`wait` is at most 60 seconds: a long poll, answered as soon as the lock is the session's
(or the key's revision is not `after`), else when the time is up.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from coord.commands import MAX_VALUE
from namenode import webhdfs
from namenode.locks import MAX_WAIT
from namenode.namesystem import Namesystem

TTL = Query(..., gt=0, le=600, description="seconds; 1 to 600")
WAIT = Query(0.0, ge=0, le=MAX_WAIT, description="seconds to wait, at most 60")


class PutBody(BaseModel):
    value: str = Field(max_length=MAX_VALUE)


def router(system: Namesystem, auth: Any) -> APIRouter:
    api = APIRouter(prefix="/coord/v1", dependencies=[auth])
    locks = system.locks

    def session_of(request: Request) -> Any:
        return webhdfs.session_of(request.query_params)

    @api.post("/session/open")
    def open_session(
        request: Request, ttl: float = TTL, user: str = Depends(webhdfs.caller)
    ) -> dict[str, Any]:
        return locks.open(user, ttl, session_of(request))

    @api.post("/session/keepalive")
    def keepalive(
        request: Request, session: str, user: str = Depends(webhdfs.caller)
    ) -> dict[str, Any]:
        return locks.keepalive(user, session, session_of(request))

    @api.post("/session/close")
    def close_session(
        request: Request, session: str, user: str = Depends(webhdfs.caller)
    ) -> dict[str, Any]:
        return locks.close(user, session, session_of(request))

    @api.get("/sessions")
    def sessions() -> dict[str, Any]:
        return {"sessions": locks.sessions()}

    @api.post("/lock/acquire")
    async def acquire(
        request: Request,
        lock: str,
        session: str,
        shared: bool = False,
        wait: float = WAIT,
        user: str = Depends(webhdfs.caller),
    ) -> dict[str, Any]:
        return await locks.acquire(
            user, session, lock, shared=shared, wait=wait, session=session_of(request)
        )

    @api.post("/lock/release")
    def release(
        request: Request, lock: str, session: str, user: str = Depends(webhdfs.caller)
    ) -> dict[str, Any]:
        return locks.release(user, session, lock, session_of(request))

    @api.get("/locks")
    def status(lock: str | None = None) -> dict[str, Any]:
        return {"locks": locks.locks(lock)}

    @api.get("/key")
    async def get(key: str, after: int = Query(-1, ge=-1), wait: float = WAIT) -> dict[str, Any]:
        return await locks.get(key, after=after, wait=wait)

    @api.post("/key/put")
    def put(
        request: Request,
        key: str,
        body: PutBody,
        session: str | None = None,
        user: str = Depends(webhdfs.caller),
    ) -> dict[str, Any]:
        return locks.put(user, key, body.value, session, session_of(request))

    @api.post("/key/delete")
    def delete(request: Request, key: str, user: str = Depends(webhdfs.caller)) -> dict[str, Any]:
        return locks.delete(user, key, session_of(request))

    return api
