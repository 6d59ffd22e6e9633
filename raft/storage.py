"""The durable store of one Raft node: its log, term, vote and snapshots, in one folder.

Layout::

    LOCK                              flock()ed while a store has the folder open
    log_<seq>_<first-index>.wal       the write-ahead log (`raft.wal`): ENTRY, HARD_STATE
                                      and RESET records (`raft.records`)
    snap_<index>_<term>.snap          the newest `keep_snapshots` snapshots (`raft.snapshot_file`)

Contracts:
* `save` carries out one `Ready`: the snapshot first (its own file, written atomically and
  fsynced), then the log records in ONE write, then ONE fdatasync when `sync`. Many
  proposals batched into one `Ready` therefore cost one fdatasync (group commit). Within the
  write the entries come before the hard state, so a torn tail can never leave a commit
  index pointing past the entries on disk; as the write is one fsynced unit, the order is
  otherwise invisible. Term and vote are durable when `save(..., sync=True)` returns: the
  host must not send the `Ready`'s messages before. A commit index alone needs no sync.
* Suffix truncation is done by appending: an entry at or below the last stored index is
  written after the entries it replaces, and loading applies the Raft rule (an entry with
  index i drops every earlier-read entry >= i, `raft.replay`). Nothing is rewritten in
  place, so a crash can only cut the newest records; loading stays one pass over the log.
* A snapshot given to `save` replaces the log up to its index (Raft §7): if the stored log
  holds the snapshot's last entry (same index and term) the entries after it are kept,
  else the whole log is dropped (a RESET record) and continues after the snapshot.
* `compact(snapshot)` is the host's own snapshot of committed state: written durably, then
  log segments wholly covered by the OLDEST kept snapshot are deleted (then, and whenever a
  new segment is started), so a corrupt newest snapshot can fall back to the one before it
  and replay the log from there. With `keep_snapshots=1` segments covered by the newest
  one go at once.
* Loading: a torn record at the very end of the newest segment is dropped and truncated
  away; any other damage is `RaftLogCorruptError` naming the file and offset. A snapshot
  that fails its checksum is renamed ``*.broken`` and the next older one used, if the log
  still holds every entry after it; otherwise loading fails.
* A failed write or fsync fails the store for good (`RaftLogFailedError` from then on):
  what reached the disk is unknown, so nothing more may be written or reported durable.
  The process must stop; starting again reads back what is really there.
* Safety nets (`ValueError`, nothing written): a gap between entries, an entry at or below
  the snapshot, a truncation of a committed entry, a term that goes back, a second vote in
  one term, a commit that goes back or runs past the log, a snapshot older than the stored
  one.

Memory: the store keeps the term of each entry after the snapshot (8 bytes an entry), never
the entries' data; the entries read at open are handed to the host by `initial_state` and
forgotten. Not thread-safe: one host loop drives it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from array import array
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from minihadoop.durable import fsync_dir
from raft import records
from raft.errors import (
    RaftLogCorruptError,
    RaftLogFailedError,
    RaftStorageError,
    RaftStorageLockedError,
)
from raft.framing import MAX_PAYLOAD
from raft.records import Reset
from raft.replay import LogReplay
from raft.snapshot_file import (
    publish_snapshot,
    read_meta,
    read_snapshot,
    remove_temporaries,
    snapshot_files,
    stage_snapshot,
    staged_path,
    write_snapshot,
)
from raft.types import Entry, HardState, PersistentState, Snapshot, SnapshotMeta
from raft.wal import DEFAULT_SEGMENT_SIZE, Segment, WriteAheadLog, list_segments, replay

MAX_ENTRY_DATA = MAX_PAYLOAD - 64
# The tag of a snapshot written off the loop (by `stage`), before it is taken in.
STAGED = ".staged"


@dataclass(frozen=True, slots=True)
class _Loaded:
    state: PersistentState
    snapshot_path: Path | None
    segments: list[Segment]
    newest_size: int


class RaftStorage:
    def __init__(
        self,
        directory: Path,
        lock_fd: int,
        loaded: _Loaded,
        segment_size: int,
        keep_snapshots: int,
    ) -> None:
        self.directory = directory
        self.keep_snapshots = keep_snapshots
        self._lock_fd = lock_fd
        self._loaded: PersistentState | None = loaded.state
        self._hard = loaded.state.hard_state
        self._snap = loaded.state.snapshot
        self._snap_path = loaded.snapshot_path
        # Segments wholly at or below this index may go: the oldest kept snapshot's index.
        kept = snapshot_files(directory)[-keep_snapshots:]
        self._purge_point = kept[0][0] if kept else 0
        self._terms = array("Q", (e.term for e in loaded.state.entries))  # after the snapshot
        self._failed: BaseException | None = None
        self._closed = False
        if loaded.segments:
            self._wal = WriteAheadLog(directory, loaded.segments, loaded.newest_size, segment_size)
        else:
            self._wal = WriteAheadLog.create(directory, segment_size)

    def on_sync(self, observe: Callable[[float], None]) -> None:
        """Have `observe` told each log sync's duration, in seconds."""
        self._wal.on_sync = observe

    @classmethod
    def open(
        cls,
        directory: Path,
        *,
        segment_size: int = DEFAULT_SEGMENT_SIZE,
        keep_snapshots: int = 2,
    ) -> RaftStorage:
        """Open (creating if needed) the store in `directory`: repairs a torn tail, picks
        the newest good snapshot, and holds the folder's lock until `close`."""
        if keep_snapshots < 1:
            raise ValueError("keep_snapshots must be at least 1")
        if not directory.is_dir():
            directory.mkdir(parents=True, mode=0o700)
            fsync_dir(directory.parent)
        # Only the namenode's own account: the log holds the whole namespace and the
        # clients' session ids, and a lock another account could open, it could hold (as
        # HDFS's dfs.namenode.storage.dir.perm, 700).
        directory.chmod(0o700)
        lock_fd = os.open(directory / "LOCK", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(lock_fd)
            raise RaftStorageLockedError(f"raft storage {directory} is open elsewhere") from None
        try:
            remove_temporaries(directory)
            loaded = _load(directory, repair=True)
            return cls(directory, lock_fd, loaded, segment_size, keep_snapshots)
        except BaseException:
            os.close(lock_fd)
            raise

    # ------------------------------------------------------------------ reading

    def initial_state(self) -> PersistentState:
        """Hard state, snapshot meta and the entries after it. The first call hands over
        what `open` read (and the store forgets it); a later one reads the disk again."""
        self._check_open()
        state, self._loaded = self._loaded, None
        return state if state is not None else _load(self.directory, repair=False).state

    def snapshot(self) -> Snapshot | None:
        """The newest durable snapshot, read from its file; None before the first."""
        self._check_open()
        return None if self._snap_path is None else read_snapshot(self._snap_path)

    @property
    def last_index(self) -> int:
        return self._snap.index + len(self._terms)

    # ------------------------------------------------------------------ writing

    def save(
        self,
        hard_state: HardState | None,
        entries: Sequence[Entry],
        snapshot: Snapshot | None,
        *,
        sync: bool,
    ) -> None:
        """Persist one `Ready`'s hard state, entries and snapshot (see the module's
        contracts); durable when it returns if `sync`."""
        self._check_open()
        self._check_failed()
        keep = True if snapshot is None else self._check_snapshot(snapshot.meta)
        self._check_entries(entries, snapshot.meta if snapshot else None, keep)
        if hard_state is not None:
            if entries:
                last = entries[-1].index
            elif snapshot is not None and not keep:
                last = snapshot.meta.index
            else:
                last = self.last_index
            self._check_hard_state(hard_state, last)
        self._loaded = None
        with self._writing():
            if self._wal.full:
                # Before anything of this call is applied: the new segment starts where
                # the log stands now. Records in it that truncate below its first index
                # restart the replayed log there, which is what they mean.
                self._wal.roll(self.last_index + 1, self._opening())
                self._wal.purge(self._purge_point)
            payloads = []
            if snapshot is not None:
                self._install(snapshot, keep=keep)
                if not keep:
                    payloads.append(records.encode(Reset(snapshot.meta.index, snapshot.meta.term)))
            if entries:
                del self._terms[entries[0].index - self._snap.index - 1 :]
                self._terms.extend(e.term for e in entries)
                payloads.extend(records.encode(e) for e in entries)
            if hard_state is not None and hard_state != self._hard:
                self._hard = hard_state
                payloads.append(records.encode(hard_state))
            if payloads:
                self._wal.append(payloads)
            if sync:
                self._wal.sync()

    def stage(self, snapshot: Snapshot) -> Path:
        """Write `snapshot` durably beside the store, at `staging_path`, without taking it
        in yet: another thread or process may, while the store goes on (it touches nothing
        the store reads). Hand the path to `compact`; a staged file never compacted is
        removed when the store is next opened."""
        self._check_open()
        return stage_snapshot(self.directory, snapshot, tag=STAGED)

    def staging_path(self, meta: SnapshotMeta) -> Path:
        return staged_path(self.directory, meta, tag=STAGED)

    def compact(self, snapshot: Snapshot, staged: Path | None = None) -> None:
        """The host snapshotted its state machine up to `snapshot.meta.index` (a committed,
        stored entry): persist the snapshot (or take in the file `stage` wrote for it), drop
        the snapshots past `keep_snapshots` and the log segments wholly covered by the
        oldest one kept."""
        self._check_open()
        self._check_failed()
        meta = snapshot.meta
        if meta.index == self._snap.index and meta.term == self._snap.term:
            return
        if meta.index <= self._snap.index:
            raise ValueError(f"snapshot at {meta.index} is not after the stored {self._snap.index}")
        if meta.index > min(self.last_index, self._hard.commit):
            raise ValueError(
                f"snapshot at {meta.index} is past the commit index {self._hard.commit} "
                f"or the last stored entry {self.last_index}"
            )
        if self._term_at(meta.index) != meta.term:
            raise ValueError(
                f"snapshot ends at ({meta.index}, term {meta.term}) but the stored entry "
                f"{meta.index} has term {self._term_at(meta.index)}"
            )
        self._loaded = None
        with self._writing():
            self._install(snapshot, keep=True, staged=staged)

    def close(self) -> None:
        """Make everything written durable and release the folder. A failed store is only
        released."""
        if self._closed:
            return
        try:
            if self._failed is None:
                with self._writing():
                    self._wal.sync()
        finally:
            self._closed = True
            self._wal.close()
            os.close(self._lock_fd)

    # ------------------------------------------------------------------ internals

    def _install(self, snapshot: Snapshot, *, keep: bool, staged: Path | None = None) -> None:
        """Write the snapshot file, move the log's start past it, prune old snapshots and
        the segments the oldest kept one covers."""
        meta = snapshot.meta
        if staged is None:
            self._snap_path = write_snapshot(self.directory, snapshot)
        else:
            self._snap_path = publish_snapshot(staged, meta)
        if keep:
            del self._terms[: meta.index - self._snap.index]
        else:
            del self._terms[:]
        self._snap = meta
        files = snapshot_files(self.directory)
        for _, _, path in files[: -self.keep_snapshots]:
            path.unlink()
        self._purge_point = files[-self.keep_snapshots :][0][0]
        self._wal.purge(self._purge_point)

    def _opening(self) -> list[bytes]:
        return [] if self._hard == HardState() else [records.encode(self._hard)]

    def _term_at(self, index: int) -> int | None:
        if index == self._snap.index:
            return self._snap.term
        if self._snap.index < index <= self.last_index:
            return self._terms[index - self._snap.index - 1]
        return None

    def _check_snapshot(self, meta: SnapshotMeta) -> bool:
        """Whether the stored log is kept after the snapshot (True) or dropped."""
        if meta.index < 1 or meta.term < 1:
            raise ValueError(f"snapshot at index {meta.index}, term {meta.term}")
        if meta.index < self._snap.index or (
            meta.index == self._snap.index and meta.term != self._snap.term
        ):
            raise ValueError(
                f"snapshot ({meta.index}, term {meta.term}) is not after the stored one "
                f"({self._snap.index}, term {self._snap.term})"
            )
        return self._term_at(meta.index) == meta.term

    def _check_entries(
        self, entries: Sequence[Entry], snapshot: SnapshotMeta | None, keep: bool
    ) -> None:
        if not entries:
            return
        floor = self._snap.index if snapshot is None else snapshot.index
        last = self.last_index if keep else floor
        first = entries[0].index
        if not floor < first <= last + 1:
            raise ValueError(
                f"entries from {first} do not follow the log: after the snapshot at {floor} "
                f"it ends at {last}"
            )
        if first <= min(last, self._hard.commit):
            raise ValueError(f"entries from {first} would drop committed entry {first}")
        for n, e in enumerate(entries):
            if e.index != first + n or e.term < 1:
                raise ValueError(f"entry ({e.index}, term {e.term}) at position {n} of {first}..")
            if len(e.data) > MAX_ENTRY_DATA:
                raise ValueError(f"entry {e.index} holds {len(e.data)} bytes")

    def _check_hard_state(self, hs: HardState, last: int) -> None:
        """`last`: the last index once the entries are written. A commit past it would
        make a store that could not be opened again."""
        old = self._hard
        if hs.term < old.term:
            raise ValueError(f"term would go back from {old.term} to {hs.term}")
        if hs.term == old.term and old.vote is not None and hs.vote != old.vote:
            raise ValueError(f"vote in term {hs.term} would change from {old.vote} to {hs.vote}")
        if hs.commit < old.commit:
            raise ValueError(f"commit would go back from {old.commit} to {hs.commit}")
        if hs.commit > last:
            raise ValueError(f"commit {hs.commit} would be past the last entry {last}")

    def _check_open(self) -> None:
        if self._closed:
            raise ValueError(f"raft storage {self.directory} is closed")

    def _check_failed(self) -> None:
        if self._failed is not None:
            raise RaftLogFailedError(
                f"raft storage {self.directory} failed earlier and accepts no more writes: "
                f"{self._failed!r}"
            )

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """Any failure while writing fails the store for good."""
        self._check_failed()
        try:
            yield
        except BaseException as e:
            self._failed = e
            if isinstance(e, OSError):
                raise RaftLogFailedError(
                    f"raft storage {self.directory}: a write or fsync failed: {e!r}"
                ) from e
            raise


def _load(directory: Path, *, repair: bool) -> _Loaded:
    segments = list_segments(directory)
    snapshots = snapshot_files(directory)
    if not segments:
        if snapshots:
            raise RaftLogCorruptError(
                f"raft storage {directory} has snapshots but no log: its term and vote are lost"
            )
        return _Loaded(PersistentState(), None, [], 0)
    log, newest_size = replay(segments, repair=repair)
    meta, path = _choose_snapshot(directory, log, snapshots, repair=repair)
    entries = log.entries_after(meta)
    hard = log.hard_state
    if hard.commit < meta.index:  # a snapshot holds only committed entries
        hard = HardState(hard.term, hard.vote, meta.index)
    last = meta.index + len(entries)
    if hard.commit > last:
        raise RaftLogCorruptError(
            f"raft log in {directory} is corrupt: the commit index {hard.commit} is past the "
            f"last stored entry {last}"
        )
    return _Loaded(PersistentState(hard, meta, tuple(entries)), path, segments, newest_size)


def _choose_snapshot(
    directory: Path, log: LogReplay, snapshots: list[tuple[int, int, Path]], *, repair: bool
) -> tuple[SnapshotMeta, Path | None]:
    """The newest snapshot that reads back whole and that the log continues; a damaged one
    is renamed aside when (and only when) an older one can stand in for it."""
    broken: list[tuple[Path, RaftLogCorruptError]] = []
    chosen: tuple[SnapshotMeta, Path | None] | None = None
    for _, _, path in reversed(snapshots):
        try:
            meta = read_meta(path)
        except RaftLogCorruptError as e:
            broken.append((path, e))
            continue
        chosen = meta, path
        break
    if chosen is None:
        chosen = SnapshotMeta(), None
    if not log.covers(chosen[0]):
        gap = f"the log starts after entry {log.base}"
        if broken:
            older = chosen[1].name if chosen[1] else "no older snapshot"
            raise RaftLogCorruptError(
                f"{broken[0][1]}; {older} cannot stand in for it: {gap}"
            ) from broken[0][1]
        raise RaftLogCorruptError(f"raft storage {directory} is missing a snapshot: {gap}")
    if broken and repair:
        for path, _ in broken:
            path.rename(path.with_name(path.name + ".broken"))
        fsync_dir(directory)
    return chosen


__all__ = ["RaftStorage", "RaftStorageError"]
