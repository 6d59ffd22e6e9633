"""WebHDFS on the namenode: ``/webhdfs/v1/<path>?op=…`` with Hadoop 3's JSON shapes.

Each operation is one small function in a table per HTTP method, so adding an operation is
adding a row. Unknown query parameters are ignored, as Hadoop does; an unknown `op` is a 400
IllegalArgumentException, as Hadoop answers it; one of Hadoop's that minihadoop does not
have (snapshots, ACL changes, extended attributes, erasure coding…) is a 400
UnsupportedOperationException naming it, so a client can tell "not here" from "mistyped".
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from starlette.datastructures import QueryParams

from minihadoop import paths
from minihadoop.errors import (
    AuthenticationError,
    FileAlreadyExistsError,
    IllegalArgumentError,
    MiniHadoopError,
    UnsupportedOperationError,
)
from minihadoop.groups import account
from minihadoop.guard import CLUSTER, principal_of
from minihadoop.server import flag, integer, json_response
from minihadoop.xattrs import decode_value, encode_value
from namenode import commands as c
from namenode.namesystem import Namesystem, Session
from namenode.permissions import NOBODY
from namenode.tokens import Caller, TokenStore

Op = Callable[[Namesystem, str, QueryParams, str], Any]


def user_of(request: Request) -> str:
    """Who the caller acts as: a delegation token's user, else WebHDFS's `user.name`, who the
    caller says it is (not checked: no Kerberos here)."""
    principal = principal_of(request)
    if principal is not None and principal.user is not None:
        return principal.user
    return account(request.query_params.get("user.name") or NOBODY, "user.name")


async def caller(request: Request) -> str:
    """`user_of` as a dependency: async, so FastAPI runs it on the event loop, not in a
    thread of its pool (see minihadoop.server)."""
    return user_of(request)


def permission(value: str | None, default: str) -> str:
    """An octal mode, at most 1777 (HDFS keeps the sticky bit, no setuid or setgid)."""
    perm = value or default
    if not perm.isascii() or not perm.isdigit() or any(ch > "7" for ch in perm):
        raise IllegalArgumentError(f"invalid permission {perm[:20]!r}")
    if len(perm) > 4 or int(perm, 8) > 0o1777:
        raise IllegalArgumentError(f"invalid permission {perm[:20]!r}: at most 1777")
    return f"{int(perm, 8):o}".rjust(3, "0")


# --- GET -----------------------------------------------------------------------------------


def session_of(q: QueryParams) -> Session | None:
    """The caller's `clientid` and `seq` (minihadoop's additions to a mutating call): with
    them, the namenode answers a retry of the same request from its session table instead
    of carrying it out twice. Both or neither."""
    client, seq = q.get("clientid"), q.get("seq")
    if client is None and seq is None:
        return None
    if not client or len(client) > 200 or seq is None:
        raise IllegalArgumentError("clientid (1-200 characters) and seq go together")
    number = integer(seq, "seq")
    if number is None or number < 1:
        raise IllegalArgumentError("seq must be a positive integer")
    return client, number


def _getfilestatus(system: Namesystem, path: str, _q: QueryParams, _u: str) -> Any:
    return {"FileStatus": system.webhdfs_status(path)}


def _liststatus(system: Namesystem, path: str, _q: QueryParams, _u: str) -> Any:
    entries = system.listing(path)
    single = len(entries) == 1 and entries[0].path == path  # a file lists itself
    listed = [e.to_webhdfs("" if single else e.name) for e in entries]
    return {"FileStatuses": {"FileStatus": listed}}


def _liststatus_batch(system: Namesystem, path: str, q: QueryParams, _u: str) -> Any:
    """One page of a folder's entries, those named after `startAfter` (all, without it), at
    most `ls_limit` of them, with how many remain: Hadoop's paged listing."""
    entries, remaining = system.listing_page(path, q.get("startAfter"), system.settings.ls_limit)
    single = len(entries) == 1 and entries[0].path == path  # a file lists itself
    page = [e.to_webhdfs("" if single else e.name) for e in entries]
    return {
        "DirectoryListing": {
            "partialListing": {"FileStatuses": {"FileStatus": page}},
            "remainingEntries": remaining,
        }
    }


def _getquotausage(system: Namesystem, path: str, _q: QueryParams, _u: str) -> Any:
    s = system.summary(path)
    return {
        "QuotaUsage": {
            "fileAndDirectoryCount": s.file_count + s.directory_count,
            "quota": s.quota,
            "spaceConsumed": s.space_consumed,
            "spaceQuota": s.space_quota,
            "typeQuota": {},
        }
    }


CRC32C = 2  # Hadoop's DataChecksum.Type id
HOT = {  # the one storage policy: every replica on disk, as Hadoop's default
    "copyOnCreateFile": False,
    "creationFallbacks": [],
    "id": 7,
    "name": "HOT",
    "replicationFallbacks": ["ARCHIVE"],
    "storageTypes": ["DISK"],
}
FOREVER_MINUTES = 2**31 - 1  # the trash is kept until `fs expunge`: no interval empties it


def _getserverdefaults(system: Namesystem, _p: str, _q: QueryParams, _u: str) -> Any:
    settings = system.settings
    return {
        "FsServerDefaults": {
            "blockSize": settings.block_size,
            "bytesPerChecksum": settings.bytes_per_checksum,
            "checksumType": CRC32C,
            "defaultStoragePolicyId": HOT["id"],
            "encryptDataTransfer": False,
            "fileBufferSize": 4096,
            "keyProviderUri": "",
            "replication": settings.replication,
            "trashInterval": FOREVER_MINUTES if settings.trash else 0,
            "writePacketSize": 65536,
        }
    }


def _getstoragepolicy(system: Namesystem, path: str, _q: QueryParams, _u: str) -> Any:
    system.status(path)  # the path must exist
    return {"BlockStoragePolicy": HOT}


def _getallstoragepolicy(_s: Namesystem, _p: str, _q: QueryParams, _u: str) -> Any:
    return {"BlockStoragePolicies": {"BlockStoragePolicy": [HOT]}}


def _getaclstatus(system: Namesystem, path: str, _q: QueryParams, _u: str) -> Any:
    s = system.status(path)
    mode = int(s.permission, 8)
    return {
        "AclStatus": {
            "entries": [],  # no ACLs: the mode bits are the whole story
            "group": s.group,
            "owner": s.owner,
            "permission": f"{mode & 0o777:o}".rjust(3, "0"),
            "stickyBit": bool(mode & 0o1000),
        }
    }


def _checkaccess(system: Namesystem, path: str, q: QueryParams, _u: str) -> Any:
    """Whether the caller may do `fsaction` (``rwx`` with dashes, as ``r-x``) on `path`,
    by the rules every operation is checked by (`namenode.permissions`). 200 when allowed,
    403 AccessControlException when not."""
    action = q.get("fsaction") or ""
    if len(action) != 3 or any(c not in (w, "-") for c, w in zip(action, "rwx", strict=True)):
        raise IllegalArgumentError(f"invalid fsaction {action!r} (like r-x)")
    wanted = sum(bit for ch, bit in zip(action, (4, 2, 1), strict=True) if ch != "-")
    system.check_access(path, wanted)
    return Response(status_code=200)


def _getcontentsummary(system: Namesystem, path: str, _q: QueryParams, _u: str) -> Any:
    s = system.summary(path)
    return {
        "ContentSummary": {
            "directoryCount": s.directory_count,
            "fileCount": s.file_count,
            "length": s.length,
            "quota": s.quota,
            "spaceConsumed": s.space_consumed,
            "spaceQuota": s.space_quota,
        }
    }


def _gethomedirectory(_s: Namesystem, _p: str, _q: QueryParams, user: str) -> Any:
    return {"Path": f"/user/{user}"}


def _gettrashroot(_s: Namesystem, _p: str, _q: QueryParams, user: str) -> Any:
    return {"Path": f"/user/{user}/.Trash"}


def _getfileblocklocations(system: Namesystem, path: str, q: QueryParams, _u: str) -> Any:
    offset = integer(q.get("offset"), "offset") or 0
    length = integer(q.get("length"), "length")
    end = None if length is None else offset + length
    located = []
    for b in system.located_blocks(path).blocks:
        if b.offset + b.block.length <= offset or (end is not None and b.offset >= end):
            continue
        names = [loc.url.split("//", 1)[-1] for loc in b.locations]
        located.append(
            {
                "cachedHosts": [],
                "corrupt": b.corrupt,
                "hosts": [n.rsplit(":", 1)[0] for n in names],
                "length": b.block.length,
                "names": names,
                "offset": b.offset,
                "storageTypes": ["DISK"] * len(names),
                "topologyPaths": [
                    f"{loc.rack}/{n}" for loc, n in zip(b.locations, names, strict=True)
                ],
            }
        )
    return {"BlockLocations": {"BlockLocation": located}}


def xattr_name(name: str | None) -> str:
    """A request's `xattr.name`, its namespace's case folded as HDFS folds it."""
    if not name:
        raise IllegalArgumentError("xattr.name is required")
    space, dot, rest = name.partition(".")
    return f"{space.lower()}{dot}{rest}"


def _getxattrs(system: Namesystem, path: str, q: QueryParams, _u: str) -> Any:
    encoding = q.get("encoding")
    encode_value(b"", encoding)  # a bad encoding is refused even where there is nothing
    held = system.xattrs(path)
    wanted = [xattr_name(n) for n in q.getlist("xattr.name")]
    missing = [n for n in wanted if n not in held]
    if missing:  # Hadoop's sentence, then which and where, for a command over many paths
        raise MiniHadoopError(
            f"At least one of the attributes provided was not found: {missing[0]} on {path}"
        )
    names = wanted or sorted(held)
    return {"XAttrs": [{"name": n, "value": encode_value(held[n], encoding)} for n in names]}


def _listxattrs(system: Namesystem, path: str, _q: QueryParams, _u: str) -> Any:
    # Hadoop's shape: the names as a JSON array, inside a string.
    return {"XAttrNames": json.dumps(sorted(system.xattrs(path)), separators=(",", ":"))}


# --- PUT -----------------------------------------------------------------------------------


def _mkdirs(system: Namesystem, path: str, q: QueryParams, user: str) -> Any:
    system.mkdirs(path, user, permission(q.get("permission"), "755"), session_of(q))
    return {"boolean": True}


def _rename(system: Namesystem, path: str, q: QueryParams, _u: str) -> Any:
    dst = q.get("destination")
    if not dst:
        raise IllegalArgumentError("RENAME needs a destination")
    try:
        system.rename(path, dst, session_of(q))
    except (FileNotFoundError, FileExistsError):
        return {"boolean": False}  # Hadoop answers false, not an error, for these
    return {"boolean": True}


def _setxattr(system: Namesystem, path: str, q: QueryParams, _u: str) -> Any:
    value = decode_value(q.get("xattr.value") or "")
    flag = (q.get("flag") or "CREATE,REPLACE").upper()
    system.set_xattr(path, xattr_name(q.get("xattr.name")), value, flag, session_of(q))
    return Response(status_code=200)


def _removexattr(system: Namesystem, path: str, q: QueryParams, _u: str) -> Any:
    system.remove_xattr(path, xattr_name(q.get("xattr.name")), session_of(q))
    return Response(status_code=200)


def _setreplication(system: Namesystem, path: str, q: QueryParams, _u: str) -> Any:
    rep = integer(q.get("replication"), "replication")
    if rep is None:  # 0 is not "unset": it is refused like any other bad replication
        rep = system.settings.replication
    system.set_replication(path, rep, session_of(q))
    return {"boolean": True}


def _setpermission(system: Namesystem, path: str, q: QueryParams, _u: str) -> Any:
    cmd = c.SetPermission(path, permission(q.get("permission"), "755"))
    system.set_attributes(cmd, session_of(q))
    return Response(status_code=200)  # Hadoop answers these with an empty 200


QUOTA_DONT_SET = (1 << 63) - 1  # Hadoop's HdfsConstants.QUOTA_DONT_SET, Long.MAX_VALUE


def _setquota(system: Namesystem, path: str, q: QueryParams, _u: str) -> Any:
    """Hadoop 3.3's SETQUOTA: `namespacequota`, `storagespacequota`; absent (or
    Long.MAX_VALUE) leaves one as it is, -1 clears it. A superuser's."""
    names = integer(q.get("namespacequota"), "namespacequota")
    space = integer(q.get("storagespacequota"), "storagespacequota")
    names = None if names == QUOTA_DONT_SET else names
    space = None if space == QUOTA_DONT_SET else space
    system.set_quota(c.SetQuota(path, names, space), session_of(q))
    return Response(status_code=200)


def _setowner(system: Namesystem, path: str, q: QueryParams, _u: str) -> Any:
    owner, group = q.get("owner") or None, q.get("group") or None
    owner = None if owner is None else account(owner, "owner")
    group = None if group is None else account(group, "group")
    system.set_attributes(c.SetOwner(path, owner, group), session_of(q))
    return Response(status_code=200)


def _settimes(system: Namesystem, path: str, q: QueryParams, _u: str) -> Any:
    mtime = integer(q.get("modificationtime"), "modificationtime")
    atime = integer(q.get("accesstime"), "accesstime")
    system.set_attributes(c.SetTimes(path, mtime, atime), session_of(q))
    return Response(status_code=200)


# --- POST ----------------------------------------------------------------------------------


def _concat(system: Namesystem, path: str, q: QueryParams, _u: str) -> Any:
    sources = [s for s in (q.get("sources") or "").split(",") if s]
    if not sources:
        raise IllegalArgumentError("CONCAT needs sources (paths separated by commas)")
    system.concat(path, sources, session_of(q))
    return Response(status_code=200)


def _truncate(system: Namesystem, path: str, q: QueryParams, _u: str) -> Any:
    length = integer(q.get("newlength"), "newlength")
    if length is None:
        raise IllegalArgumentError("TRUNCATE needs newlength")
    return {"boolean": system.truncate(path, length, session_of(q))}


# --- DELETE --------------------------------------------------------------------------------


def _delete(system: Namesystem, path: str, q: QueryParams, user: str) -> Any:
    # WebHDFS deletes for good; minihadoop's own clients ask for the trash explicitly.
    done, moved_to = system.delete(
        path,
        recursive=flag(q.get("recursive"), False),
        skip_trash=flag(q.get("skiptrash"), True),
        user=user,
        session=session_of(q),
    )
    # `trash` is minihadoop's addition, beside Hadoop's `boolean`: where the path went, so
    # the client can say "moved to the trash" only when it was.
    return {"boolean": done, "trash": moved_to} if moved_to else {"boolean": done}


GET_OPS: dict[str, Op] = {
    "GETFILESTATUS": _getfilestatus,
    "LISTSTATUS": _liststatus,
    "LISTSTATUS_BATCH": _liststatus_batch,
    "GETCONTENTSUMMARY": _getcontentsummary,
    "GETQUOTAUSAGE": _getquotausage,
    "GETSERVERDEFAULTS": _getserverdefaults,
    "GETSTORAGEPOLICY": _getstoragepolicy,
    "GETALLSTORAGEPOLICY": _getallstoragepolicy,
    "GETACLSTATUS": _getaclstatus,
    "CHECKACCESS": _checkaccess,
    "GETXATTRS": _getxattrs,
    "LISTXATTRS": _listxattrs,
    "GETHOMEDIRECTORY": _gethomedirectory,
    "GETTRASHROOT": _gettrashroot,
    "GETFILEBLOCKLOCATIONS": _getfileblocklocations,
}
PUT_OPS: dict[str, Op] = {
    "MKDIRS": _mkdirs,
    "RENAME": _rename,
    "SETREPLICATION": _setreplication,
    "SETPERMISSION": _setpermission,
    "SETOWNER": _setowner,
    "SETTIMES": _settimes,
    "SETXATTR": _setxattr,
    "REMOVEXATTR": _removexattr,
    "SETQUOTA": _setquota,
}
POST_OPS: dict[str, Op] = {"CONCAT": _concat, "TRUNCATE": _truncate}
DELETE_OPS: dict[str, Op] = {"DELETE": _delete}
# Hadoop 3's operations minihadoop does not have, by method: asked for, they are an
# UnsupportedOperationException, not an unknown op.
UNSUPPORTED = {
    "GET": {"GETSNAPSHOTDIFF", "GETSNAPSHOTDIFFLISTING",
            "GETSNAPSHOTTABLEDIRECTORYLIST", "GETSNAPSHOTLIST", "GETLINKTARGET",
            "GETFILELINKSTATUS", "GETECPOLICIES", "GETECCODECS", "GETECPOLICY",
            "GET_BLOCK_LOCATIONS", "GETTRASHROOTS", "GETSTATUS"},
    "PUT": {"CREATESYMLINK", "MODIFYACLENTRIES", "REMOVEACLENTRIES", "REMOVEDEFAULTACL",
            "REMOVEACL", "SETACL", "ALLOWSNAPSHOT",
            "DISALLOWSNAPSHOT", "CREATESNAPSHOT", "RENAMESNAPSHOT", "SETSTORAGEPOLICY",
            "SATISFYSTORAGEPOLICY", "ENABLEECPOLICY", "DISABLEECPOLICY", "SETECPOLICY",
            "SETQUOTABYSTORAGETYPE"},
    "POST": {"UNSETSTORAGEPOLICY", "UNSETECPOLICY"},
    "DELETE": {"DELETESNAPSHOT"},
}  # fmt: skip


# --- operations whose data lives on datanodes: redirected there ----------------------------

REDIRECTED = {"CREATE": "PUT", "APPEND": "POST", "OPEN": "GET", "GETFILECHECKSUM": "GET"}
REDIRECT_TOKEN_LIFETIME = 3600.0  # a redirect's own token: that op on that path, for an hour


def _redirect(
    system: Namesystem, tokens: TokenStore, path: str, request: Request, op: str
) -> Response:
    """307 to a datanode (or 200 with the URL, for `noredirect=true`), as Hadoop 3 answers.

    The datanode URL carries the caller's query, `user.name`, and a delegation token as
    WebHDFS's `delegation` parameter, so a client that follows the redirect is authorised
    there too: one made for this op on this path, for an hour at most — never the caller's
    own token (a process squatting the port of a datanode not yet declared dead would
    receive it), nor the cluster token, which never travels. One made from the caller's
    token dies with it. A read under the open read policy needs none.
    """
    q = request.query_params
    user = user_of(request)
    overwrite = flag(q.get("overwrite"), False)
    offset = integer(q.get("offset"), "offset") or 0
    length = integer(q.get("length"), "length")
    if offset < 0 or (length is not None and length < 0):
        raise IllegalArgumentError("offset and length must not be negative")
    client = request.client.host if request.client else None
    # Checked as the caller before anything is looked up: a refusal tells nothing.
    datanode = system.datanode_for(path, op, offset, client, overwrite=overwrite)
    if op == "CREATE" and system.status_or_none(path) is not None and not overwrite:
        raise FileAlreadyExistsError(f"{path} already exists")
    params = [
        (k, v) for k, v in q.multi_items() if k not in ("noredirect", "delegation", "user.name")
    ]
    params += [("user.name", user), ("namenoderpcaddress", str(request.base_url).rstrip("/"))]
    token = _redirect_token(system, tokens, request, op, path, user)
    if token:
        params.append(("delegation", token))
    location = f"{datanode}/webhdfs/v1{quote(path)}?{urlencode(params)}"
    if flag(q.get("noredirect"), False):
        return JSONResponse({"Location": location})
    return Response(status_code=307, headers={"location": location})


def _redirect_token(
    system: Namesystem, tokens: TokenStore, request: Request, op: str, path: str, user: str
) -> str | None:
    principal = principal_of(request)
    if principal is None:
        return None
    if op in ("OPEN", "GETFILECHECKSUM") and system.settings.read_policy == "open":
        return None
    parent = principal.token
    if parent is not None and parent.within(op, path):
        return principal.token_text  # already no more than this: pass it on
    return tokens.scoped(
        user, op, path, time.time(), lifetime=REDIRECT_TOKEN_LIFETIME, parent=parent
    )


# --- delegation tokens ------------------------------------------------------------------------


def _delegation_op(system: Namesystem, tokens: TokenStore, request: Request, op: str) -> Any:
    """GETDELEGATIONTOKEN, RENEWDELEGATIONTOKEN, CANCELDELEGATIONTOKEN, as Hadoop answers
    them. Only a caller that signed with the cluster token is issued one (Hadoop: only a
    Kerberos-authenticated one); a token's renewer may renew it, its user or renewer cancel
    it, and a superuser either."""
    principal = principal_of(request)
    now = time.time()
    if op == "GETDELEGATIONTOKEN":
        if principal is not CLUSTER:
            raise AuthenticationError(
                "a delegation token is issued only to a caller signed with the cluster token"
            )
        user = user_of(request)
        renewer = account(request.query_params.get("renewer") or user, "renewer")
        return {"Token": {"urlString": tokens.issue(user, renewer, now)}}
    text = request.query_params.get("token")
    if not text:
        raise IllegalArgumentError(f"{op} needs a token parameter")
    assert principal is not None  # the route's dependency let only the authenticated in
    # Whoever holds the cluster token may name any user; it acts as that user here too.
    user = user_of(request)
    caller = Caller(user=user, superuser=system.caller(user).superuser)
    if op == "RENEWDELEGATIONTOKEN":
        return {"long": int(tokens.renew(text, caller, now) * 1000)}
    tokens.cancel(text, caller, now)
    return Response(status_code=200)


DELEGATION_OPS = {
    "GETDELEGATIONTOKEN": "GET",
    "RENEWDELEGATIONTOKEN": "PUT",
    "CANCELDELEGATIONTOKEN": "PUT",
}


def dispatch(
    table: dict[str, Op],
    system: Namesystem,
    tokens: TokenStore,
    path: str,
    request: Request,
    op: str,
) -> Any:
    user = user_of(request)
    with system.acting_as(user):  # every op is checked as its caller
        if DELEGATION_OPS.get(op.upper()) == request.method:
            system.read_barrier()  # tokens are the leader's: one a follower issued is lost
            return _delegation_op(system, tokens, request, op.upper())
        if REDIRECTED.get(op.upper()) == request.method:
            return _redirect(system, tokens, paths.normalize("/" + path), request, op.upper())
        handler = table.get(op.upper())
        if handler is None and op.upper() in UNSUPPORTED.get(request.method, ()):
            raise UnsupportedOperationError(f"{op.upper()} is not supported by minihadoop")
        if handler is None:
            raise IllegalArgumentError(f'Invalid value for webhdfs parameter "op": {op}')
        return handler(system, paths.normalize("/" + path), request.query_params, user)


def router(system: Namesystem, tokens: TokenStore, auth: Any, read: Any) -> APIRouter:
    api = APIRouter(prefix="/webhdfs/v1", tags=["webhdfs"])

    @api.get("/{path:path}", dependencies=[read])
    def webhdfs_get(path: str, request: Request, op: str = Query(...)) -> Response:
        # In a thread, as the other methods. A lone namenode answers a plain stat on the
        # event loop, below ASGI, when the lock is free (namenode.hotreads).
        return json_response(dispatch(GET_OPS, system, tokens, path, request, op))

    @api.put("/{path:path}", dependencies=[auth])
    def webhdfs_put(path: str, request: Request, op: str = Query(...)) -> Response:
        return json_response(dispatch(PUT_OPS, system, tokens, path, request, op))

    @api.post("/{path:path}", dependencies=[auth])
    def webhdfs_post(path: str, request: Request, op: str = Query(...)) -> Response:
        return json_response(dispatch(POST_OPS, system, tokens, path, request, op))

    @api.delete("/{path:path}", dependencies=[auth])
    def webhdfs_delete(path: str, request: Request, op: str = Query(...)) -> Response:
        return json_response(dispatch(DELETE_OPS, system, tokens, path, request, op))

    return api
