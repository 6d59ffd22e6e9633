"""`FileSystem`: the DFS client for programs.

Namespace operations speak WebHDFS to the namenode; file data moves with the block-level
protocol straight between this process and the datanodes:

* **write** — the namenode allocates each block and its pipeline of datanodes; the client
  streams the block (data, then one CRC32C per chunk) to the first node, which stores and
  forwards it. If the first node cannot be reached the client sends the block to the next
  node of the pipeline instead; nodes that drop out are re-replicated by the namenode later.
  The file becomes visible when the client completes it.
* **read** — the namenode returns each block's replicas, nearest and least busy first. The
  client verifies every chunk against its checksum before handing bytes on; on a mismatch it
  reports the bad replica, and on a mismatch or an unreachable node it carries on from the
  same byte on the next replica.
* **a namenode that restarts** — calls to the namenode are sent again, with backoff, for up
  to `retry_window` seconds while it cannot be reached or is starting up, if sending them
  again is safe (see `minihadoop.retry`): reads and mkdir, and the calls that carry a
  session (create, append, add-block, complete, rename, delete), after any failure; the
  others only when the namenode certainly did not receive them.
* **a namenode group** — given several namenode URLs (a list, or one string separated by
  ``;`` or ``,``), the client sends each call to the one that last answered, and when a
  standby turns it away or the namenode is gone, to the leader the standby names or the
  next of the group (`minihadoop.retry.fail_over`), within the same window. A write goes
  on across a change of leader: its calls carry sessions, so each is carried out once.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import hashlib
import io
import itertools
import json
import os
import stat
import struct
import tempfile
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

import coord.errors  # noqa: F401  # the lock service's errors, known by name to this client
from minihadoop import globbing, paths
from minihadoop.checksum import (
    CHECKSUM_SIZE,
    MAX_BYTES_PER_CHECKSUM,
    checksum_length,
    chunk_checksums,
    verify,
)
from minihadoop.client_config import (
    ClusterInfo,
    client_retry_window,
    client_tls_ca,
    client_umask,
    current_user,
    home_dir,
)
from minihadoop.errors import (
    ChecksumError,
    FileAlreadyExistsError,
    FileNotFoundError_,
    IllegalArgumentError,
    MiniHadoopError,
    UnavailableError,
)
from minihadoop.ha import NamenodeState, group_state
from minihadoop.models import (
    BLOCK_READ_HEADER,
    MAX_BATCH_PATHS,
    AddBlockRequest,
    AppendRequest,
    AppendResponse,
    Block,
    BlockWriteResult,
    CompleteRequest,
    ContentSummary,
    CreateRequest,
    FileStatus,
    FileType,
    LocatedBlock,
    LocatedBlocks,
    LocatedBlocksBatch,
)
from minihadoop.rest import call, remote_error, tls_verify
from minihadoop.retry import NamenodeGroup, Replay, RetryPolicy, failing_over
from minihadoop.signing import CONTENT, ClusterAuth

if TYPE_CHECKING:
    from minihadoop.locks import Lock, LockSession

Progress = Callable[[int], None]
READ_PIECE = 1 << 20
# Calls a writer makes on the side (lease renewal, abandon, bad-replica reports) ask each
# namenode of the group once and never wait: whatever they fail at, the next call retries.
ONE_PASS = RetryPolicy(window=0)


class FileSystem:
    """A client of one minihadoop cluster. Thread-compatible: one per thread."""

    def __init__(
        self,
        namenode: str | Sequence[str],
        token: str | None = None,
        *,
        user: str | None = None,
        timeout: float = 120.0,
        quick_timeout: float = 15.0,
        bytes_per_checksum: int | None = None,
        retry_window: float | None = None,
        tls_ca: str | None = None,
        leader: str | None = None,
    ) -> None:
        """`namenode`: its URL, or a namenode group's — a list, or one string separated by
        ``;`` or ``,``; `leader`: the one of them to ask first (default: the first).
        `bytes_per_checksum` overrides the cluster's setting for files this client writes;
        `retry_window` is how long calls to an unavailable namenode are retried (default: the
        `retry_window` setting). `tls_ca` is the PEM bundle https servers are verified
        against (None: the MINIHADOOP_TLS_CA variable; empty: the system's trust store)."""
        self._group = NamenodeGroup.parse(namenode, leader)
        self.token = token
        self.user = user or current_user()
        self.bytes_per_checksum = bytes_per_checksum
        self._timeouts = (timeout, quick_timeout)
        self.retry = RetryPolicy(
            window=client_retry_window() if retry_window is None else retry_window
        )
        self._tls_ca = tls_ca
        # With the cluster token every call is signed and every answer checked (a peer that
        # cannot sign is no peer); without it, only what the read policy leaves open works.
        self._http = httpx.Client(
            timeout=httpx.Timeout(timeout, connect=5.0),
            auth=ClusterAuth(token) if token else None,
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=16),
            verify=tls_verify(client_tls_ca() if tls_ca is None else tls_ca),
        )
        self._shares_http = False
        self.client_name = f"mh-client-{uuid.uuid4().hex[:12]}"
        self.umask = client_umask()
        # Each mutating call gets the next number: with the client name it makes a retry of
        # that call recognisable to the namenode, which answers it from its session table
        # instead of carrying it out twice — so such calls may be sent again after any
        # failure, a lost connection or a namenode failover included.
        self._seq = itertools.count(1)
        # Block writes wait for a whole pipeline's fsyncs: `timeout`. Everything else — the
        # namenode, and the gap between bytes of a read — gets `quick_timeout`, so a node
        # that went silent (partitioned, stopped) costs seconds before failover, not minutes.
        self._quick = httpx.Timeout(min(quick_timeout, timeout), connect=5.0)
        self.fence: tuple[str, int] | None = None

    @classmethod
    def from_cluster(cls, directory: str | os.PathLike[str] | None = None, **kw: Any) -> FileSystem:
        """Connect to the local cluster whose `cluster.json` is in `directory` (or the default)."""
        where = home_dir(directory)
        try:
            info = ClusterInfo.load(where)
        except FileNotFoundError:
            raise UnavailableError(
                f"no cluster found in {where} (start one with `minihadoop cluster up`)"
            ) from None
        if "retry_window" in info.settings:  # the cluster's own setting, unless told otherwise
            kw.setdefault("retry_window", float(info.settings["retry_window"]))
        kw.setdefault("tls_ca", info.settings.get("tls_ca"))  # a TLS cluster's own CA
        return cls(info.namenode_urls(), info.token, **kw)

    @property
    def namenode(self) -> str:
        """The namenode calls go to first: the one that last answered (the leader, in a
        group that has one); with one namenode, that one."""
        return self._group.current

    @property
    def namenodes(self) -> tuple[str, ...]:
        """Every namenode this client knows, as it was given them."""
        return self._group.urls

    def with_retry_window(self, seconds: float) -> FileSystem:
        """Another client of the same namenodes, as the same user and with the same fence,
        that retries for `seconds`."""
        timeout, quick = self._timeouts
        clone = FileSystem(
            self.namenodes,
            self.token,
            leader=self.namenode,
            user=self.user,
            timeout=timeout,
            quick_timeout=quick,
            bytes_per_checksum=self.bytes_per_checksum,
            retry_window=seconds,
            tls_ca=self._tls_ca,
        )
        clone.fence = self.fence
        return clone

    def fenced(self, lock: str, token: int) -> FileSystem:
        """Another client like this one whose every namespace change is fenced: applied
        only while `token` is still a fencing token of a holder of `lock` (the namenode
        checks, in log order), else refused with `StaleFenceError`."""
        clone = self.with_retry_window(self.retry.window)
        clone.fence = (lock, token)
        return clone

    def as_user(self, user: str) -> FileSystem:
        """This client acting as `user` (a daemon holding the cluster token does a job's
        file work as the job's user, as Hadoop's daemons impersonate). It shares this
        client's connections and fence; closing it closes nothing."""
        view = copy.copy(self)
        view.user = user
        view._shares_http = True
        return view

    def close(self) -> None:
        if not self._shares_http:
            self._http.close()

    def __enter__(self) -> FileSystem:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # --- HTTP plumbing ------------------------------------------------------------------------

    def _call(self, method: str, url: str, **kw: Any) -> httpx.Response:
        kw.setdefault("timeout", self._quick)
        return call(self._http, method, url, **kw)

    def _nn(
        self,
        method: str,
        path: str,
        replay: Replay,
        *,
        policy: RetryPolicy | None = None,
        **kw: Any,
    ) -> httpx.Response:
        """A call to the namenode's `path` (``/nn/v1/…``), sent again while it is
        unavailable if `replay` allows — to the leader, in a namenode group. Every call
        says who makes it (`user.name`): the namenode checks its permissions."""
        params = kw.get("params")
        if params is None:
            kw["params"] = {"user.name": self.user}
        elif isinstance(params, dict):
            params.setdefault("user.name", self.user)
        else:  # a list of pairs
            if not any(k == "user.name" for k, _ in params):
                kw["params"] = [*params, ("user.name", self.user)]
        return failing_over(
            lambda namenode: self._call(method, namenode + path, **kw),
            self._group,
            policy or self.retry,
            replay,
            what=f"namenode {method} {path}",
        )

    def _session(self) -> dict[str, Any]:
        """The query parameters that make one mutating call recognisable when repeated."""
        return {"clientid": self.client_name, "seq": next(self._seq)}

    def _fenced(self, params: dict[str, Any]) -> dict[str, Any]:
        if self.fence is not None:
            params["fence.lock"], params["fence.token"] = self.fence
        return params

    def _webhdfs(self, method: str, path: str, op: str, replay: Replay, **params: Any) -> Any:
        path = paths.normalize(path)
        params = {"op": op, **{k: v for k, v in params.items() if v is not None}}
        if replay is Replay.SESSION:
            params.update(self._session())
        response = self._nn(method, _webhdfs_url(path), replay, params=self._fenced(params))
        return response.json() if response.content else None  # SETOWNER & co. answer empty

    def _native(self, endpoint: str, body: Any, replay: Replay) -> Any:
        payload = body.model_dump(mode="json") if hasattr(body, "model_dump") else body
        params: dict[str, Any] = self._session() if replay is Replay.SESSION else {}
        params = self._fenced(params)
        return self._nn("POST", f"/nn/v1/{endpoint}", replay, json=payload, params=params).json()

    # --- the lock service (minihadoop.locks) ---------------------------------------------------

    def coord_call(self, method: str, endpoint: str, replay: Replay, **kw: Any) -> Any:
        """A call to the lock service's `endpoint` (``/coord/v1…``), as this client's user."""
        params = dict(kw.pop("params", {}))
        if replay is Replay.SESSION:
            params.update(self._session())
        wait = float(params.get("wait", 0))
        if wait:  # a long poll: held by the namenode up to `wait` seconds
            kw["timeout"] = httpx.Timeout(wait + self._timeouts[1], connect=5.0)
        return self._nn(method, f"/coord/v1{endpoint}", replay, params=params, **kw).json()

    def lock(
        self,
        name: str,
        *,
        ttl: float = 10.0,
        shared: bool = False,
        timeout: float | None = None,
    ) -> AbstractContextManager[Lock]:
        """Hold lock `name` for a `with` block, in a session of its own kept alive every
        `ttl`/3 seconds; waits for it up to `timeout` seconds (None: for ever). The `Lock`
        has the fencing `token`; `lock.valid()` says whether it may still be believed held."""
        from minihadoop.locks import hold  # here: most clients never hold a lock

        return hold(self, name, ttl=ttl, shared=shared, timeout=timeout)

    def lock_session(self, ttl: float = 10.0) -> LockSession:
        """A session for several locks and keys (`minihadoop.locks.LockSession`)."""
        from minihadoop.locks import LockSession  # here: most clients never hold a lock

        return LockSession(self, ttl)

    def locks(self, name: str | None = None) -> list[dict[str, Any]]:
        """Every lock held or waited for (or just `name`'s): holders, tokens, waiters."""
        params = {"lock": name} if name is not None else {}
        found: list[dict[str, Any]] = self.coord_call("GET", "/locks", Replay.SAFE, params=params)[
            "locks"
        ]
        return found

    def lock_sessions(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.coord_call("GET", "/sessions", Replay.SAFE)["sessions"]
        return found

    def get_key(self, key: str, *, after: int = -1, wait: float = 0.0) -> dict[str, Any]:
        """A key of the lock service: `exists`, `value`, `revision`. With `after` (a revision
        seen before), wait up to `wait` seconds for the key to change first."""
        params: dict[str, Any] = {"key": key}
        if after >= 0:
            params.update(after=after, wait=wait)
        found: dict[str, Any] = self.coord_call("GET", "/key", Replay.SAFE, params=params)
        return found

    def put_key(self, key: str, value: str) -> int:
        """Set a key that outlives any session; its revision."""
        answer = self.coord_call(
            "POST", "/key/put", Replay.SESSION, params={"key": key}, json={"value": value}
        )
        return int(answer["revision"])

    def delete_key(self, key: str) -> int:
        return int(
            self.coord_call("POST", "/key/delete", Replay.SESSION, params={"key": key})["revision"]
        )

    # --- namespace ----------------------------------------------------------------------------

    def stat(self, path: str) -> FileStatus:
        path = paths.normalize(path)
        return _status(path, self._webhdfs("GET", path, "GETFILESTATUS", Replay.SAFE)["FileStatus"])

    def exists(self, path: str) -> bool:
        try:
            self.stat(path)
            return True
        except FileNotFoundError_:
            return False

    def ls(self, path: str = "/") -> list[FileStatus]:
        path = paths.normalize(path)
        listing = self._webhdfs("GET", path, "LISTSTATUS", Replay.SAFE)
        entries = listing["FileStatuses"]["FileStatus"]
        return [
            _status(paths.join(path, e["pathSuffix"]) if e["pathSuffix"] else path, e)
            for e in entries
        ]

    def mkdir(self, path: str, permission: str | None = None) -> None:
        """Make a folder and any missing parents (`mkdir -p`); its mode `permission`, else
        777 less the umask."""
        if permission is None:
            permission = f"{0o777 & ~self.umask:o}".rjust(3, "0")
        self._webhdfs("PUT", path, "MKDIRS", Replay.SAFE, permission=permission)

    def rm(self, path: str, *, recursive: bool = False, skip_trash: bool = False) -> str | None:
        """Remove a file or folder: to the user's trash unless `skip_trash`. Returns where
        in the trash it went, or None when it was deleted for good (asked to, trash off on
        the namenode, or it was in the trash already)."""
        answer = self._webhdfs(
            "DELETE",
            path,
            "DELETE",
            Replay.SESSION,  # a plain repeat would answer "no such file"
            recursive=_flag(recursive),
            skiptrash=_flag(skip_trash),
        )
        if not answer["boolean"]:
            raise FileNotFoundError_(f"File does not exist: {paths.normalize(path)}")
        trash: str | None = answer.get("trash")
        return trash

    def mv(self, src: str, dst: str) -> None:
        src, dst = paths.normalize(src), paths.normalize(dst)
        renamed = self._webhdfs("PUT", src, "RENAME", Replay.SESSION, destination=dst)
        if not renamed["boolean"]:
            self.stat(src)  # raises FileNotFound when that is why
            raise FileAlreadyExistsError(f"cannot move {src} to {dst}: the destination exists")

    def du(self, path: str = "/") -> ContentSummary:
        s = self._webhdfs("GET", path, "GETCONTENTSUMMARY", Replay.SAFE)["ContentSummary"]
        return ContentSummary(
            length=s["length"],
            file_count=s["fileCount"],
            directory_count=s["directoryCount"],
            space_consumed=s["spaceConsumed"],
            quota=s.get("quota", -1),
            space_quota=s.get("spaceQuota", -1),
        )

    def set_quota(self, path: str, *, names: int | None = None, space: int | None = None) -> None:
        """HDFS's quotas on a folder (a superuser's to set): at most `names` files and
        folders in its tree, itself included, and `space` bytes of replicas (length times
        replication). None leaves one as it is; -1 clears it."""
        params: dict[str, Any] = {}
        if names is not None:
            params["namespacequota"] = names
        if space is not None:
            params["storagespacequota"] = space
        self._webhdfs("PUT", path, "SETQUOTA", Replay.SAFE, **params)

    def setrep(self, path: str, replication: int) -> None:
        self._webhdfs("PUT", path, "SETREPLICATION", Replay.SAFE, replication=replication)

    def concat(self, target: str, sources: Sequence[str]) -> None:
        """HDFS's concat: the blocks of `sources`, in order, are moved to the end of
        `target` (no bytes are copied) and the sources are gone. All are closed files."""
        self._webhdfs(
            "POST",
            target,
            "CONCAT",
            Replay.SESSION,  # a plain repeat would find the sources gone
            sources=",".join(paths.normalize(s) for s in sources),
        )

    def truncate(
        self, path: str, length: int, *, wait: bool = False, timeout: float = 120.0
    ) -> bool:
        """HDFS's truncate: cut a closed file to its first `length` bytes. True when that
        is done; False when the cut falls inside a block, which a block recovery cuts on
        the datanodes — until then the file cannot be written (`recover_lease` says when it
        is over). `wait`: wait for it (up to `timeout` seconds) and return True."""
        done = bool(
            self._webhdfs("POST", path, "TRUNCATE", Replay.SESSION, newlength=length)["boolean"]
        )  # a plain repeat would find the file cut, or being cut
        if wait and not done:
            self.wait_closed(path, timeout)
            return True
        return done

    def wait_closed(self, path: str, timeout: float = 120.0) -> None:
        """Wait until `path` is closed (a truncate's or a dead writer's block recovery is
        over), as `hdfs dfs -truncate -w` does: asking every 0.2 s."""
        deadline = time.monotonic() + timeout
        while not self.recover_lease(path):
            if time.monotonic() > deadline:
                raise UnavailableError(f"{path} is still being recovered after {timeout:.0f} s")
            time.sleep(0.2)

    # --- extended attributes (HDFS's xattrs: the "user." namespace) --------------------------

    def get_xattrs(self, path: str, *names: str) -> dict[str, bytes]:
        """`path`'s extended attributes (those named, or all), name -> value."""
        params = [("op", "GETXATTRS"), ("encoding", "base64")]
        params += [("xattr.name", n) for n in names]
        found = self._nn("GET", _webhdfs_url(path), Replay.SAFE, params=params).json()["XAttrs"]
        return {a["name"]: base64.b64decode(a["value"][2:]) for a in found}

    def list_xattrs(self, path: str) -> list[str]:
        names: list[str] = json.loads(
            self._webhdfs("GET", path, "LISTXATTRS", Replay.SAFE)["XAttrNames"]
        )
        return names

    def set_xattr(self, path: str, name: str, value: bytes, flag: str = "CREATE,REPLACE") -> None:
        """Set attribute `name` (``user.…``); `flag` CREATE (must be new), REPLACE (must
        exist) or both."""
        encoded = "0s" + base64.b64encode(value).decode()
        self._webhdfs("PUT", path, "SETXATTR", Replay.SESSION, flag=flag,
                      **{"xattr.name": name, "xattr.value": encoded})  # fmt: skip

    def remove_xattr(self, path: str, name: str) -> None:
        self._webhdfs("PUT", path, "REMOVEXATTR", Replay.SESSION, **{"xattr.name": name})

    def chmod(self, path: str, permission: str) -> None:
        """Set a file's or folder's mode, in octal (``"644"``, ``"1777"``)."""
        self._webhdfs("PUT", path, "SETPERMISSION", Replay.SAFE, permission=permission)

    def chown(self, path: str, owner: str | None = None, group: str | None = None) -> None:
        """Set a file's or folder's owner, group, or both."""
        if owner is None and group is None:
            raise IllegalArgumentError("chown needs an owner, a group, or both")
        self._webhdfs("PUT", path, "SETOWNER", Replay.SAFE, owner=owner, group=group)

    def glob(self, pattern: str) -> list[str]:
        """The paths `pattern` matches, sorted, with Hadoop's glob rules (``*``, ``?``,
        ``[a-z]``, ``[^a]``, ``{a,b}``, ``\\`` escapes; see `minihadoop.globbing`). A
        pattern without wildcards gives its path if it exists."""

        def names(folder: str) -> list[str]:
            try:
                return [e.name for e in self.ls(folder) if e.path != folder]
            except FileNotFoundError_:
                return []

        return globbing.expand(pattern, names, self.exists)

    def fsck(self, path: str = "/") -> dict[str, Any]:
        result: dict[str, Any] = self._nn(
            "GET",
            "/nn/v1/fsck",
            Replay.SAFE,
            params={"path": paths.normalize(path)},
        ).json()
        return result

    def cluster(self) -> dict[str, Any]:
        result: dict[str, Any] = self._nn("GET", "/nn/v1/cluster", Replay.SAFE).json()
        return result

    def namenode_states(self, timeout: float = 2.0) -> list[NamenodeState]:
        """Every namenode this client knows, as each answers for itself (`GET /nn/v1/ha`):
        its role (leader, follower, or down when it does not answer), term and log
        positions. Each is asked once, in parallel; nothing fails over."""
        return group_state(
            {url: url for url in self.namenodes},
            auth=ClusterAuth(self.token) if self.token else None,
            verify=tls_verify(client_tls_ca() if self._tls_ca is None else self._tls_ca),
            timeout=timeout,
        )

    # --- delegation tokens (Hadoop's FileSystem.getDelegationToken and friends) ----------------

    def get_delegation_token(self, renewer: str | None = None) -> str:
        """A delegation token for this client's user, for WebHDFS clients (fsspec, HdfsCLI)
        that should not hold the cluster token: it expires, can be renewed by `renewer`
        (default: the user) up to a week, and cancelled."""
        answer = self._webhdfs("GET", "/", "GETDELEGATIONTOKEN", Replay.SAFE, renewer=renewer)
        return str(answer["Token"]["urlString"])

    def renew_delegation_token(self, token: str) -> float:
        """Renew `token`; its new expiry, in seconds since the epoch."""
        answer = self._webhdfs("PUT", "/", "RENEWDELEGATIONTOKEN", Replay.SAFE, token=token)
        return int(answer["long"]) / 1000

    def cancel_delegation_token(self, token: str) -> None:
        # Hadoop answers it with an empty 200; a repeat would be told the token is gone.
        params = {"op": "CANCELDELEGATIONTOKEN", "token": token}
        self._nn("PUT", "/webhdfs/v1/", Replay.IF_NOT_RECEIVED, params=params)

    def safemode(self, action: str = "get") -> dict[str, Any]:
        """Safe mode: `get` its state, `enter` it (read-only), or `leave` it (admin)."""
        result: dict[str, Any] = self._nn(
            "POST", "/nn/v1/safemode", Replay.SAFE, params={"action": action}
        ).json()
        return result

    def decommission(self, datanode: str) -> str:
        """Drain a datanode (by id or URL); returns its state."""
        response = self._nn(
            "POST",
            "/nn/v1/decommission",
            Replay.SAFE,
            params={"datanode": datanode},
        )
        return str(response.json()["state"])

    def balancer_blocks(self, datanode: str, size: int) -> list[tuple[int, int, list[str]]]:
        """(block id, length, holders) of `datanode`'s closed blocks, up to `size` bytes
        (HDFS's getBlocks); a superuser's."""
        response = self._nn(
            "GET", "/nn/v1/balancer/blocks", Replay.SAFE,
            params={"datanode": datanode, "size": max(1, min(size, 1 << 40))},
        )  # fmt: skip
        return [(int(b), int(n), list(h)) for b, n, h in response.json()["blocks"]]

    def balancer_move(self, moves: list[tuple[int, str, str]]) -> list[tuple[int, str]]:
        """Have the namenode move replicas (block, source, target): a copy, then the
        source's replica deleted. The moves it refused, with why. A superuser's: no moves
        asks only that, and raises AccessControlError for anybody else."""
        body = {"moves": [{"block_id": b, "source": s, "target": t} for b, s, t in moves]}
        # A repeat would be refused move by move ("being copied already"): safe to send again.
        response = self._nn("POST", "/nn/v1/balancer/moves", Replay.SAFE, json=body)
        return [(int(r["block_id"]), str(r["reason"])) for r in response.json()["refused"]]

    def blocks(self, path: str) -> LocatedBlocks:
        response = self._nn(
            "GET",
            "/nn/v1/blocks",
            Replay.SAFE,
            params={"path": paths.normalize(path)},
        )
        return _parsed(LocatedBlocks, response)

    def blocks_many(self, paths_: Sequence[str]) -> list[LocatedBlocks]:
        """`blocks` of many files, `MAX_BATCH_PATHS` to a call; in the order given."""
        out: list[LocatedBlocks] = []
        normalized = [paths.normalize(p) for p in paths_]
        for i in range(0, len(normalized), MAX_BATCH_PATHS):
            body = {"paths": normalized[i : i + MAX_BATCH_PATHS]}
            response = self._nn("POST", "/nn/v1/blocks", Replay.SAFE, json=body)
            out += _parsed(LocatedBlocksBatch, response).files
        return out

    # --- writing ------------------------------------------------------------------------------

    def create(
        self,
        path: str,
        *,
        overwrite: bool = False,
        replication: int | None = None,
        block_size: int | None = None,
        permission: str | None = None,
        create_parent: bool = True,
        progress: Progress | None = None,
    ) -> DFSOutputStream:
        """Open a new file for writing; it appears (or replaces the old one) on `close()`.
        Missing parent folders are made, unless `create_parent` is false. Its mode is
        `permission`, else 666 less the umask."""
        path = paths.normalize(path)
        if permission is None:
            permission = f"{0o666 & ~self.umask:o}".rjust(3, "0")
        created = self._native(
            "create",
            CreateRequest(
                path=path,
                client=self.client_name,
                overwrite=overwrite,
                replication=replication,
                block_size=block_size,
                permission=permission,
                create_parent=create_parent,
            ),
            Replay.SESSION,  # a repeat is answered with the first one's file
        )
        bpc = self.bytes_per_checksum or int(created["bytes_per_checksum"])
        return DFSOutputStream(
            self,
            path,
            int(created["block_size"]),
            bpc,
            progress,
            file_id=int(created.get("file_id", 0)),
            renew_every=float(created.get("lease_soft_limit", 60.0)) / 2,
        )

    def append(self, path: str, *, progress: Progress | None = None) -> DFSOutputStream:
        """Open an existing file to add bytes at its end; they appear when it is closed."""
        path = paths.normalize(path)
        reply = AppendResponse.model_validate(
            self._native(
                "append", AppendRequest(path=path, client=self.client_name), Replay.SESSION
            )
        )
        bpc = self.bytes_per_checksum or reply.bytes_per_checksum
        out = DFSOutputStream(self, path, reply.block_size, bpc, progress, file_id=reply.file_id)
        if reply.rewrite is not None:
            try:
                last = reply.rewrite
                out.prefill(b"".join(self._read_block(last, 0, last.block.length)))
            except BaseException:
                out._fail()
                raise
        return out

    def write_bytes(self, path: str, data: bytes, **kw: Any) -> None:
        with self.create(path, **kw) as out:
            out.write(data)

    def put(
        self,
        local: str | os.PathLike[str],
        remote: str,
        *,
        overwrite: bool = False,
        replication: int | None = None,
        block_size: int | None = None,
        progress: Progress | None = None,
    ) -> FileStatus:
        """Upload a local file. A remote folder receives it under the local file's name."""
        if remote.endswith("/") and remote != "/":  # "into this folder", made if missing
            self.mkdir(remote)
        remote = paths.normalize(remote)
        try:
            if self.stat(remote).is_dir:
                remote = paths.join(remote, Path(local).name)
        except FileNotFoundError_:
            pass
        with (
            open(local, "rb") as src,
            self.create(
                remote,
                overwrite=overwrite,
                replication=replication,
                block_size=block_size,
                progress=progress,
            ) as out,
        ):
            out.write_from(src)
        return self.stat(remote)

    # The writer's calls name the file by its inode id too, so a rename of the file (or a
    # folder above it) while it is written does not take it from under the writer.

    def _add_block(
        self, path: str, file_id: int, previous: Block | None, exclude: list[str]
    ) -> LocatedBlock:
        req = AddBlockRequest(
            path=path,
            client=self.client_name,
            previous=previous,
            exclude=exclude,
            file_id=file_id,
        )
        # A plain repeat would add a second block; this one is answered with the first's.
        return LocatedBlock.model_validate(self._native("add_block", req, Replay.SESSION))

    def _complete(self, path: str, file_id: int, last: Block | None) -> None:
        req = CompleteRequest(path=path, client=self.client_name, last=last, file_id=file_id)
        self._native("complete", req, Replay.SESSION)

    def _abandon(self, path: str, file_id: int) -> None:
        with contextlib.suppress(MiniHadoopError):  # else the lease expires on its own
            self._nn(
                "POST",
                "/nn/v1/abandon",
                Replay.IF_NOT_RECEIVED,
                policy=ONE_PASS,
                params={"path": path, "client": self.client_name, "file_id": file_id},
            )

    def _renew_lease(self) -> None:
        """Keep the leases on every file this client is writing (HDFS's renewLease)."""
        with contextlib.suppress(MiniHadoopError):  # the next add_block will say what is wrong
            self._nn(
                "POST",
                "/nn/v1/renew_lease",
                Replay.SAFE,
                policy=ONE_PASS,
                params={"client": self.client_name},
            )

    def recover_lease(self, path: str) -> bool:
        """HDFS's recoverLease: take `path` from a writer that died. True when the file is
        closed (already, or at once); False while its last block is being recovered — ask
        again until True. Does not wait for the writer's soft limit: call it only for a
        writer known to be gone."""
        response = self._nn(
            "POST",
            "/nn/v1/recover_lease",
            Replay.SAFE,  # asked again and again by design
            params={"path": paths.normalize(path)},
        )
        return bool(response.json()["boolean"])

    def _write_block(
        self,
        located: LocatedBlock,
        block: PreparedBlock,
        sent: Callable[[int], None] | None = None,
    ) -> BlockWriteResult:
        """Send one block down its pipeline, skipping first nodes that cannot take it.
        `sent(n)`: the first `n` bytes of the block went out (to this try's first node)."""
        data, sums, content = block.data, block.sums, block.content
        urls = [loc.url for loc in located.locations]
        errors = []
        for i, first in enumerate(urls):
            rest = urls[i + 1 :]
            try:
                response = self._http.put(
                    f"{first}/dn/v1/blocks/{located.block.block_id}",
                    params={
                        "gen": located.block.gen,
                        "length": len(data),
                        "bpc": block.bytes_per_checksum,
                    },
                    content=_body(data, sums, sent),
                    headers={
                        "x-targets": ",".join(rest),
                        "content-length": str(len(data) + len(sums)),
                        CONTENT: content,
                    },
                )
            except httpx.TransportError as exc:
                errors.append(f"{first}: {exc}")
                continue
            if response.status_code == 200:
                result = BlockWriteResult.model_validate(response.json())
                if result.stored:
                    return result
            errors.append(f"{first}: HTTP {response.status_code} {response.text[:200]}")
        raise UnavailableError(
            f"could not write block {located.block.block_id} to any of its datanodes: "
            + "; ".join(errors)
        )

    # --- reading ------------------------------------------------------------------------------

    def checksum(self, path: str) -> dict[str, Any]:
        """Hadoop's MD5-of-MD5-of-CRC32C file checksum, from the stored chunk checksums:
        an MD5 over each block's CRCs (as big-endian integers), then an MD5 over those."""
        located = self.blocks(path)
        block_md5s = b""
        bpc, per_block = 0, 0
        for lb in located.blocks:
            sums, bpc = self._block_checksums(lb)
            per_block = max(per_block, len(sums) // CHECKSUM_SIZE)
            values = struct.unpack(f"<{len(sums) // 4}I", sums)
            block_md5s += hashlib.md5(struct.pack(f">{len(values)}I", *values)).digest()
        if len(located.blocks) <= 1:
            per_block = 0  # as Hadoop reports a single-block file
        digest = hashlib.md5(block_md5s).digest()
        return {
            "algorithm": f"MD5-of-{per_block}MD5-of-{bpc or 512}CRC32C",
            "bytes": (struct.pack(">iq", bpc or 512, per_block) + digest).hex(),
            "length": 28,
        }

    def _block_checksums(self, located: LocatedBlock) -> tuple[bytes, int]:
        problems = []
        for loc in located.locations:
            try:
                url = f"{loc.url}/dn/v1/blocks/{located.block.block_id}/checksums"
                r = self._call("GET", url, params=_token_param(located))
                return r.content, int(r.headers["x-bytes-per-checksum"])
            except (MiniHadoopError, KeyError, ValueError) as exc:
                problems.append(f"{loc.url}: {exc}")
        detail = "; ".join(problems) or "no replica"
        raise MiniHadoopError(f"no checksums for block {located.block.block_id}: {detail}")

    def open(self, path: str, *, prefer: str | None = None) -> DFSInputStream:
        """Open a file for reading. `prefer` names a datanode URL to read from first when it
        holds a replica (a task reading the block beside it); the stream counts the bytes it
        got from there (`bytes_local`) and from elsewhere (`bytes_remote`)."""
        return DFSInputStream(self, self.blocks(path), prefer=prefer)

    def read_bytes(self, path: str) -> bytes:
        with self.open(path) as f:
            return f.read()

    def cat(self, path: str) -> Iterator[bytes]:
        with self.open(path) as f:
            yield from f.iter_chunks()

    def get(
        self,
        remote: str,
        local: str | os.PathLike[str],
        *,
        progress: Progress | None = None,
    ) -> int:
        """Download a file; writes to a temp name and renames, so `local` is never partial."""
        target = Path(local)
        if target.is_dir():
            target = target / paths.name(paths.normalize(remote))
        # A fresh name made with O_EXCL beside the target: a link planted at a guessable
        # name by another user of a shared folder is never written through.
        fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
        tmp = Path(name)
        total = 0
        try:
            os.fchmod(fd, 0o666 & ~_UMASK)  # as open() would have made it, not mkstemp's 600
            with self.open(remote) as src, os.fdopen(fd, "wb") as out:
                for piece in src.iter_chunks():
                    out.write(piece)
                    total += len(piece)
                    if progress is not None:
                        progress(len(piece))
            tmp.replace(target)
        finally:
            tmp.unlink(missing_ok=True)
        return total

    def _report_bad(self, block_id: int, datanode_id: str, reason: str) -> None:
        if not self.token:
            return
        with contextlib.suppress(MiniHadoopError):
            self._nn(
                "POST",
                "/internal/v1/bad_block",
                Replay.SAFE,
                policy=ONE_PASS,
                json={"block_id": block_id, "datanode_id": datanode_id, "reason": reason},
            )

    def _read_block(self, located: LocatedBlock, start: int, end: int) -> Iterator[bytes]:
        """Verified bytes [start, end) of one block, failing over between replicas."""
        pos = start
        problems: list[str] = []
        for loc in located.locations:
            if pos >= end:
                return
            try:
                for piece in self._read_replica(loc.url, located, pos, end):
                    pos += len(piece)
                    yield piece
                if pos >= end:
                    return
            except ChecksumError as exc:
                problems.append(f"{loc.url}: {exc}")
                self._report_bad(located.block.block_id, loc.id, str(exc))
            except (httpx.HTTPError, MiniHadoopError) as exc:
                problems.append(f"{loc.url}: {exc}")
        if pos < end:
            detail = "; ".join(problems) or "no live replica"
            where = f"block {located.block.block_id} (offset {located.offset + pos})"
            raise MiniHadoopError(f"Could not obtain {where}: {detail}")

    @contextlib.contextmanager
    def _streamed(self, method: str, url: str, **kw: Any) -> Iterator[httpx.Response]:
        """A datanode's streamed answer, its body not yet read; an error answer raised as
        its exception."""
        with self._http.stream(method, url, timeout=self._quick, **kw) as response:
            if response.status_code != 200:
                response.read()
                raise remote_error(response)
            yield response

    def _read_replica(
        self, url: str, located: LocatedBlock, start: int, end: int
    ) -> Iterator[bytes]:
        block_id = located.block.block_id
        params: dict[str, str | int] = {"offset": start, "length": end - start}
        params.update(_token_param(located))
        with self._streamed("GET", f"{url}/dn/v1/blocks/{block_id}", params=params) as response:
            h = response.headers
            chunk_start = int(h["x-chunk-start"])
            sums_len = int(h["x-checksums-length"])
            bpc = int(h["x-bytes-per-checksum"])
            data_len = int(h["x-data-length"])
            sums = b""
            pos = chunk_start  # block offset of the first byte not yet yielded
            chunk_index = chunk_start // bpc
            # The wire's pieces (~64 KiB) are gathered to READ_PIECE and joined once, cut at a
            # chunk boundary so the joined bytes are verified and handed on as they are.
            held: list[bytes] = []
            size = 0
            for piece in response.iter_raw():
                if len(sums) < sums_len:
                    need = sums_len - len(sums)
                    sums += piece[:need]
                    piece = piece[need:]
                held.append(piece)
                size += len(piece)
                if size < READ_PIECE or size % bpc > len(piece):
                    continue  # (a chunk bigger than a piece: until one ends in this piece)
                cut = len(piece) - size % bpc  # the whole chunks held end here, in `piece`
                held[-1] = piece[:cut]
                whole = b"".join(held)
                held, size = ([piece[cut:]], size % bpc) if cut < len(piece) else ([], 0)
                yield from self._verified(
                    whole, sums, bpc, chunk_index, chunk_start, pos, start, end, block_id
                )
                pos += len(whole)
                chunk_index += len(whole) // bpc
            if pos - chunk_start + size != data_len:
                raise UnavailableError(f"{url}: short read of block {block_id}")
            if size:
                yield from self._verified(
                    b"".join(held), sums, bpc, chunk_index, chunk_start, pos, start, end, block_id
                )

    def whole_blocks(self, url: str, blocks: Sequence[LocatedBlock]) -> list[bytes | None]:
        """Whole blocks from the datanode at `url` in one call (`MAX_BATCH_BLOCKS` at most;
        for many small files): each verified against its checksums, in the order given.
        None for a block that datanode does not have or whose bytes fail their checksums
        (reported), and for every block from one of another length than located on (what
        follows it may not be framed as said): read those the usual way. Raises when the
        call itself fails or the answer is not what was asked. The answer is read whole
        before it is returned: keep the blocks small."""
        body = {"blocks": [lb.block.block_id for lb in blocks]}
        url = url.rstrip("/")
        out: list[bytes | None] = []
        with self._streamed("POST", f"{url}/dn/v1/blocks/read", json=body) as response:
            take = _exactly(response.iter_raw())
            for lb in blocks:
                block_id, length, bpc, sums_len = BLOCK_READ_HEADER.unpack(
                    take(BLOCK_READ_HEADER.size)
                )
                if block_id != lb.block.block_id:
                    raise UnavailableError(f"{url}: answered block {block_id} for {lb.block}")
                if length < 0:
                    out.append(None)
                    continue
                if length != lb.block.length or not 0 < bpc <= MAX_BYTES_PER_CHECKSUM:
                    # Not the replica located (an old or a longer one), or nonsense: what
                    # follows cannot be trusted to be framed as said. The rest elsewhere.
                    break
                if sums_len != checksum_length(length, bpc):
                    raise UnavailableError(f"{url}: {sums_len} bytes of checksums for {lb}")
                sums, data = take(sums_len), take(length)
                try:
                    verify(data, sums, bpc, where=f"block {block_id}")
                except ChecksumError as exc:
                    for node in _ids_of(lb, [url]):
                        self._report_bad(block_id, node, str(exc))
                    out.append(None)
                    continue
                out.append(data)
        return out + [None] * (len(blocks) - len(out))

    @staticmethod
    def _verified(
        data: bytes,
        sums: bytes,
        bpc: int,
        chunk_index: int,
        chunk_start: int,
        pos: int,
        start: int,
        end: int,
        block_id: int,
    ) -> Iterator[bytes]:
        """`data` (block offset `pos`, chunk `chunk_index`), checked against its checksums,
        cut to the range asked for: as it is when all of it was asked for."""
        first = chunk_index - chunk_start // bpc
        count = -(-len(data) // bpc)
        expected = sums[first * CHECKSUM_SIZE : (first + count) * CHECKSUM_SIZE]
        verify(data, expected, bpc, where=f"block {block_id}", first_chunk=chunk_index)
        lo, hi = max(start - pos, 0), min(len(data), end - pos)
        if lo == 0 and hi == len(data):
            yield data
        elif hi > lo:
            yield data[lo:hi]


class DFSOutputStream(io.RawIOBase):
    """A file being written: bytes are buffered into blocks and each full block is sent."""

    def __init__(
        self,
        fs: FileSystem,
        path: str,
        block_size: int,
        bytes_per_checksum: int,
        progress: Progress | None,
        *,
        file_id: int = 0,
        renew_every: float = 30.0,
    ) -> None:
        """`file_id`: the file's inode id, from create or append (0: by path).
        `renew_every`: a writer that goes a soft limit without a word to the namenode (a
        slow source filling a big block) may lose its file to another client, so it renews
        its lease well before."""
        super().__init__()
        self.fs = fs
        self.path = path
        self.block_size = block_size
        self.bytes_per_checksum = bytes_per_checksum
        self.progress = progress
        self._buf = bytearray()
        self._last: Block | None = None
        self._failed_nodes: list[str] = []
        self._done = False
        self.file_id = file_id
        self.renew_every = renew_every
        self._renewed = time.monotonic()

    def _keep_lease(self) -> None:
        now = time.monotonic()
        if now - self._renewed > self.renew_every:
            self._renewed = now
            self.fs._renew_lease()

    def writable(self) -> bool:
        return True

    def prefill(self, data: bytes) -> None:
        """Bytes already in the file that go first into the next block (an append that
        rewrites a partial last block); not counted as progress."""
        self._buf += data

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        n = len(view)
        try:
            self._keep_lease()
            while len(view):
                room = self.block_size - len(self._buf)
                self._buf += view[:room]
                view = view[room:]
                if len(self._buf) == self.block_size:
                    self._flush_block()
        except BaseException:
            self._fail()
            raise
        return n

    def write_from(self, src: io.BufferedIOBase | Any) -> None:
        """Copy a whole binary file object in, one block at a time.

        From a regular file, the next block is read and checksummed in a thread while the
        current one is sent (reading and hashing let go of the GIL): the datanodes' work on
        one block overlaps the client's on the next, at the cost of a second block in
        memory. Not from a pipe or a terminal, whose read may wait for ever: a thread stuck
        there would hold up a failure or Ctrl-C until the source ended. A block read whole
        is sent as it was read, never copied into the buffer."""
        try:
            if self._buf:  # a partial block from write(): filled first, as write() would
                self._buf += _read_full(src, self.block_size - len(self._buf))
                if len(self._buf) < self.block_size:
                    return  # `src` is done: close() sends the rest
                self._flush_block()
            size, bpc = self.block_size, self.bytes_per_checksum

            def next_block() -> PreparedBlock | bytes:
                data = _read_full(src, size)
                return PreparedBlock.of(data, bpc) if len(data) == size else data

            with contextlib.ExitStack() as stack:
                ahead = (
                    stack.enter_context(ThreadPoolExecutor(1, "dfs-read-ahead"))
                    if _regular_file(src)
                    else None
                )

                def start_next() -> Callable[[], PreparedBlock | bytes]:
                    """The next block: being read beside, or to be read when asked."""
                    return next_block if ahead is None else ahead.submit(next_block).result

                pending = start_next()
                while True:
                    self._keep_lease()
                    block = pending()
                    if not isinstance(block, PreparedBlock):  # the end: less than a block
                        self._buf += block  # sent by close()
                        return
                    pending = start_next()
                    self._send_block(block)
        except BaseException:
            self._fail()
            raise

    def _flush_block(self) -> None:
        self._send_block(PreparedBlock.of(bytes(self._buf), self.bytes_per_checksum))
        self._buf.clear()

    def _send_block(self, block: PreparedBlock) -> None:
        located = self.fs._add_block(self.path, self.file_id, self._last, self._failed_nodes)
        self._renewed = time.monotonic()
        reported = 0  # bytes of this block told to `progress`: a retry starts again from 0

        def sent(n: int) -> None:
            nonlocal reported
            if self.progress is not None and n > reported:
                self.progress(n - reported)
                reported = n

        result = self.fs._write_block(located, block, None if self.progress is None else sent)
        self._failed_nodes = sorted(set(self._failed_nodes) | set(_ids_of(located, result.failed)))
        length = len(block.data)
        self._last = Block(block_id=located.block.block_id, gen=located.block.gen, length=length)
        sent(length)

    def _fail(self) -> None:
        if not self._done:
            self._done = True
            self.fs._abandon(self.path, self.file_id)

    def close(self) -> None:
        if self._done or self.closed:
            super().close()
            return
        try:
            if self._buf:
                self._flush_block()
            self.fs._complete(self.path, self.file_id, self._last)
            self._done = True
        except BaseException:
            self._fail()
            raise
        finally:
            super().close()

    def __exit__(self, exc_type: object, *_rest: object) -> None:
        if exc_type is not None:
            self._fail()
        self.close()


class DFSInputStream(io.RawIOBase):
    """A file opened for reading: sequential streaming with seek, verified as it goes."""

    def __init__(
        self, fs: FileSystem, located: LocatedBlocks, *, prefer: str | None = None
    ) -> None:
        super().__init__()
        self.fs = fs
        self.located = located
        self.length = located.status.length
        self.prefer = prefer.rstrip("/") if prefer else None
        self.bytes_local = 0
        self.bytes_remote = 0
        self._pos = 0
        self._stream: Iterator[bytes] | None = None
        self._pending = b""

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self.length}[whence]
        self._pos = max(0, base + offset)
        self._stream, self._pending = None, b""
        return self._pos

    def _chunks_from(self, start: int, end: int) -> Iterator[bytes]:
        for lb in self.located.blocks:
            b_start, b_end = lb.offset, lb.offset + lb.block.length
            if b_end <= start or b_start >= end:
                continue
            if not lb.locations:
                raise MiniHadoopError(
                    f"Could not obtain block {lb.block.block_id}: "
                    + ("every replica is corrupt" if lb.corrupt else "no live datanode has it")
                )
            lo, hi = max(start, b_start) - b_start, min(end, b_end) - b_start
            if self.prefer is not None:
                mine = [loc for loc in lb.locations if loc.url == self.prefer]
                others = [loc for loc in lb.locations if loc.url != self.prefer]
                lb = lb.model_copy(update={"locations": mine + others})
            local = bool(lb.locations) and lb.locations[0].url == self.prefer
            for piece in self.fs._read_block(lb, lo, hi):
                if local:
                    self.bytes_local += len(piece)
                else:
                    self.bytes_remote += len(piece)
                yield piece

    def iter_chunks(self) -> Iterator[bytes]:
        """The rest of the file in pieces of up to 1 MiB; the fast way to stream it."""
        if self._pending:
            piece, self._pending = self._pending, b""
            self._pos += len(piece)
            yield piece
        for piece in self._chunks_from(self._pos, self.length):
            self._pos += len(piece)
            yield piece
        self._stream = None

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            return b"".join(self.iter_chunks())
        if self._stream is None:
            self._stream = self._chunks_from(self._pos, self.length)
        out = bytearray(self._pending)
        self._pending = b""
        while len(out) < size:
            piece = next(self._stream, b"")
            if not piece:
                break
            out += piece
        data, self._pending = bytes(out[:size]), bytes(out[size:])
        self._pos += len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def readall(self) -> bytes:
        return self.read(-1)


# The process's umask, read once (reading it means setting it): files `get` makes get the
# mode open() would have given them.
_UMASK = os.umask(0o022)
os.umask(_UMASK)

SEND_PIECE = 1 << 20  # a block goes out in pieces this big (see `_body`)


@dataclass(frozen=True, slots=True)
class PreparedBlock:
    """A block ready to send: its bytes, their CRC32C checksums (one per `bytes_per_checksum`
    bytes), and the SHA-256 of the body they make, which the writer signs and every node of
    the pipeline checks."""

    data: bytes
    bytes_per_checksum: int
    sums: bytes
    content: str

    @classmethod
    def of(cls, data: bytes, bytes_per_checksum: int) -> PreparedBlock:
        sums = chunk_checksums(data, bytes_per_checksum)
        hasher = hashlib.sha256(data)
        hasher.update(sums)
        return cls(data, bytes_per_checksum, sums, hasher.hexdigest())


def _exactly(pieces: Iterator[bytes]) -> Callable[[int], bytes]:
    """A function taking exactly n bytes from the stream `pieces` each call; a stream that
    ends first is an UnavailableError (the answer was cut short)."""
    held = bytearray()

    def take(n: int) -> bytes:
        while len(held) < n:
            piece = next(pieces, b"")
            if not piece:
                raise UnavailableError(f"answer cut short: {n - len(held)} bytes missing")
            held.extend(piece)
        out = bytes(held[:n])
        del held[:n]
        return out

    return take


def _regular_file(src: Any) -> bool:
    """Whether `src` reads from a regular file (a read never waits long), not a pipe, a
    socket or a terminal, or a file object with no descriptor."""
    try:
        return stat.S_ISREG(os.fstat(src.fileno()).st_mode)
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is an OSError
        return False


def _read_full(src: io.BufferedIOBase | Any, n: int) -> bytes:
    """Up to `n` bytes of `src`, fewer only at its end (a pipe or socket may give less per
    read)."""
    pieces: list[bytes] = []
    got = 0
    while got < n:
        piece = src.read(n - got)
        if not piece:
            break
        pieces.append(piece)
        got += len(piece)
    return pieces[0] if len(pieces) == 1 else b"".join(pieces)


def _body(
    data: bytes | memoryview, sums: bytes, sent: Callable[[int], None] | None = None
) -> Iterator[bytes]:
    """A block's request body: its bytes, then its checksums, in pieces of `SEND_PIECE`.
    Never one piece of a whole block: httpcore sends a piece with ``send`` in a loop,
    slicing off what went out each time, and a slice of ``bytes`` is a copy -- of the rest
    of a 64 MiB block after every ~2 MiB the socket took (~0.3 s of CPU a block, most of a
    put's). Each piece is copied once, here. With `sent`, told after each piece went out."""
    view = memoryview(data)
    for i in range(0, len(view), SEND_PIECE):
        yield bytes(view[i : i + SEND_PIECE])
        if sent is not None:
            sent(min(i + SEND_PIECE, len(view)))
    yield sums


def _webhdfs_url(path: str) -> str:
    """The namenode's WebHDFS URL path for `path`, quoted: a name may hold '#', '?' or '%',
    which a URL would otherwise read as its own."""
    return f"/webhdfs/v1{urllib.parse.quote(paths.normalize(path))}"


def _ids_of(located: LocatedBlock, urls: list[str]) -> list[str]:
    by_url = {loc.url: loc.id for loc in located.locations}
    return [by_url[u] for u in urls if u in by_url]


def _flag(value: bool) -> str:
    return "true" if value else "false"


M = TypeVar("M", bound=BaseModel)


def _parsed(model: type[M], response: httpx.Response) -> M:
    """A namenode's answer as `model`, parsed from its bytes; one that is not (something
    else answering at its address) is an IOException saying so, not a validation error
    that reads like a mistake in the caller's settings."""
    try:
        return model.model_validate_json(response.content)
    except ValidationError as exc:
        first = exc.errors()[0]["msg"] if exc.error_count() else str(exc)
        url = response.request.url
        raise MiniHadoopError(
            f"the answer from {url.host}:{url.port} to {url.path} is not one minihadoop "
            f"sends: {first}"
        ) from None


def _status(path: str, w: dict[str, Any]) -> FileStatus:
    return FileStatus(
        path=path,
        type=FileType(w["type"]),
        length=w["length"],
        replication=w["replication"],
        block_size=w["blockSize"],
        modification_time=w["modificationTime"],
        access_time=w["accessTime"],
        owner=w["owner"],
        group=w["group"],
        permission=w["permission"],
        children_num=w.get("childrenNum", 0),
        file_id=w.get("fileId", 0),
    )


def _token_param(located: LocatedBlock) -> dict[str, str]:
    """The block access token the namenode gave with the block, for a datanode to check
    when this client does not sign with the cluster token."""
    return {"token": located.token} if located.token else {}
