"""Reading a name folder written before the namespace was replicated, to carry it forward.

Earlier versions kept the namespace as `fsimage_<txid>.json` images and `edits_<txid>.log`
segments: frames of ``u32 length | u32 CRC32C | payload``, each payload the JSON of
``{"txid": n, **command}``. The image format is today's snapshot image
(`namenode.checkpoint`), and a command record is today's, except that `AddBlock` and
`ReassignLease` then carried the ids the namenode had chosen before logging them. It chose
them exactly as `apply` allocates them now (the last id plus one), so dropping those
fields and applying the commands in order rebuilds the same namespace, ids included.

`read_old_layout` returns that namespace, or None when the folder holds no old files; the
namesystem stores it as its first snapshot and moves the old files into `previous/`, as
HDFS keeps its previous storage on an upgrade. Damage anywhere but a torn last record is an
error naming the file and offset, as the old journal's own start-up was.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from minihadoop.errors import MiniHadoopError
from namenode import checkpoint
from namenode import commands as c
from namenode.namespace import Namespace
from raft.framing import FrameError, read_frames

_IMAGE = re.compile(r"^fsimage_(\d+)\.json$")
_SEGMENT = re.compile(r"^edits_(\d+)\.log$")
PREVIOUS = "previous"
# The ids an old namenode chose before logging a command, which apply now allocates.
_DECIDED_BEFORE = {"AddBlock": ("block_id", "gen"), "ReassignLease": ("gen",)}


class OldLayoutError(MiniHadoopError):
    """The old journal is damaged somewhere other than its torn tail."""


def old_files(name_dir: Path) -> list[Path]:
    return sorted(p for p in name_dir.iterdir() if _IMAGE.match(p.name) or _SEGMENT.match(p.name))


def read_old_layout(name_dir: Path) -> tuple[Namespace, int] | None:
    """The namespace an old name folder holds, and its last transaction id; None when it
    holds none."""
    files = old_files(name_dir)
    if not files:
        return None
    ns, txid = _newest_image(name_dir)
    segments = sorted(
        (int(m.group(1)), p) for p in files if (m := _SEGMENT.match(p.name)) is not None
    )
    for i, (_, path) in enumerate(segments):
        txid = _replay(ns, txid, path, is_last=i == len(segments) - 1)
    return ns, txid


def _newest_image(name_dir: Path) -> tuple[Namespace, int]:
    images = sorted((int(m.group(1)), p) for p in name_dir.iterdir() if (m := _IMAGE.match(p.name)))
    for _, path in reversed(images):
        try:
            return checkpoint.load(json.loads(path.read_text()))
        except (ValueError, KeyError, TypeError, IndexError):
            continue  # a damaged image: the one before it, as the old start-up did
    return Namespace(), 0


def _replay(ns: Namespace, txid: int, path: Path, *, is_last: bool) -> int:
    data = memoryview(path.read_bytes())
    try:
        for offset, payload in read_frames(data):
            record = json.loads(bytes(payload))
            found = int(record.pop("txid"))
            if found <= txid:
                continue
            if found != txid + 1:
                raise OldLayoutError(
                    f"{path.name}: expected transaction {txid + 1}, found {found} "
                    "(a segment is missing)"
                )
            for name in _DECIDED_BEFORE.get(record.get("op", ""), ()):
                record.pop(name, None)
            try:
                ns.apply(c.from_record(record))
            except MiniHadoopError as e:
                raise OldLayoutError(
                    f"{path.name} at offset {offset}: transaction {found} does not replay: {e}"
                ) from e
            txid = found
    except FrameError as e:
        if not (is_last and e.torn):
            problem = f"{path.name} is corrupt at offset {e.offset}: {e.problem}"
            raise OldLayoutError(problem) from None
    except (ValueError, KeyError, TypeError) as e:
        raise OldLayoutError(f"{path.name}: unreadable record ({e})") from None
    return txid


def set_aside(name_dir: Path) -> Path:
    """Move the old files into `previous/` (kept, as HDFS keeps its previous storage)."""
    previous = name_dir / PREVIOUS
    previous.mkdir(mode=0o700, exist_ok=True)
    for path in old_files(name_dir):
        path.replace(previous / path.name)
    return previous
