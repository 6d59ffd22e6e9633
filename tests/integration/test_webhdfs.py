"""WebHDFS: existing HDFS clients (fsspec, HdfsCLI) and raw HTTP against a real cluster."""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import fsspec
import httpx
import pytest
from hdfs import TokenClient
from hdfs.util import HdfsError

from minihadoop.delegation import DelegationToken
from minihadoop.errors import AccessControlError
from minihadoop.filesystem import FileSystem
from minihadoop.localcluster import LocalCluster
from minihadoop.signing import ClusterAuth, Keys

pytestmark = pytest.mark.integration


@pytest.fixture
def nn(cluster: LocalCluster) -> str:
    return cluster._require().namenode


@pytest.fixture
def token(cluster: LocalCluster) -> str:
    return cluster._require().token


@pytest.fixture
def delegation(fs: FileSystem) -> str:
    """What a WebHDFS client holds: a delegation token, never the cluster token."""
    return fs.get_delegation_token()


@pytest.fixture
def webhdfs(nn: str, delegation: str) -> fsspec.AbstractFileSystem:
    host, port = nn.split("//")[1].rsplit(":", 1)
    return fsspec.filesystem(
        "webhdfs", host=host, port=int(port), token=delegation, skip_instance_cache=True
    )


def test_fsspec_as_a_user_would(webhdfs: fsspec.AbstractFileSystem, fs: FileSystem) -> None:
    data = os.urandom(5 * 1000 * 1000)  # several blocks, written as CREATE + APPENDs
    webhdfs.mkdir("/fsspec/a")
    with webhdfs.open("/fsspec/a/data.bin", "wb", block_size=1 << 20) as f:
        for i in range(0, len(data), 700_000):
            f.write(data[i : i + 700_000])
    assert webhdfs.ls("/fsspec/a", detail=False) == ["/fsspec/a/data.bin"]
    info = webhdfs.info("/fsspec/a/data.bin")
    assert (info["size"], info["type"]) == (len(data), "file")
    assert webhdfs.cat("/fsspec/a/data.bin") == data
    with webhdfs.open("/fsspec/a/data.bin", "rb") as f:
        f.seek(2_500_000)
        assert f.read(10_000) == data[2_500_000:2_510_000]
    assert fs.read_bytes("/fsspec/a/data.bin") == data  # the native client agrees
    assert fs.blocks("/fsspec/a/data.bin").blocks[0].block.length == 1 << 20  # full blocks
    checksum = webhdfs.checksum("/fsspec/a/data.bin")
    assert checksum == webhdfs.checksum("/fsspec/a/data.bin")
    webhdfs.mv("/fsspec/a/data.bin", "/fsspec/a/moved.bin")
    assert not webhdfs.exists("/fsspec/a/data.bin")
    assert webhdfs.cat("/fsspec/a/moved.bin") == data
    webhdfs.rm("/fsspec", recursive=True)
    assert not webhdfs.exists("/fsspec")
    with pytest.raises(FileNotFoundError):
        webhdfs.info("/fsspec/nothing")


def test_hdfscli_as_a_user_would(nn: str, delegation: str) -> None:
    client = TokenClient(nn, delegation)
    body = b"".join(b"line %d\n" % i for i in range(200_000))  # ~1.3 MB, two blocks
    client.makedirs("/hdfscli/dir")

    def chunks() -> Iterator[bytes]:  # a generator: sent chunked
        for i in range(0, len(body), 65_536):
            yield body[i : i + 65_536]

    client.write("/hdfscli/dir/lines.txt", data=chunks(), overwrite=True, replication=2)
    status = client.status("/hdfscli/dir/lines.txt")
    assert (status["length"], status["replication"], status["type"]) == (len(body), 2, "FILE")
    assert client.list("/hdfscli/dir") == ["lines.txt"]
    with client.read("/hdfscli/dir/lines.txt", offset=100, length=50) as reader:
        assert reader.read() == body[100:150]
    client.write("/hdfscli/dir/lines.txt", data=b"tail\n", append=True)
    with client.read("/hdfscli/dir/lines.txt") as reader:
        assert hashlib.sha256(reader.read()).digest() == hashlib.sha256(body + b"tail\n").digest()
    assert client.checksum("/hdfscli/dir/lines.txt")["length"] == 28
    client.set_replication("/hdfscli/dir/lines.txt", 3)
    client.set_permission("/hdfscli/dir/lines.txt", "600")
    client.set_owner("/hdfscli/dir/lines.txt", owner="bob", group="staff")
    client.set_times("/hdfscli/dir/lines.txt", modification_time=1_000_000, access_time=2_000_000)
    status = client.status("/hdfscli/dir/lines.txt")
    assert (status["permission"], status["owner"], status["group"]) == ("600", "bob", "staff")
    assert (status["modificationTime"], status["accessTime"]) == (1_000_000, 2_000_000)
    assert client.content("/hdfscli")["fileCount"] == 1
    client.rename("/hdfscli/dir/lines.txt", "/hdfscli/renamed.txt")
    assert client.status("/hdfscli/dir/lines.txt", strict=False) is None
    with pytest.raises(HdfsError):
        client.rename("/hdfscli/nothing", "/hdfscli/x")
    assert client.delete("/hdfscli", recursive=True)
    assert client.status("/hdfscli", strict=False) is None


def test_redirects_and_noredirect(nn: str, token: str, fs: FileSystem) -> None:
    auth = ClusterAuth(token)
    # carol writes where anybody may (/tmp); a user who gives no name reads what others may.
    r = httpx.put(f"{nn}/webhdfs/v1/tmp/raw/f?op=CREATE&overwrite=true&user.name=carol", auth=auth)
    assert r.status_code == 307 and r.content == b""
    location = r.headers["location"]
    query = parse_qs(urlsplit(location).query)
    assert query["op"] == ["CREATE"] and query["user.name"] == ["carol"]
    # A client following the redirect is authorised there by a delegation token made for
    # this op on this path, never by the cluster token, which does not travel.
    (delegation,) = query["delegation"]
    assert token not in location
    scoped = DelegationToken.decode(delegation, Keys.derive(token).delegation)
    assert (scoped.user, scoped.ops, scoped.path) == ("carol", ("CREATE",), "/tmp/raw/f")
    datanodes = {d["url"] for d in fs.cluster()["datanodes"]}
    assert location.split("/webhdfs")[0] in datanodes
    r = httpx.put(location, content=b"hello")
    assert r.status_code == 201 and r.headers["location"].startswith("webhdfs://")
    assert fs.read_bytes("/tmp/raw/f") == b"hello" and fs.stat("/tmp/raw/f").owner == "carol"

    r = httpx.post(
        f"{nn}/webhdfs/v1/tmp/raw/f?op=APPEND&noredirect=true&user.name=carol", auth=auth
    )
    assert r.status_code == 200
    append_url = r.json()["Location"]
    for part in (b" big", b"", b" world"):  # one datanode URL, reused for every append
        assert httpx.post(append_url, content=part).status_code == 200
    assert fs.read_bytes("/tmp/raw/f") == b"hello big world"

    r = httpx.get(f"{nn}/webhdfs/v1/tmp/raw/f?op=OPEN&offset=6&length=3")
    assert r.status_code == 307
    assert httpx.get(r.headers["location"]).content == b"big"
    r = httpx.get(f"{nn}/webhdfs/v1/tmp/raw/f?op=OPEN&noredirect=true")
    assert httpx.get(r.json()["Location"]).content == b"hello big world"

    def chunked() -> Iterator[bytes]:
        yield b"a" * 100_000
        yield b"b" * 100_000

    r = httpx.put(
        f"{nn}/webhdfs/v1/tmp/raw/chunked?op=CREATE&noredirect=true&user.name=carol", auth=auth
    )
    assert httpx.put(r.json()["Location"], content=chunked()).status_code == 201
    assert fs.read_bytes("/tmp/raw/chunked") == b"a" * 100_000 + b"b" * 100_000

    locations = httpx.get(f"{nn}/webhdfs/v1/tmp/raw/chunked?op=GETFILEBLOCKLOCATIONS").json()
    block = locations["BlockLocations"]["BlockLocation"][0]
    assert block["offset"] == 0 and block["length"] == 200_000 and len(block["hosts"]) == 3


@pytest.mark.parametrize(
    ("method", "url", "status", "exception"),
    [
        ("GET", "/webhdfs/v1/nope?op=GETFILESTATUS", 404, "FileNotFoundException"),
        ("GET", "/webhdfs/v1/nope?op=OPEN", 404, "FileNotFoundException"),
        ("GET", "/webhdfs/v1/x?op=NOSUCHOP", 400, "IllegalArgumentException"),
        ("GET", "/webhdfs/v1/a/%2E%2E/b?op=GETFILESTATUS", 400, "IllegalArgumentException"),
        ("GET", "/webhdfs/v1/x?op=OPEN&offset=-1", 400, "IllegalArgumentException"),
        ("PUT", "/webhdfs/v1/x?op=MKDIRS&permission=999", 400, "IllegalArgumentException"),
        (
            "PUT",
            "/webhdfs/v1/x?op=SETREPLICATION&replication=lots",
            400,
            "IllegalArgumentException",
        ),
        ("DELETE", "/webhdfs/v1/x?op=DELETE&recursive=maybe", 400, "IllegalArgumentException"),
        # Hadoop's operations minihadoop lacks are unsupported, not unknown.
        ("GET", "/webhdfs/v1/x?op=GETSNAPSHOTLIST", 400, "UnsupportedOperationException"),
        ("GET", "/webhdfs/v1/?op=GETXATTRS&encoding=rot13", 400, "IllegalArgumentException"),
        (
            "PUT",
            "/webhdfs/v1/?op=SETXATTR&xattr.name=user.a&xattr.value=0xZZ",
            400,
            "IllegalArgumentException",
        ),
        ("PUT", "/webhdfs/v1/?op=REMOVEXATTR", 400, "IllegalArgumentException"),
        ("PUT", "/webhdfs/v1/x?op=CREATESNAPSHOT", 400, "UnsupportedOperationException"),
        ("POST", "/webhdfs/v1/x?op=UNSETSTORAGEPOLICY", 400, "UnsupportedOperationException"),
        ("POST", "/webhdfs/v1/nope?op=TRUNCATE&newlength=0", 404, "FileNotFoundException"),
        ("POST", "/webhdfs/v1/x?op=TRUNCATE", 400, "IllegalArgumentException"),
        ("POST", "/webhdfs/v1/x?op=TRUNCATE&newlength=-1", 400, "IllegalArgumentException"),
        ("DELETE", "/webhdfs/v1/x?op=DELETESNAPSHOT", 400, "UnsupportedOperationException"),
        ("POST", "/webhdfs/v1/nope?op=CONCAT&sources=/nope2", 404, "FileNotFoundException"),
        ("POST", "/webhdfs/v1/x?op=CONCAT", 400, "IllegalArgumentException"),
        ("GET", "/webhdfs/v1/nope?op=CHECKACCESS&fsaction=r--", 404, "FileNotFoundException"),
        ("GET", "/webhdfs/v1/?op=CHECKACCESS&fsaction=rwz", 400, "IllegalArgumentException"),
        ("GET", "/webhdfs/v1/nope?op=LISTSTATUS_BATCH", 404, "FileNotFoundException"),
        ("GET", "/webhdfs/v1/nope?op=GETSTORAGEPOLICY", 404, "FileNotFoundException"),
    ],
)
def test_errors_in_hadoops_shape(
    nn: str, token: str, method: str, url: str, status: int, exception: str
) -> None:
    r = httpx.request(method, f"{nn}{url}", auth=ClusterAuth(token))
    assert r.status_code == status, r.text
    remote = r.json()["RemoteException"]
    assert remote["exception"] == exception
    assert remote["javaClassName"].endswith(exception)
    assert remote["message"]


def test_mutations_need_the_token_reads_do_not(
    nn: str, token: str, delegation: str, fs: FileSystem
) -> None:
    fs.write_bytes("/tok/f", b"data")
    for method, url in [
        ("PUT", "/webhdfs/v1/tok/x?op=MKDIRS"),
        ("PUT", "/webhdfs/v1/tok/x?op=CREATE"),
        ("POST", "/webhdfs/v1/tok/f?op=APPEND"),
        ("DELETE", "/webhdfs/v1/tok?op=DELETE&recursive=true"),
        ("PUT", "/webhdfs/v1/tok/f?op=RENAME&destination=/tok/g"),
        ("PUT", "/webhdfs/v1/tok/f?op=SETREPLICATION&replication=1&delegation=wrong"),
        # The cluster token itself is no credential on the wire, in any form.
        ("PUT", f"/webhdfs/v1/tok/x?op=MKDIRS&delegation={token}"),
        ("PUT", f"/webhdfs/v1/tok/x?op=MKDIRS&user.name=x&delegation={token}"),
    ]:
        r = httpx.request(method, f"{nn}{url}")
        assert r.status_code == 401, (method, url)
        assert r.json()["RemoteException"]["exception"] == "SecurityException"
    assert fs.read_bytes("/tok/f") == b"data" and not fs.exists("/tok/x")
    assert fs.stat("/tok/f").replication == 3
    assert (
        httpx.put(
            f"{nn}/webhdfs/v1/tok/x?op=MKDIRS", headers={"authorization": f"Bearer {token}"}
        ).status_code
        == 401
    )
    r = httpx.put(f"{nn}/webhdfs/v1/tok/x?op=MKDIRS&delegation={delegation}")
    assert r.json() == {"boolean": True}
    assert httpx.get(f"{nn}/webhdfs/v1/tok/f?op=GETFILESTATUS").status_code == 200
    # A datanode URL without the token is refused too.
    location = httpx.put(
        f"{nn}/webhdfs/v1/tok/y?op=CREATE&user.name={getpass.getuser()}", auth=ClusterAuth(token)
    ).headers["location"]
    bare = location.split("&delegation=")[0]
    assert httpx.put(bare, content=b"x").status_code == 401
    assert not fs.exists("/tok/y")


def test_liststatus_of_a_file_and_unknown_parameters(nn: str, fs: FileSystem) -> None:
    fs.write_bytes("/ls/file.txt", b"12345")
    r = httpx.get(f"{nn}/webhdfs/v1/ls/file.txt?op=LISTSTATUS&tempdir=x&permissions=y")
    (entry,) = r.json()["FileStatuses"]["FileStatus"]
    assert entry["pathSuffix"] == "" and entry["length"] == 5 and entry["type"] == "FILE"
    listing = httpx.get(f"{nn}/webhdfs/v1/ls?op=LISTSTATUS").json()["FileStatuses"]["FileStatus"]
    assert [e["pathSuffix"] for e in listing] == ["file.txt"]
    for field in ("accessTime", "blockSize", "childrenNum", "fileId", "group", "length",
                  "modificationTime", "owner", "pathSuffix", "permission", "replication",
                  "storagePolicy", "type"):  # fmt: skip
        assert field in entry
    assert httpx.get(f"{nn}/webhdfs/v1/?op=GETHOMEDIRECTORY&user.name=dora").json() == {
        "Path": "/user/dora"
    }


def test_native_append_and_cli(fs: FileSystem) -> None:
    fs.write_bytes("/app/f", b"x" * 1_500_000, block_size=1 << 20)
    with fs.append("/app/f") as out:
        out.write(b"y" * 1_000_000)
    assert fs.read_bytes("/app/f") == b"x" * 1_500_000 + b"y" * 1_000_000
    assert [b.block.length for b in fs.blocks("/app/f").blocks] == [
        1 << 20,
        1 << 20,
        2_500_000 - 2 * (1 << 20),
    ]
    # A failed append leaves the old content whole: readers never see half of it.
    with pytest.raises(RuntimeError), fs.append("/app/f") as out:
        out.write(b"z" * 10)
        raise RuntimeError("writer died")
    assert fs.stat("/app/f").length == 2_500_000


def test_token_read_policy_closes_reads_too(
    make_cluster: Callable[..., LocalCluster],
) -> None:
    cluster = make_cluster(datanodes=1, replication=1, read_policy="token")
    info = cluster._require()
    with FileSystem.from_cluster(cluster.directory) as fs:
        fs.write_bytes("/private/f", b"secret")
        assert fs.read_bytes("/private/f") == b"secret"  # with the token: fine
    anonymous = httpx.get(f"{info.namenode}/webhdfs/v1/private/f?op=GETFILESTATUS")
    assert anonymous.status_code == 401
    with FileSystem(info.namenode, info.token) as fs:
        block = fs.blocks("/private/f").blocks[0]
    direct = httpx.get(f"{block.locations[0].url}/dn/v1/blocks/{block.block.block_id}")
    assert direct.status_code == 401  # datanodes follow the same policy
    with FileSystem(info.namenode, token=None) as no_token, pytest.raises(PermissionError):
        no_token.read_bytes("/private/f")


def test_paged_listing_defaults_policies_acls_and_access(
    make_cluster: Callable[..., LocalCluster],
) -> None:
    cluster = make_cluster(datanodes=1, replication=1, ls_limit=3, user_groups="bob=eng,staff")
    info = cluster._require()
    nn = info.namenode
    names = ["a", "b", "c", "d", "e", "f", "g"]
    with FileSystem(nn, info.token) as admin:  # the superuser gives alice a folder
        admin.mkdir("/paged")
        admin.chown("/paged", owner="alice")
    with FileSystem(nn, info.token, user="alice") as fs:
        for name in names:
            fs.write_bytes(f"/paged/{name}", name.encode())
        fs.chmod("/paged/a", "640")
        with pytest.raises(AccessControlError, match="does not belong to eng"):
            fs.chown("/paged/a", group="eng")
    with FileSystem(nn, info.token) as admin:
        admin.chown("/paged/a", group="eng")
    with FileSystem(nn, info.token, user="alice") as fs:
        fs.chmod("/paged", "1775")

    def get(path: str, **params: str) -> httpx.Response:
        return httpx.get(f"{nn}/webhdfs/v1{path}", params=params, auth=ClusterAuth(info.token))

    # Page through as a client does: startAfter the last name of each page.
    seen, after, pages = [], None, 0
    while True:
        params = {"op": "LISTSTATUS_BATCH", **({"startAfter": after} if after else {})}
        listing = get("/paged", **params).json()["DirectoryListing"]
        page = listing["partialListing"]["FileStatuses"]["FileStatus"]
        seen += [e["pathSuffix"] for e in page]
        pages += 1
        assert len(page) <= 3
        if listing["remainingEntries"] == 0:
            break
        assert listing["remainingEntries"] == len(names) - len(seen)
        after = page[-1]["pathSuffix"]
    assert seen == names and pages == 3
    single = get("/paged/a", op="LISTSTATUS_BATCH").json()["DirectoryListing"]
    assert single["partialListing"]["FileStatuses"]["FileStatus"][0]["pathSuffix"] == ""
    assert single["partialListing"]["FileStatuses"]["FileStatus"][0]["length"] == 1

    defaults = get("/", op="GETSERVERDEFAULTS").json()["FsServerDefaults"]
    assert defaults["replication"] == 1 and defaults["checksumType"] == 2
    assert defaults["blockSize"] > 0 and defaults["bytesPerChecksum"] > 0
    policy = get("/paged", op="GETSTORAGEPOLICY").json()["BlockStoragePolicy"]
    assert policy["name"] == "HOT" and policy["storageTypes"] == ["DISK"]
    every = get("/", op="GETALLSTORAGEPOLICY").json()["BlockStoragePolicies"]
    assert every["BlockStoragePolicy"] == [policy]
    usage = get("/paged", op="GETQUOTAUSAGE").json()["QuotaUsage"]
    assert usage["fileAndDirectoryCount"] == len(names) + 1 and usage["quota"] == -1

    acl = get("/paged", op="GETACLSTATUS").json()["AclStatus"]
    assert acl == {"entries": [], "group": "supergroup", "owner": "alice",
                   "permission": "775", "stickyBit": True}  # fmt: skip

    # The mode's rule: owner, then group, then others.
    def access(path: str, user: str, action: str) -> int:
        return get(path, op="CHECKACCESS", fsaction=action, **{"user.name": user}).status_code

    assert access("/paged/a", "alice", "rw-") == 200
    assert access("/paged/a", "bob", "r--") == 200  # in group eng (MINIHADOOP_USER_GROUPS)
    assert access("/paged/a", "bob", "rw-") == 403
    assert access("/paged/a", "eng", "r--") == 403  # a user named like the group is not in it
    assert access("/paged/a", "mallory", "r--") == 403
    denied = get("/paged/a", op="CHECKACCESS", fsaction="r--", **{"user.name": "mallory"})
    assert denied.json()["RemoteException"]["exception"] == "AccessControlException"
    assert access("/paged/b", "mallory", "r--") == 200  # 644
    with FileSystem(nn, info.token) as fs:
        delegation = fs.get_delegation_token()
    assert access("/paged/a", getpass.getuser(), "rwx") == 200  # the namenode's user: super
    assert access("/paged/a", "hadoop", "r--") == 403  # a name of no special standing
    nobody = get("/paged/a", op="CHECKACCESS", fsaction="r--")  # no user.name: not super
    assert (
        nobody.status_code == 403 and "user=dr.who" in nobody.json()["RemoteException"]["message"]
    )

    # CONCAT: the sources' blocks move to the target's end; the sources are gone.
    r = httpx.post(f"{nn}/webhdfs/v1/paged/b?op=CONCAT&sources=/paged/c,/paged/d",
                   auth=ClusterAuth(info.token))  # fmt: skip
    assert r.status_code == 403  # no user.name: dr.who, who may not write alice's files
    r = httpx.post(f"{nn}/webhdfs/v1/paged/b?op=CONCAT&sources=/paged/c,/paged/d&user.name=alice",
                   auth=ClusterAuth(info.token))  # fmt: skip
    assert r.status_code == 200 and r.content == b""
    with FileSystem(nn, info.token) as fs:
        assert fs.read_bytes("/paged/b") == b"bcd"
        assert not fs.exists("/paged/c") and not fs.exists("/paged/d")

    client = TokenClient(nn, delegation)
    assert client.acl_status("/paged/a")["permission"] == "640"
    with pytest.raises(HdfsError, match="not supported"):
        client.allow_snapshot("/paged")


def test_extended_attributes_in_hadoops_shapes_and_across_a_restart(
    make_cluster: Callable[..., LocalCluster], tmp_path: Path
) -> None:
    cluster = make_cluster(datanodes=1, replication=1)
    info = cluster._require()
    nn, auth = info.namenode, ClusterAuth(info.token)
    with FileSystem(nn, info.token) as fs:
        fs.write_bytes("/x/f", b"data")

    def call(method: str, **params: str) -> httpx.Response:
        params = {"user.name": getpass.getuser(), **params}  # the file's owner
        return httpx.request(method, f"{nn}/webhdfs/v1/x/f", params=params, auth=auth)

    assert call("PUT", op="SETXATTR", **{"xattr.name": "USER.color", "xattr.value": '"blue"'},
                flag="CREATE").status_code == 200  # fmt: skip
    assert call("PUT", op="SETXATTR", **{"xattr.name": "user.raw", "xattr.value": "0x00ff"},
                flag="CREATE").status_code == 200  # fmt: skip
    again = call("PUT", op="SETXATTR", **{"xattr.name": "user.raw", "xattr.value": "0x01"},
                 flag="CREATE")  # fmt: skip
    assert again.status_code == 403 and "REPLACE flag" in again.json()["RemoteException"]["message"]
    got = call("GET", op="GETXATTRS", encoding="text").json()["XAttrs"]
    assert {"name": "user.color", "value": '"blue"'} in got
    one = call("GET", op="GETXATTRS", **{"xattr.name": "user.raw"}, encoding="hex").json()
    assert one == {"XAttrs": [{"name": "user.raw", "value": "0x00ff"}]}
    names = call("GET", op="LISTXATTRS").json()["XAttrNames"]
    assert isinstance(names, str) and json.loads(names) == ["user.color", "user.raw"]
    missing = call("GET", op="GETXATTRS", **{"xattr.name": "user.none"})
    assert missing.status_code == 403
    assert missing.json()["RemoteException"]["message"] == (
        "At least one of the attributes provided was not found: user.none on /x/f"
    )
    trusted = call("PUT", op="SETXATTR", **{"xattr.name": "trusted.t", "xattr.value": "1"})
    assert trusted.json()["RemoteException"]["exception"] == "AccessControlException"

    # The CLI, in Hadoop's getfattr form.
    env = {**os.environ, "MINIHADOOP_HOME": str(cluster.directory)}
    cli = [sys.executable, "-m", "cli", "fs"]
    subprocess.run([*cli, "setfattr", "-n", "user.note", "-v", "hello", "/x/f"], env=env,
                   check=True, timeout=60)  # fmt: skip
    shown = subprocess.run([*cli, "getfattr", "-d", "/x/f"], env=env, check=True,
                           capture_output=True, text=True, timeout=60).stdout  # fmt: skip
    assert shown.splitlines() == ["# file: /x/f", 'user.color="blue"', 'user.note="hello"',
                                  'user.raw="\x00\ufffd"']  # fmt: skip

    # Durable: the same after the namenode restarts (its log and image), and gone with the file.
    cluster.kill("namenode", signal.SIGKILL)  # no checkpoint on the way out: the log replays
    cluster.restart("namenode")
    with FileSystem(nn, info.token, retry_window=30) as fs:
        assert fs.get_xattrs("/x/f") == {"user.color": b"blue", "user.note": b"hello",
                                         "user.raw": b"\x00\xff"}  # fmt: skip
        fs.remove_xattr("/x/f", "user.note")
        assert fs.list_xattrs("/x/f") == ["user.color", "user.raw"]
        fs.rm("/x/f", skip_trash=True)
        fs.write_bytes("/x/f", b"new")
        assert fs.get_xattrs("/x/f") == {}
