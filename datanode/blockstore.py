"""Block replicas on local disk. The only module that touches block files.

Layout under the data folder::

    VERSION                  the datanode's id (stable across restarts)
    tmp/blk_<id>.<nonce>     a replica being received
    current/<sub>/blk_<id>       finalized replica data
    current/<sub>/blk_<id>.meta  header + CRC32C of every chunk

A replica is finalized by fsyncing data and meta, then renaming meta and finally data into
`current/`: the data file's rename is the commit point. On start, anything in `tmp/` is
thrown away, and a meta file without its data is removed — a crash never leaves a replica
that looks whole but is not. A file whose name is no replica's (an operator's note, an
editor's backup) is left alone with a warning naming it: it is not ours to delete, and not
a reason to refuse to start.

Writes refuse what would make a replica lie: other bytes for a block and generation
already finalized here (`ReplicaAlreadyExistsError`; the same bytes again are a harmless
retry, and a damaged replica may be replaced) and a disk that fills mid-write
(`DiskOutOfSpaceError`, with the partial files removed). Error messages name blocks,
never paths on this machine.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import shutil
import struct
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from minihadoop.checksum import CHECKSUM_SIZE, ChunkChecksummer, checksum_length, verify
from minihadoop.durable import fsync_dir
from minihadoop.errors import (
    BlockNotFoundError,
    ChecksumError,
    DiskOutOfSpaceError,
    IllegalArgumentError,
    ReplicaAlreadyExistsError,
)
from minihadoop.models import ReplicaReport

_META = struct.Struct("<4sHIQQ")  # magic, version, bytes per checksum, gen, length
_MAGIC = b"MHBM"
READ_SIZE = 1 << 20
_DATA_NAME = re.compile(r"blk_([1-9][0-9]{0,18})")
_META_NAME = re.compile(r"blk_([1-9][0-9]{0,18})\.meta")
_FULL = (errno.ENOSPC, errno.EDQUOT)

log = logging.getLogger("minihadoop.datanode")


@contextlib.contextmanager
def _disk_full_is_clear(block_id: int) -> Iterator[None]:
    """A full disk becomes DiskOutOfSpaceError for the caller; the OSError would name a
    file on this machine and read as a server fault."""
    try:
        yield
    except OSError as exc:
        if exc.errno in _FULL:
            raise DiskOutOfSpaceError(
                f"no space left on this datanode's disk for block {block_id}"
            ) from None
        raise


@dataclass(frozen=True, slots=True)
class Replica:
    block_id: int
    gen: int
    length: int
    bytes_per_checksum: int
    data_path: Path
    meta_path: Path

    @property
    def report(self) -> ReplicaReport:
        return ReplicaReport(block_id=self.block_id, gen=self.gen, length=self.length)


class BlockStore:
    def __init__(self, root: Path, *, capacity: int = 0) -> None:
        """`capacity` > 0 caps what this node offers (a quota), else the disk's size."""
        self.root = root
        self.capacity_limit = capacity
        self.tmp = root / "tmp"
        self.current = root / "current"
        for d in (self.tmp, self.current):
            d.mkdir(parents=True, exist_ok=True)
        # Only the datanode's own account may read replicas, whatever a folder was made with
        # (HDFS's dfs.datanode.data.dir.perm, 700): block data is the users' files, and a
        # reader of the DFS has its permissions checked, a reader of this folder would not.
        root.chmod(0o700)
        for leftover in self.tmp.iterdir():
            leftover.unlink(missing_ok=True)
        version = root / "VERSION"
        if not version.exists():
            version.write_text(uuid.uuid4().hex[:16])
        self.datanode_id = version.read_text().strip()
        self._replicas: dict[int, Replica] = {}
        self._load()

    # --- paths ----------------------------------------------------------------------------

    def _dir_for(self, block_id: int) -> Path:
        return self.current / f"subdir{block_id % 64}"

    def _paths(self, block_id: int) -> tuple[Path, Path]:
        d = self._dir_for(block_id)
        return d / f"blk_{block_id}", d / f"blk_{block_id}.meta"

    def _load(self) -> None:
        for sub in sorted(self.current.iterdir()):
            if not sub.is_dir() or not re.fullmatch(r"subdir[0-9]+", sub.name):
                _stray(sub)
                continue
            for entry in sorted(sub.iterdir()):
                meta_name = _META_NAME.fullmatch(entry.name)
                data_name = _DATA_NAME.fullmatch(entry.name)
                if not (meta_name or data_name) or not entry.is_file():
                    _stray(entry)
                elif meta_name:
                    data = entry.with_suffix("")
                    if not data.exists():
                        entry.unlink(missing_ok=True)
                        continue
                    replica = self._read_meta(int(meta_name.group(1)), data, entry)
                    if replica is not None:
                        self._replicas[replica.block_id] = replica
                elif not entry.with_suffix(".meta").exists():
                    entry.unlink(missing_ok=True)  # data whose finalize never got its meta in

    def _read_meta(self, block_id: int, data: Path, meta: Path) -> Replica | None:
        try:
            with open(meta, "rb") as f:
                magic, _version, bpc, gen, length = _META.unpack(f.read(_META.size))
        except (OSError, struct.error):
            return None
        if magic != _MAGIC:
            return None
        # The length is the one written at finalize; a truncated data file shows up as a
        # checksum or length error when read or scanned, not as a shorter replica.
        return Replica(block_id, gen, length, bpc, data, meta)

    # --- queries --------------------------------------------------------------------------

    def get(self, block_id: int) -> Replica:
        replica = self._replicas.get(block_id)
        if replica is None:
            raise BlockNotFoundError(f"block {block_id} is not on this datanode")
        return replica

    def has(self, block_id: int) -> bool:
        return block_id in self._replicas

    def replicas(self) -> list[Replica]:
        return list(self._replicas.values())

    def used(self) -> int:
        return sum(r.length for r in self._replicas.values())

    def capacity(self) -> tuple[int, int, int]:
        """(capacity, used, remaining) in bytes."""
        used = self.used()
        disk = shutil.disk_usage(self.root)
        if self.capacity_limit:
            cap = self.capacity_limit
            return cap, used, max(0, min(cap - used, disk.free))
        return disk.total, used, disk.free

    # --- writing --------------------------------------------------------------------------

    def begin(self, block_id: int, gen: int, bytes_per_checksum: int) -> ReplicaWriter:
        if bytes_per_checksum < 1:
            raise IllegalArgumentError("bytes per checksum must be positive")
        nonce = uuid.uuid4().hex[:8]
        with _disk_full_is_clear(block_id):
            return ReplicaWriter(
                self, block_id, gen, bytes_per_checksum, self.tmp / f"blk_{block_id}.{nonce}"
            )

    def _finalized_twin(self, writer: ReplicaWriter, checksums: bytes) -> Replica | None:
        """A finalized replica is immutable. A write of the same block and generation over
        it would leave readers new bytes under the namenode's old length, so different
        bytes are refused (HDFS: ReplicaAlreadyExistsException); the same bytes again (a
        client retrying a pipeline) change nothing and return the replica already here. A
        damaged replica, whose files are gone or the wrong size, may be replaced."""
        old = self._replicas.get(writer.block_id)
        if old is None or old.gen != writer.gen:
            return None
        try:
            self.check_size(old)
            same = (
                old.length == writer.length
                and old.bytes_per_checksum == writer.bytes_per_checksum
                and self.checksums(old, 0, len(checksums) // CHECKSUM_SIZE) == checksums
            )
        except (ChecksumError, OSError):
            return None
        if same:
            return old
        raise ReplicaAlreadyExistsError(
            f"block {writer.block_id} (generation {writer.gen}) is already finalized on this "
            "datanode with other contents"
        )

    def _finalize(self, writer: ReplicaWriter, checksums: bytes) -> Replica:
        twin = self._finalized_twin(writer, checksums)
        if twin is not None:
            writer.tmp_path.unlink(missing_ok=True)
            return twin
        data_path, meta_path = self._paths(writer.block_id)
        tmp_meta = writer.tmp_path.with_suffix(writer.tmp_path.suffix + ".meta")
        try:
            with _disk_full_is_clear(writer.block_id):
                data_path.parent.mkdir(exist_ok=True)
                with open(tmp_meta, "wb") as f:
                    f.write(
                        _META.pack(_MAGIC, 1, writer.bytes_per_checksum, writer.gen, writer.length)
                    )
                    f.write(checksums)
                    f.flush()
                    os.fsync(f.fileno())
        except BaseException:
            tmp_meta.unlink(missing_ok=True)
            raise
        old = self._replicas.pop(writer.block_id, None)
        if old is not None:  # a newer copy replaces the old one (re-replication of a rotten one)
            old.data_path.unlink(missing_ok=True)
        tmp_meta.replace(meta_path)
        writer.tmp_path.replace(data_path)
        fsync_dir(data_path.parent)
        replica = Replica(
            writer.block_id,
            writer.gen,
            writer.length,
            writer.bytes_per_checksum,
            data_path,
            meta_path,
        )
        self._replicas[writer.block_id] = replica
        return replica

    def recover(self, block_id: int, gen: int, length: int) -> Replica:
        """Lease recovery: the replica becomes its first `length` bytes under the stamp
        `gen`. Rewritten whole through tmp/ like any received replica (its bytes verified on
        the way, the last chunk's checksum recomputed), so a crash leaves the old replica
        or the new one. Refused when `length` is more than the replica has, or `gen` is not
        newer than its stamp (an older recovery arriving late)."""
        replica = self.get(block_id)
        if length > replica.length:
            raise IllegalArgumentError(
                f"block {block_id} has {replica.length} bytes, cannot recover {length}"
            )
        if gen <= replica.gen:
            raise IllegalArgumentError(
                f"block {block_id} has stamp {replica.gen}; recovery {gen} is not newer"
            )
        self.check_size(replica)
        writer = self.begin(block_id, gen, replica.bytes_per_checksum)
        try:
            bpc = replica.bytes_per_checksum
            end = min(replica.length, -(-length // bpc) * bpc)  # whole chunks, to verify
            pos = 0
            for piece in self.verified_range(replica, 0, end):
                keep = piece[: max(0, length - pos)]
                if keep:
                    writer.write(keep)
                pos += len(piece)
        except BaseException:
            writer.abort()
            raise
        return writer.finish(None, length)

    def delete(self, block_id: int) -> bool:
        replica = self._replicas.pop(block_id, None)
        data_path, meta_path = self._paths(block_id)
        data_path.unlink(missing_ok=True)
        meta_path.unlink(missing_ok=True)
        return replica is not None

    # --- reading --------------------------------------------------------------------------

    def checksums(self, replica: Replica, first_chunk: int, chunks: int) -> bytes:
        with open(replica.meta_path, "rb") as f:
            f.seek(_META.size + first_chunk * CHECKSUM_SIZE)
            out = f.read(chunks * CHECKSUM_SIZE)
        if len(out) != chunks * CHECKSUM_SIZE:
            raise ChecksumError(f"block {replica.block_id}: checksum file is truncated")
        return out

    def read_range(self, replica: Replica, start: int, end: int) -> Iterator[bytes]:
        """The bytes [start, end) of a replica, in pieces of about READ_SIZE."""
        with open(replica.data_path, "rb") as f:
            f.seek(start)
            pos = start
            while pos < end:
                piece = f.read(min(READ_SIZE, end - pos))
                if not piece:
                    raise ChecksumError(
                        f"block {replica.block_id}: data file is truncated at {pos}"
                    )
                pos += len(piece)
                yield piece

    def verified_range(self, replica: Replica, start: int, end: int) -> Iterator[bytes]:
        """Like `read_range`, but checks each piece against the stored checksums first.

        `start` must be chunk-aligned; pieces are whole chunks except perhaps the last.
        """
        bpc = replica.bytes_per_checksum
        if start % bpc:
            raise IllegalArgumentError("verified reads start on a chunk boundary")
        piece_size = max(bpc, READ_SIZE - READ_SIZE % bpc)
        with open(replica.data_path, "rb") as f, open(replica.meta_path, "rb") as m:
            f.seek(start)
            m.seek(_META.size + (start // bpc) * CHECKSUM_SIZE)
            pos = start
            while pos < end:
                piece = f.read(min(piece_size, end - pos))
                if len(piece) != min(piece_size, end - pos):
                    raise ChecksumError(f"block {replica.block_id}: data file is truncated")
                sums = m.read(checksum_length(len(piece), bpc))
                verify(piece, sums, bpc, where=f"block {replica.block_id}", first_chunk=pos // bpc)
                pos += len(piece)
                yield piece

    def report(self) -> list[ReplicaReport]:
        """Every replica that is whole on disk, for a block report. One whose data or
        checksum file went missing or changed length behind our back is left out, so the
        namenode stops counting it here and copies the block elsewhere (what HDFS's
        directory scanner achieves)."""
        out = []
        for r in self._replicas.values():
            try:
                self.check_size(r)
            except ChecksumError:
                continue
            out.append(r.report)
        return out

    def check_size(self, replica: Replica) -> None:
        """Raise ChecksumError when the data or checksum file is missing or not the length
        it had when the replica was finalized."""
        expected_meta = _META.size + checksum_length(replica.length, replica.bytes_per_checksum)
        for path, expected in (
            (replica.data_path, replica.length),
            (replica.meta_path, expected_meta),
        ):
            try:
                size = path.stat().st_size
            except FileNotFoundError:
                raise ChecksumError(f"block {replica.block_id}: {path.name} is missing") from None
            if size != expected:
                raise ChecksumError(
                    f"block {replica.block_id}: {path.name} has {size} bytes, expected {expected}"
                )

    def scan(self, replica: Replica) -> None:
        """Verify a whole replica; raises ChecksumError when it has rotten."""
        self.check_size(replica)
        for _ in self.verified_range(replica, 0, replica.length):
            pass


class ReplicaWriter:
    """Receives one replica's bytes into tmp/, checksumming them as they arrive."""

    def __init__(
        self, store: BlockStore, block_id: int, gen: int, bpc: int, tmp_path: Path
    ) -> None:
        self.store = store
        self.block_id = block_id
        self.gen = gen
        self.bytes_per_checksum = bpc
        self.tmp_path = tmp_path
        self._file: BinaryIO = open(tmp_path, "wb")  # noqa: SIM115 - closed in finish/abort
        self._summer = ChunkChecksummer(bpc)

    @property
    def length(self) -> int:
        return self._summer.length

    def write(self, piece: bytes | memoryview) -> None:
        self._summer.update(piece)
        with _disk_full_is_clear(self.block_id):
            self._file.write(piece)

    def finish(
        self, expected_checksums: bytes | None, expected_length: int | None = None
    ) -> Replica:
        """Check what arrived against the sender's checksums, make it durable, finalize."""
        try:
            actual = self._summer.finish()
            if expected_length is not None and expected_length != self.length:
                raise ChecksumError(
                    f"block {self.block_id}: received {self.length} bytes, "
                    f"expected {expected_length}"
                )
            if expected_checksums is not None and expected_checksums != actual:
                raise ChecksumError(
                    f"block {self.block_id}: checksums do not match the data received"
                )
            with _disk_full_is_clear(self.block_id):
                self._file.flush()
                os.fsync(self._file.fileno())
                self._file.close()
            return self.store._finalize(self, actual)
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        with contextlib.suppress(OSError):
            self._file.close()
        self.tmp_path.unlink(missing_ok=True)


def _stray(path: Path) -> None:
    log.warning("block store: skipping %s, which is not a replica file", path)
