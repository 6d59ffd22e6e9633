"""The namespace made durable: newest checkpoint + edit log replay on start; log on change.

`Journal.open()` rebuilds the namespace as it was when the last acknowledged mutation was
answered. `log(cmd)` must be called in apply order (under the namesystem's lock);
`sync(txid)` must return before the client is answered.
"""

from __future__ import annotations

from pathlib import Path

from minihadoop.errors import MiniHadoopError
from namenode import checkpoint
from namenode.commands import NamespaceCommand, from_record, to_record
from namenode.editlog import EditLog, EditLogCorruptError, read_segment, segments
from namenode.namespace import Namespace


class Journal:
    def __init__(self, directory: Path, *, checkpoint_every: int) -> None:
        self.directory = directory
        self.checkpoint_every = checkpoint_every
        self._log: EditLog | None = None
        self._since_checkpoint = 0
        self.replayed = 0

    def open(self) -> Namespace:
        self.directory.mkdir(parents=True, exist_ok=True)
        loaded = checkpoint.load_newest(self.directory)
        ns, txid = loaded if loaded is not None else (Namespace(), 0)
        segs = segments(self.directory)
        for i, (_, path) in enumerate(segs):
            for rec_txid, record in read_segment(path, is_last=i == len(segs) - 1):
                if rec_txid <= txid:
                    continue
                if rec_txid != txid + 1:
                    raise checkpoint_gap(path, txid, rec_txid)
                try:
                    ns.apply(from_record(record))
                except MiniHadoopError as e:
                    # Only accepted commands are logged, and apply is deterministic.
                    raise EditLogCorruptError(
                        f"edit log {path.name}: transaction {rec_txid} does not replay: {e}"
                    ) from e
                txid = rec_txid
                self.replayed += 1
        self._log = EditLog(self.directory, txid + 1)
        self._since_checkpoint = self.replayed
        return ns

    @property
    def log_(self) -> EditLog:
        assert self._log is not None, "Journal.open() first"
        return self._log

    def log(self, cmd: NamespaceCommand) -> int:
        self._since_checkpoint += 1
        return self.log_.append(to_record(cmd))

    def sync(self, txid: int) -> None:
        self.log_.sync(txid)

    @property
    def last_txid(self) -> int:
        return self.log_.last_txid

    @property
    def synced_txid(self) -> int:
        return self.log_.synced_txid

    def checkpoint_due(self) -> bool:
        return self._since_checkpoint >= self.checkpoint_every

    def checkpoint(self, ns: Namespace) -> None:
        """Write an image of `ns` (which must include every logged command), roll the log."""
        log = self.log_
        log.sync(log.last_txid)
        checkpoint.save(self.directory, ns, log.last_txid)
        log.roll()
        checkpoint.purge(self.directory)
        self._since_checkpoint = 0

    def close(self, ns: Namespace | None = None) -> None:
        if self._log is None:
            return
        if ns is not None and self._since_checkpoint:
            self.checkpoint(ns)
        self._log.close()
        self._log = None


def checkpoint_gap(path: Path, have: int, found: int) -> Exception:
    return EditLogCorruptError(
        f"edit log {path.name}: expected transaction {have + 1}, found {found} "
        "(a segment is missing)"
    )
