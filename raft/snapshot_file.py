"""Snapshot files: one Raft snapshot (meta and data) per file, written atomically.

``snap_<index>_<term>.snap`` (both zero-padded to 20 digits, so names sort by index) holds::

    "RSNP" | u8 version | u32 crc32c(body) | body
    body = u64 index | u64 term | u16 voter count | (u16 length | UTF-8 name) per voter | data

The version comes before the checksum so that a newer layout (which might checksum
differently) is refused as newer, not reported as corrupt. A file is written as a temporary
``.snap_*.tmp``, fsynced, renamed into place and the folder fsynced: after a crash the name
holds the whole snapshot or does not exist. Leftover temporaries are removed on open.
"""

from __future__ import annotations

import os
import re
import struct
from pathlib import Path
from typing import BinaryIO

import crc32c

from minihadoop.durable import fsync_dir
from raft.errors import RaftLogCorruptError, RaftLogVersionError
from raft.types import Snapshot, SnapshotMeta

SNAPSHOT_VERSION = 1
MAGIC = b"RSNP"
_HEAD = struct.Struct("<4sBI")
_META = struct.Struct("<QQH")
_VOTER = struct.Struct("<H")
_NAME = re.compile(r"^snap_(\d{20})_(\d{20})\.snap$")
_CHUNK = 1 << 20


def snapshot_name(meta: SnapshotMeta) -> str:
    return f"snap_{meta.index:020d}_{meta.term:020d}.snap"


def snapshot_files(directory: Path) -> list[tuple[int, int, Path]]:
    """(index, term, path) of every snapshot file, oldest first."""
    found = []
    for p in directory.iterdir():
        m = _NAME.match(p.name)
        if m:
            found.append((int(m.group(1)), int(m.group(2)), p))
    return sorted(found)


def remove_temporaries(directory: Path) -> None:
    for p in directory.glob(".snap_*.tmp"):
        p.unlink()


def _encode_meta(meta: SnapshotMeta) -> bytes:
    parts = [_META.pack(meta.index, meta.term, len(meta.voters))]
    for voter in meta.voters:
        name = voter.encode()
        parts.append(_VOTER.pack(len(name)) + name)
    return b"".join(parts)


def write_snapshot(directory: Path, snapshot: Snapshot) -> Path:
    """Write `snapshot` durably under its name (see the module docstring); its path."""
    return publish_snapshot(stage_snapshot(directory, snapshot), snapshot.meta)


def stage_snapshot(directory: Path, snapshot: Snapshot, tag: str = "") -> Path:
    """Write `snapshot` durably to a temporary file (`tag` keeps writers apart); its path.
    Nothing reads it until `publish_snapshot` gives it its name."""
    tmp = staged_path(directory, snapshot.meta, tag)
    meta = _encode_meta(snapshot.meta)
    checksum = crc32c.crc32c(snapshot.data, crc32c.crc32c(meta))
    with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as f:
        f.write(_HEAD.pack(MAGIC, SNAPSHOT_VERSION, checksum))
        f.write(meta)
        f.write(snapshot.data)
        f.flush()
        os.fsync(f.fileno())
    return tmp


def staged_path(directory: Path, meta: SnapshotMeta, tag: str = "") -> Path:
    return directory / f".{snapshot_name(meta)}{tag}.tmp"


def publish_snapshot(staged: Path, meta: SnapshotMeta) -> Path:
    final = staged.parent / snapshot_name(meta)
    staged.replace(final)
    fsync_dir(staged.parent)
    return final


def read_meta(path: Path) -> SnapshotMeta:
    """The meta of a snapshot file, after checking the whole file's checksum."""
    meta, _ = _read(path, keep_data=False)
    return meta


def read_snapshot(path: Path, name: str = "") -> Snapshot:
    """The snapshot in `path`, whose name (or `name`, for a staged file) must be the one
    of the snapshot it holds."""
    meta, data = _read(path, keep_data=True, name=name)
    return Snapshot(meta, data)


def _read(path: Path, *, keep_data: bool, name: str = "") -> tuple[SnapshotMeta, bytes]:
    def corrupt(problem: str) -> RaftLogCorruptError:
        return RaftLogCorruptError(f"snapshot {path} is corrupt: {problem}")

    with open(path, "rb") as f:
        head = f.read(_HEAD.size)
        if len(head) < _HEAD.size:
            raise corrupt(f"truncated header at offset {len(head)}")
        magic, version, checksum = _HEAD.unpack(head)
        if magic != MAGIC:
            raise corrupt(f"bad magic {magic!r} at offset 0")
        if version > SNAPSHOT_VERSION:
            raise RaftLogVersionError(
                f"snapshot {path} was written by format version {version}; "
                f"this build reads up to {SNAPSHOT_VERSION}"
            )
        # The meta is read before the checksum is known good, so it is read field by field
        # with every length bounded by the file; a damaged one fails the checksum below.
        # The data is read in one piece when kept (one copy in memory), else streamed.
        try:
            raw_meta, meta = _read_meta(f)
        except (EOFError, UnicodeDecodeError) as e:
            raise corrupt(f"unreadable meta ({e})") from None
        crc = crc32c.crc32c(raw_meta)
        data = b""
        if keep_data:
            data = f.read()
            crc = crc32c.crc32c(data, crc)
        else:
            while chunk := f.read(_CHUNK):
                crc = crc32c.crc32c(chunk, crc)
    if crc != checksum:
        raise corrupt("checksum mismatch")
    expected = snapshot_name(meta)
    if (name or path.name) != expected:
        raise corrupt(f"it holds the snapshot {expected}")
    return meta, data


def _read_meta(f: BinaryIO) -> tuple[bytes, SnapshotMeta]:
    def take(n: int) -> bytes:
        got = f.read(n)
        if len(got) < n:
            raise EOFError(f"the file ends {n - len(got)} bytes into a field")
        return got

    raw = [take(_META.size)]
    index, term, count = _META.unpack(raw[0])
    voters = []
    for _ in range(count):
        raw.append(take(_VOTER.size))
        (length,) = _VOTER.unpack(raw[-1])
        raw.append(take(length))
        voters.append(raw[-1].decode())
    return b"".join(raw), SnapshotMeta(index, term, tuple(voters))
