"""WebHDFS on a datanode: where the namenode's CREATE, APPEND, OPEN and GETFILECHECKSUM
redirects land.

The datanode acts as a DFS client for the caller: CREATE and APPEND stream the request body
(plain or chunked, possibly empty) into the DFS as blocks through the usual pipeline —
this node first, as the namenode placed it — and answer 201 / 200 once the file is
complete. OPEN streams any byte range of the file, verified, preferring this node's own
replicas. A datanode URL can be reused for any number of requests (fsspec appends every
buffer to the same one).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import ValidationError
from starlette.datastructures import QueryParams

from datanode.service import DatanodeService
from minihadoop import paths
from minihadoop.errors import IllegalArgumentError
from minihadoop.filesystem import DFSOutputStream, FileSystem
from minihadoop.guard import principal_of
from minihadoop.models import CreateRequest
from minihadoop.server import flag, integer

BATCH = 4 << 20  # bytes gathered before handing them to the writer thread


def _create_options(path: str, q: QueryParams) -> dict[str, Any]:
    """CREATE's parameters, checked here against the namenode's own request model, so a bad
    one is a 400 now rather than an error inside the client call."""
    options: dict[str, Any] = {
        "overwrite": flag(q.get("overwrite")),
        "replication": integer(q.get("replication"), "replication"),
        "block_size": integer(q.get("blocksize"), "blocksize"),
        "permission": q.get("permission") or None,
    }
    try:
        CreateRequest(path=path, client="webhdfs", **options)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise IllegalArgumentError(f"invalid {where}: {first['msg']}") from None
    return options


def router(service: DatanodeService, auth: Any, read: Any) -> APIRouter:
    api = APIRouter(prefix="/webhdfs/v1", tags=["webhdfs"])

    def client(request: Request) -> FileSystem:
        """A DFS client acting for the caller, whom the route's dependency checked: with a
        delegation token, as the token's user; else as the `user.name` it gave."""
        principal = principal_of(request)
        user = principal.user if principal and principal.user else None
        user = user or request.query_params.get("user.name") or "dr.who"  # as the namenode
        settings = service.settings
        return FileSystem(service.namenode_url, settings.token, user=user, tls_ca=settings.tls_ca)

    @api.put("/{path:path}", dependencies=[auth])
    async def create(path: str, request: Request, op: str = Query(...)) -> Response:
        if op.upper() != "CREATE":
            raise IllegalArgumentError(f'Invalid value for webhdfs parameter "op": {op}')
        path = paths.normalize("/" + path)
        options = _create_options(path, request.query_params)
        fs = client(request)
        try:
            stream = await asyncio.to_thread(fs.create, path, **options)
            await _pump(request, stream)
        finally:
            fs.close()
        host = service.identity.url.split("//", 1)[-1]
        return Response(status_code=201, headers={"location": f"webhdfs://{host}{quote(path)}"})

    @api.post("/{path:path}", dependencies=[auth])
    async def append(path: str, request: Request, op: str = Query(...)) -> Response:
        if op.upper() != "APPEND":
            raise IllegalArgumentError(f'Invalid value for webhdfs parameter "op": {op}')
        fs = client(request)
        try:
            stream = await asyncio.to_thread(fs.append, paths.normalize("/" + path))
            await _pump(request, stream)
        finally:
            fs.close()
        return Response(status_code=200)

    @api.get("/{path:path}", dependencies=[read])
    def get(path: str, request: Request, op: str = Query(...)) -> Response:
        path = paths.normalize("/" + path)
        q = request.query_params
        match op.upper():
            case "OPEN":
                offset = integer(q.get("offset"), "offset") or 0
                length = integer(q.get("length"), "length")
                if offset < 0 or (length is not None and length < 0):
                    raise IllegalArgumentError("offset and length must not be negative")
                fs = client(request)
                try:
                    source = fs.open(path, prefer=service.identity.url)
                except BaseException:
                    fs.close()
                    raise
                if offset > source.length:
                    fs.close()
                    raise IllegalArgumentError(f"offset {offset} is past the end ({source.length})")
                return StreamingResponse(
                    _range(fs, source, offset, length), media_type="application/octet-stream"
                )
            case "GETFILECHECKSUM":
                with client(request) as fs:
                    return JSONResponse({"FileChecksum": fs.checksum(path)})
        raise IllegalArgumentError(f'Invalid value for webhdfs parameter "op": {op}')

    return api


async def _pump(request: Request, stream: DFSOutputStream) -> None:
    """Copy the request body into `stream` and complete the file; on any failure the file
    is abandoned, never left half-written and visible."""
    batch = bytearray()
    try:
        async for piece in request.stream():
            batch += piece
            if len(batch) >= BATCH:
                await asyncio.to_thread(stream.write, bytes(batch))
                batch.clear()
        if batch:
            await asyncio.to_thread(stream.write, bytes(batch))
        await asyncio.to_thread(stream.close)
    except BaseException:
        stream._fail()
        raise


def _range(fs: FileSystem, source: Any, offset: int, length: int | None) -> Iterator[bytes]:
    try:
        source.seek(offset)
        left = source.length - offset if length is None else length
        for piece in source.iter_chunks():
            if left <= 0:
                break
            piece = piece[:left]
            left -= len(piece)
            yield piece
    finally:
        fs.close()
