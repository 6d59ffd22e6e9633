"""The DFS with real processes: files in and out, whole and checksummed."""

from __future__ import annotations

import concurrent.futures
import hashlib
import io
import os
from pathlib import Path

import pytest

from minihadoop.errors import (
    AlreadyBeingCreatedError,
    FileAlreadyExistsError,
    FileNotFoundError_,
    InvalidPathError,
    PathIsNotEmptyDirectoryError,
)
from minihadoop.filesystem import FileSystem
from minihadoop.localcluster import LocalCluster
from tests.support import wait_for

pytestmark = pytest.mark.integration


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_put_get_50mb_with_1mib_blocks(fs: FileSystem, tmp_path: Path) -> None:
    data = os.urandom(50 * 1000 * 1000)
    local = tmp_path / "big.bin"
    local.write_bytes(data)
    status = fs.put(local, "/big/big.bin", block_size=1 << 20)
    assert status.length == len(data)
    assert status.replication == 3

    back = tmp_path / "back.bin"
    assert fs.get("/big/big.bin", back) == len(data)
    assert sha256(back.read_bytes()) == sha256(data)

    located = fs.blocks("/big/big.bin")
    assert len(located.blocks) == 48  # ceil(50e6 / 2**20)
    report = fs.fsck("/big")
    assert report["status"] == "HEALTHY"
    assert report["blocks"] == 48
    blocks = report["files_detail"][0]["blocks"]
    assert all(b["live_replicas"] == 3 and len(set(b["locations"])) == 3 for b in blocks)
    assert report["verdict"] == "The filesystem under path '/big' is HEALTHY"


class Trickle(io.RawIOBase):
    """A source that gives at most `most` bytes a read, as a pipe or a socket may."""

    def __init__(self, data: bytes, most: int) -> None:
        self.data, self.most, self.pos = data, most, 0

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        n = self.most if n < 0 else min(n, self.most)
        piece = self.data[self.pos : self.pos + n]
        self.pos += len(piece)
        return piece


MiB = 1 << 20


@pytest.mark.parametrize(
    ("size", "most", "before"),
    [
        (3 * MiB + 12345, 100_000, b""),  # short reads: blocks still whole
        (2 * MiB, MiB, b""),  # an exact multiple, the source's end found by an empty read
        (2 * MiB + 7, 3 * MiB, b"head of the file\n"),  # write() first: a partial block
        (1000, 3 * MiB, b"x" * (MiB - 10)),  # the source ends inside the buffered block
        (0, MiB, b""),
    ],
)
@pytest.mark.parametrize("source", ["pipe-like", "file"])  # read ahead from a file only
def test_write_from_keeps_every_byte_in_order(
    fs: FileSystem, tmp_path: Path, size: int, most: int, before: bytes, source: str
) -> None:
    data = os.urandom(size)
    (tmp_path / "src").write_bytes(data)
    told: list[int] = []
    path = f"/write-from/{source}-{size}-{most}-{len(before)}"
    with (
        fs.create(path, block_size=MiB, replication=1, progress=told.append) as out,
        open(tmp_path / "src", "rb") as file,
    ):
        out.write(before)
        out.write_from(Trickle(data, most) if source == "pipe-like" else file)
    whole = before + data
    assert fs.read_bytes(path) == whole
    assert sum(told) == len(whole)  # progress: every byte once, retries or not
    lengths = [b.block.length for b in fs.blocks(path).blocks]
    assert lengths == [MiB] * (len(whole) // MiB) + ([len(whole) % MiB] if len(whole) % MiB else [])


def test_ranged_and_streaming_reads(fs: FileSystem) -> None:
    data = os.urandom(3 * (1 << 20) + 12345)
    fs.write_bytes("/ranges/f", data, block_size=1 << 20)
    with fs.open("/ranges/f") as f:
        assert f.read(10) == data[:10]
        f.seek((1 << 20) - 5)  # across a block boundary and an unaligned chunk
        assert f.read(100) == data[(1 << 20) - 5 : (1 << 20) + 95]
        f.seek(-7, os.SEEK_END)
        assert f.read() == data[-7:]
        assert f.read(5) == b""
    assert b"".join(fs.cat("/ranges/f")) == data


@pytest.mark.parametrize("bpc", [512, 3 * MiB // 2])  # a chunk far smaller, and bigger, than a read
def test_reads_verify_and_cut_at_any_chunk_size(
    cluster: LocalCluster, bpc: int, tmp_path: Path
) -> None:
    data = os.urandom(5 * MiB + 4321)
    with FileSystem.from_cluster(cluster.directory, bytes_per_checksum=bpc) as client:
        client.write_bytes(f"/chunks/{bpc}", data, block_size=4 * MiB, replication=1)
        assert client.read_bytes(f"/chunks/{bpc}") == data
        assert client.get(f"/chunks/{bpc}", tmp_path / "back") == len(data)
        assert (tmp_path / "back").read_bytes() == data
        with client.open(f"/chunks/{bpc}") as f:
            for at in (0, bpc - 1, 2 * MiB + 17, 4 * MiB - 3, len(data) - 5):
                f.seek(at)
                assert f.read(MiB + 9) == data[at : at + MiB + 9]


def test_empty_file_and_exact_block_multiple(fs: FileSystem) -> None:
    fs.write_bytes("/edge/empty", b"")
    assert fs.stat("/edge/empty").length == 0
    assert fs.read_bytes("/edge/empty") == b""
    exact = os.urandom(2 << 20)
    fs.write_bytes("/edge/exact", exact, block_size=1 << 20)
    assert len(fs.blocks("/edge/exact").blocks) == 2
    assert fs.read_bytes("/edge/exact") == exact


def test_file_invisible_until_closed_and_write_once(fs: FileSystem) -> None:
    out = fs.create("/wo/file")
    out.write(b"hello ")
    assert not fs.exists("/wo/file")
    with pytest.raises(AlreadyBeingCreatedError), FileSystem(fs.namenode, fs.token) as other:
        other.create("/wo/file")
    out.write(b"world")
    out.close()
    assert fs.read_bytes("/wo/file") == b"hello world"
    with pytest.raises(FileAlreadyExistsError):
        fs.write_bytes("/wo/file", b"again")
    fs.write_bytes("/wo/file", b"replaced", overwrite=True)
    assert fs.read_bytes("/wo/file") == b"replaced"


def test_namespace_operations(fs: FileSystem) -> None:
    fs.mkdir("/ns/a/b/c")
    fs.write_bytes("/ns/a/b/c/f1", b"1" * 1000)
    fs.write_bytes("/ns/a/f2", b"2" * 500)
    assert [s.name for s in fs.ls("/ns/a")] == ["b", "f2"]
    assert fs.stat("/ns/a").is_dir
    du = fs.du("/ns")
    assert (du.length, du.file_count, du.space_consumed) == (1500, 2, 4500)

    fs.mv("/ns/a/f2", "/ns/a/b")  # into a folder keeps the name
    assert fs.read_bytes("/ns/a/b/f2") == b"2" * 500
    with pytest.raises(FileAlreadyExistsError):
        fs.mv("/ns/a/b/f2", "/ns/a/b/c/f1")
    with pytest.raises(FileNotFoundError_):
        fs.mv("/ns/nope", "/ns/x")

    with pytest.raises(PathIsNotEmptyDirectoryError):
        fs.rm("/ns/a")
    fs.rm("/ns/a/b/f2")  # to the trash, with its full path
    trash = f"/user/{fs.user}/.Trash/Current/ns/a/b/f2"
    assert fs.read_bytes(trash) == b"2" * 500
    fs.rm("/ns/a", recursive=True, skip_trash=True)
    assert not fs.exists("/ns/a")
    with pytest.raises(FileNotFoundError_):
        fs.rm("/ns/a")


def test_setrep_changes_live_replica_count(fs: FileSystem) -> None:
    fs.write_bytes("/rep/f", os.urandom(3 << 20), block_size=1 << 20)

    def replicas() -> list[int]:
        return [b["live_replicas"] for b in fs.fsck("/rep")["files_detail"][0]["blocks"]]

    fs.setrep("/rep/f", 1)
    wait_for(lambda: replicas() == [1, 1, 1], what="extra replicas removed")
    fs.setrep("/rep/f", 2)
    wait_for(lambda: replicas() == [2, 2, 2], what="replicas added")
    assert fs.stat("/rep/f").replication == 2


def test_concurrent_writers_and_readers(fs: FileSystem) -> None:
    payloads = {f"/conc/f{i}": os.urandom(300_000 + i * 7919) for i in range(12)}

    def write(path: str) -> None:
        with FileSystem(fs.namenode, fs.token) as client:
            client.write_bytes(path, payloads[path], block_size=1 << 20)

    def read(path: str) -> str:
        with FileSystem(fs.namenode, fs.token) as client:
            return sha256(client.read_bytes(path))

    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        list(pool.map(write, payloads))
        hashes = dict(zip(payloads, pool.map(read, payloads), strict=True))
    assert hashes == {p: sha256(d) for p, d in payloads.items()}


def test_bad_input_gets_clear_errors_and_changes_nothing(
    fs: FileSystem, cluster: LocalCluster
) -> None:
    before = fs.du("/")
    for bad in ("relative/path", "/a/../b", "/a\x00b", "/x:y"):
        with pytest.raises(InvalidPathError):
            fs.mkdir(bad)
    with pytest.raises(FileNotFoundError_):
        fs.read_bytes("/no/such/file")
    with pytest.raises(FileNotFoundError_):
        fs.stat("/no/such/file")
    with FileSystem(fs.namenode, token=None) as anonymous:
        assert anonymous.exists("/")  # reads are open by default
        with pytest.raises(PermissionError):
            anonymous.mkdir("/should/not/exist")
    with FileSystem(fs.namenode, token="wrong") as forger, pytest.raises(PermissionError):
        forger.write_bytes("/forged", b"x")
    assert not fs.exists("/should")
    assert not fs.exists("/forged")
    after = fs.du("/")
    assert (after.file_count, after.directory_count) == (before.file_count, before.directory_count)
