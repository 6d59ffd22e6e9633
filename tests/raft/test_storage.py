"""The Raft store (raft.storage) on real files: round trips, truncation, torn tails,
corruption, compaction, versions, failed fsyncs, and a model-based test of it all."""

from __future__ import annotations

import errno
import os
import shutil
import struct
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import crc32c
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from raft import records
from raft.errors import (
    RaftLogCorruptError,
    RaftLogFailedError,
    RaftLogVersionError,
    RaftStorageLockedError,
)
from raft.framing import frame
from raft.records import Reset
from raft.storage import RaftStorage
from raft.types import Entry, HardState, PersistentState, Snapshot, SnapshotMeta
from raft.wal import list_segments

# --------------------------------------------------------------------------- helpers


def ents(term: int, first: int, last: int, size: int = 8) -> list[Entry]:
    return [
        Entry(term, i, f"{term}:{i}:".encode().ljust(size, b".")) for i in range(first, last + 1)
    ]


def snap(index: int, term: int, data: bytes = b"state") -> Snapshot:
    return Snapshot(SnapshotMeta(index, term, ("nn1", "nn2", "nn3")), data)


def reopen(store: RaftStorage, **kw: int) -> RaftStorage:
    store.close()
    return RaftStorage.open(store.directory, **kw)


def frame_ends(data: bytes) -> list[int]:
    """Where each frame of a healthy segment ends."""
    ends, pos = [], 0
    while pos < len(data):
        pos += 8 + int.from_bytes(data[pos : pos + 4], "little")
        ends.append(pos)
    return ends


def frame_starts(data: bytes) -> list[int]:
    return [0, *frame_ends(data)[:-1]]


def wal_files(directory: Path) -> list[Path]:
    return [s.path for s in list_segments(directory)]


def snap_files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.glob("snap_*.snap"))


# --------------------------------------------------------------------------- round trips


def test_a_new_folder_is_created_and_starts_empty(tmp_path: Path) -> None:
    store = RaftStorage.open(tmp_path / "a" / "b")
    assert store.initial_state() == PersistentState()
    assert store.snapshot() is None
    assert store.last_index == 0
    store.close()
    assert RaftStorage.open(tmp_path / "a" / "b").initial_state() == PersistentState()


def test_hard_state_entries_and_snapshot_survive_reopen(tmp_path: Path) -> None:
    store = RaftStorage.open(tmp_path)
    store.save(HardState(1, "nn1", 0), ents(1, 1, 5), None, sync=True)
    store.save(HardState(2, "nn2", 3), ents(2, 6, 9), None, sync=True)
    store.compact(snap(3, 1, b"image up to 3"))
    store.save(HardState(2, "nn2", 4), [], None, sync=False)
    store = reopen(store)
    state = store.initial_state()
    assert state.hard_state == HardState(2, "nn2", 4)
    assert state.snapshot == snap(3, 1).meta
    assert list(state.entries) == ents(1, 4, 5) + ents(2, 6, 9)
    assert store.snapshot() == snap(3, 1, b"image up to 3")
    assert store.last_index == 9
    store.close()


def test_initial_state_is_handed_over_once_then_read_from_disk(tmp_path: Path) -> None:
    store = RaftStorage.open(tmp_path)
    store.save(HardState(1, None, 0), ents(1, 1, 3), None, sync=True)
    first = store.initial_state()
    assert store._loaded is None  # the store does not keep the entries' bytes
    assert store.initial_state() == first
    store.close()


def test_a_vote_of_none_and_empty_data_round_trip(tmp_path: Path) -> None:
    store = RaftStorage.open(tmp_path)
    store.save(HardState(3, None, 0), [Entry(3, 1, b"")], None, sync=True)
    store = reopen(store)
    assert store.initial_state() == PersistentState(HardState(3, None, 0), entries=(Entry(3, 1),))
    store.close()


def test_a_second_store_on_the_same_folder_is_refused(tmp_path: Path) -> None:
    store = RaftStorage.open(tmp_path)
    with pytest.raises(RaftStorageLockedError, match=str(tmp_path)):
        RaftStorage.open(tmp_path)
    store.close()
    RaftStorage.open(tmp_path).close()


# --------------------------------------------------------------------------- truncation


def test_only_the_owner_may_read_the_folder_or_take_its_lock(tmp_path: Path) -> None:
    """The log holds the whole namespace and every client's session id; a lock another
    account could open, it could hold, and keep the namenode from starting."""
    loose = tmp_path / "name"
    loose.mkdir(mode=0o755)
    store = RaftStorage.open(loose)
    store.save(HardState(1, "nn1", 3), ents(1, 1, 3), None, sync=True)
    store.compact(snap(2, 1))
    store.close()
    assert loose.stat().st_mode & 0o777 == 0o700
    for path in loose.iterdir():
        assert path.stat().st_mode & 0o077 == 0, path.name


def test_a_conflicting_suffix_is_replaced_across_reopen(tmp_path: Path) -> None:
    store = RaftStorage.open(tmp_path)
    store.save(HardState(1, "nn1", 2), ents(1, 1, 10), None, sync=True)
    store.save(HardState(2, "nn2", 2), ents(2, 6, 7), None, sync=True)
    assert store.last_index == 7
    store = reopen(store)
    assert list(store.initial_state().entries) == ents(1, 1, 5) + ents(2, 6, 7)
    store.save(None, ents(2, 8, 9), None, sync=True)
    store = reopen(store)
    assert list(store.initial_state().entries) == ents(1, 1, 5) + ents(2, 6, 9)
    store.close()


def test_truncation_across_a_segment_boundary(tmp_path: Path) -> None:
    store = RaftStorage.open(tmp_path, segment_size=200)
    for i in range(1, 31):
        store.save(HardState(1, "nn1", 1), ents(1, i, i), None, sync=False)
    segments = list_segments(tmp_path)
    assert len(segments) >= 4
    # Back into an older segment: below the newest segment's first index.
    cut = segments[1].first_index + 1
    assert cut < segments[-1].first_index
    store.save(HardState(2, "nn2", 1), ents(2, cut, cut + 2), None, sync=True)
    expected = ents(1, 1, cut - 1) + ents(2, cut, cut + 2)
    store = reopen(store, segment_size=200)
    assert list(store.initial_state().entries) == expected
    assert store.last_index == cut + 2
    store.save(None, ents(2, cut + 3, cut + 40), None, sync=True)
    store = reopen(store, segment_size=200)
    assert list(store.initial_state().entries) == expected + ents(2, cut + 3, cut + 40)
    store.close()


def test_a_snapshot_that_matches_the_log_keeps_the_entries_after_it(tmp_path: Path) -> None:
    store = RaftStorage.open(tmp_path)
    store.save(HardState(2, "nn1", 3), ents(1, 1, 4) + ents(2, 5, 8), None, sync=True)
    store.save(HardState(2, "nn1", 6), [], snap(6, 2), sync=True)
    store = reopen(store)
    state = store.initial_state()
    assert state.snapshot == snap(6, 2).meta
    assert list(state.entries) == ents(2, 7, 8)
    store.close()


def test_a_snapshot_the_log_disagrees_with_replaces_the_whole_log(tmp_path: Path) -> None:
    store = RaftStorage.open(tmp_path)
    store.save(HardState(2, "nn1", 3), ents(1, 1, 4) + ents(2, 5, 8), None, sync=True)
    store.save(HardState(3, None, 6), ents(3, 7, 8), snap(6, 3), sync=True)
    assert store.last_index == 8
    store = reopen(store)
    state = store.initial_state()
    assert state == PersistentState(HardState(3, None, 6), snap(6, 3).meta, tuple(ents(3, 7, 8)))
    # A snapshot past the end of the log replaces it too.
    store.save(HardState(3, None, 20), [], snap(20, 3), sync=True)
    store.save(None, ents(3, 21, 22), None, sync=True)
    store = reopen(store)
    assert store.initial_state().snapshot.index == 20
    assert list(store.initial_state().entries) == ents(3, 21, 22)
    store.close()


def test_a_snapshot_on_disk_whose_log_records_were_lost_still_replaces_the_log(
    tmp_path: Path,
) -> None:
    """The snapshot file is durable before its RESET record is written: a crash between
    leaves the old log, which loading must judge against the snapshot the same way."""
    store = RaftStorage.open(tmp_path)
    store.save(HardState(2, "nn1", 3), ents(1, 1, 4) + ents(2, 5, 8), None, sync=True)
    size = wal_files(tmp_path)[-1].stat().st_size
    store.save(HardState(3, None, 6), [], snap(6, 3), sync=True)
    store.close()
    os.truncate(wal_files(tmp_path)[-1], size)
    state = RaftStorage.open(tmp_path).initial_state()
    # commit is raised to the snapshot: a snapshot holds only committed entries.
    assert state == PersistentState(HardState(2, "nn1", 6), snap(6, 3).meta, ())


# --------------------------------------------------------------------------- torn tails


@dataclass
class LogModel:
    """What the log should hold after a stream of records (test-side, from the contract)."""

    hard_state: HardState = field(default_factory=HardState)
    entries: list[Entry] = field(default_factory=list)

    def apply(self, record: Entry | HardState) -> None:
        if isinstance(record, HardState):
            self.hard_state = record
        else:
            del self.entries[record.index - 1 :]
            self.entries.append(record)

    def state(self) -> PersistentState:
        return PersistentState(self.hard_state, SnapshotMeta(), tuple(self.entries))


def crash_scenario() -> Iterator[tuple[HardState | None, list[Entry], bool]]:
    """Saves with truncations, term changes, commit-only saves and unsynced saves."""
    yield HardState(1, "nn1", 0), ents(1, 1, 6, size=4), True
    yield HardState(1, "nn1", 2), [], False
    yield None, ents(1, 7, 9, size=0), False
    yield HardState(2, "nn2", 3), ents(2, 5, 7, size=12), True
    yield HardState(2, "nn2", 4), ents(2, 8, 8), True
    yield HardState(3, None, 4), [], True
    yield HardState(3, "nn3", 4), ents(3, 6, 10, size=2), True
    yield HardState(3, "nn3", 7), [], False
    yield None, ents(3, 11, 12), True


def test_a_crash_at_every_byte_of_the_newest_segment_loads_a_prefix(tmp_path: Path) -> None:
    """Cut the newest segment at every byte: what loads is exactly the records that were
    whole before the cut (entries first, then the hard state, per save), and at the end of
    each save exactly what that save left."""
    live = tmp_path / "live"
    store = RaftStorage.open(live, segment_size=120)
    model = LogModel()
    base, stream = LogModel(), list[Entry | HardState]()
    boundaries: dict[int, PersistentState] = {}  # newest segment's size after a save
    for hs, entries, sync in crash_scenario():
        before = LogModel(model.hard_state, list(model.entries))
        written: list[Entry | HardState] = list(entries)
        if hs is not None and hs != model.hard_state:
            written.append(hs)
        for record in written:
            model.apply(record)
        count = len(wal_files(live))
        store.save(hs, entries, None, sync=sync)
        if len(wal_files(live)) > count:
            # This save started a new segment, which opens with the hard state before it.
            base, stream, boundaries = before, [before.hard_state, *written], {}
            store = reopen(store)  # the default segment size: no more segments
        else:
            stream += written
        boundaries[wal_files(live)[-1].stat().st_size] = model.state()
    store.close()
    segments = wal_files(live)
    assert len(segments) == 2
    newest = segments[-1].read_bytes()
    ends = frame_ends(newest)
    assert len(ends) == len(stream), "one frame per entry and per changed hard state"
    assert len(boundaries) >= 5

    for cut in range(len(newest) + 1):
        crashed = tmp_path / f"cut{cut}"
        crashed.mkdir()
        shutil.copy(segments[0], crashed)
        (crashed / segments[-1].name).write_bytes(newest[:cut])
        store = RaftStorage.open(crashed)
        whole = sum(1 for end in ends if end <= cut)
        expected = LogModel(base.hard_state, list(base.entries))
        for record in stream[:whole]:
            expected.apply(record)
        assert store.initial_state() == expected.state(), f"cut at {cut}"
        if cut in boundaries:
            assert expected.state() == boundaries[cut]
        store.close()
        # The torn bytes were truncated away; the next writes follow the last good record.
        assert (crashed / segments[-1].name).stat().st_size == max([0, *ends[:whole]])
        shutil.rmtree(crashed)


def test_zero_padding_at_the_end_is_a_torn_tail(tmp_path: Path) -> None:
    store = RaftStorage.open(tmp_path)
    store.save(HardState(1, "nn1", 0), ents(1, 1, 3), None, sync=True)
    store.close()
    with open(wal_files(tmp_path)[-1], "ab") as f:
        f.write(bytes(100))
    store = RaftStorage.open(tmp_path)
    assert list(store.initial_state().entries) == ents(1, 1, 3)
    store.save(None, ents(1, 4, 4), None, sync=True)
    store = reopen(store)
    assert list(store.initial_state().entries) == ents(1, 1, 4)
    store.close()


# --------------------------------------------------------------------------- corruption


def flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x40
    path.write_bytes(bytes(data))


def two_segments(directory: Path) -> list[Path]:
    store = RaftStorage.open(directory, segment_size=1000)
    for i in range(1, 36):
        store.save(HardState(1, "nn1", 0), ents(1, i, i, size=20), None, sync=False)
    store.close()
    segments = wal_files(directory)
    assert len(segments) == 2
    return segments


@pytest.mark.parametrize("which", ["oldest", "newest"])
@pytest.mark.parametrize("part", ["length", "checksum", "payload"])
def test_a_flipped_byte_in_the_middle_names_the_file_and_offset(
    tmp_path: Path, which: str, part: str
) -> None:
    segments = two_segments(tmp_path)
    path = segments[0] if which == "oldest" else segments[-1]
    starts = frame_starts(path.read_bytes())
    assert len(starts) >= 4
    bad = starts[len(starts) // 2]
    flip(path, bad + {"length": 1, "checksum": 5, "payload": 12}[part])
    with pytest.raises(RaftLogCorruptError) as err:
        RaftStorage.open(tmp_path)
    assert str(path) in str(err.value)
    assert f"offset {bad}:" in str(err.value)


def test_a_bad_last_record_of_a_sealed_segment_is_corruption_not_a_torn_tail(
    tmp_path: Path,
) -> None:
    segments = two_segments(tmp_path)
    data = segments[0].read_bytes()
    os.truncate(segments[0], len(data) - 3)
    with pytest.raises(RaftLogCorruptError, match=f"{segments[0].name} is corrupt at offset"):
        RaftStorage.open(tmp_path)


def test_a_missing_segment_is_corruption(tmp_path: Path) -> None:
    store = RaftStorage.open(tmp_path, segment_size=100)
    for i in range(1, 41):
        store.save(HardState(1, "nn1", 0), ents(1, i, i), None, sync=False)
    store.close()
    segments = wal_files(tmp_path)
    segments[1].unlink()
    with pytest.raises(RaftLogCorruptError, match="not consecutive"):
        RaftStorage.open(tmp_path)


def test_a_record_with_a_good_checksum_that_cannot_be_read_is_corruption(tmp_path: Path) -> None:
    store = RaftStorage.open(tmp_path)
    store.save(HardState(1, "nn1", 0), ents(1, 1, 2), None, sync=True)
    store.close()
    path = wal_files(tmp_path)[-1]
    size = path.stat().st_size
    with open(path, "ab") as f:
        f.write(frame(bytes([1, 99])))  # version 1, no such record type
        f.write(frame(records.encode(Entry(1, 3))))
    with pytest.raises(RaftLogCorruptError, match=f"offset {size}: unknown record type 99"):
        RaftStorage.open(tmp_path)


def test_an_entry_after_a_gap_is_corruption(tmp_path: Path) -> None:
    store = RaftStorage.open(tmp_path)
    store.save(HardState(1, "nn1", 0), ents(1, 1, 2), None, sync=True)
    store.close()
    path = wal_files(tmp_path)[-1]
    size = path.stat().st_size
    with open(path, "ab") as f:
        f.write(frame(records.encode(Entry(1, 5))))
    with pytest.raises(RaftLogCorruptError, match=f"offset {size}: entry 5 after entry 2"):
        RaftStorage.open(tmp_path)


# --------------------------------------------------------------------------- versions


def test_a_record_from_a_newer_version_is_refused_clearly(tmp_path: Path) -> None:
    store = RaftStorage.open(tmp_path)
    store.save(HardState(1, "nn1", 0), ents(1, 1, 2), None, sync=True)
    store.close()
    path = wal_files(tmp_path)[-1]
    size = path.stat().st_size
    with open(path, "ab") as f:
        f.write(frame(bytes([2, 1]) + b"a layout this build does not know"))
    with pytest.raises(RaftLogVersionError) as err:
        RaftStorage.open(tmp_path)
    message = str(err.value)
    assert f"{path} at offset {size}" in message
    assert "format version 2" in message and "reads up to 1" in message


def test_a_snapshot_from_a_newer_version_is_refused_not_skipped(tmp_path: Path) -> None:
    store = RaftStorage.open(tmp_path)
    store.save(HardState(1, "nn1", 3), ents(1, 1, 5), None, sync=True)
    store.compact(snap(2, 1))
    store.compact(snap(3, 1))
    store.close()
    newest = tmp_path / snap_files(tmp_path)[-1]
    data = bytearray(newest.read_bytes())
    data[4] = 9
    newest.write_bytes(bytes(data))
    with pytest.raises(RaftLogVersionError, match="format version 9"):
        RaftStorage.open(tmp_path)


# --------------------------------------------------------------------------- snapshots


def test_a_corrupt_newest_snapshot_falls_back_to_the_older_one(tmp_path: Path) -> None:
    store = RaftStorage.open(tmp_path, segment_size=150)
    store.save(HardState(1, "nn1", 30), ents(1, 1, 40), None, sync=True)
    store.compact(snap(10, 1, b"ten"))
    store.compact(snap(30, 1, b"thirty"))
    store.close()
    newest = tmp_path / snap_files(tmp_path)[-1]
    flip(newest, newest.stat().st_size - 2)
    store = RaftStorage.open(tmp_path, segment_size=150)
    state = store.initial_state()
    assert state.snapshot == snap(10, 1).meta
    assert list(state.entries) == ents(1, 11, 40)
    assert state.hard_state.commit == 30
    assert store.snapshot() == snap(10, 1, b"ten")
    assert (tmp_path / (newest.name + ".broken")).exists()
    # The store goes on from the older snapshot; the broken one is out of the way.
    store.compact(snap(20, 1, b"twenty"))
    assert snap_files(tmp_path) == [
        "snap_00000000000000000010_00000000000000000001.snap",
        "snap_00000000000000000020_00000000000000000001.snap",
    ]
    store.close()


def test_a_corrupt_snapshot_the_log_cannot_replace_is_an_error(tmp_path: Path) -> None:
    store = RaftStorage.open(tmp_path, segment_size=150, keep_snapshots=1)
    for first in range(1, 41, 5):  # a segment holds what a save brings: one per save here
        store.save(HardState(1, "nn1", first - 1), ents(1, first, first + 4), None, sync=False)
    store.compact(snap(30, 1))
    assert list_segments(tmp_path)[0].first_index > 1  # the log before 30 is gone
    store.close()
    newest = tmp_path / snap_files(tmp_path)[-1]
    flip(newest, 20)
    with pytest.raises(RaftLogCorruptError) as err:
        RaftStorage.open(tmp_path)
    assert str(newest) in str(err.value)
    assert "checksum mismatch" in str(err.value) and "cannot stand in" in str(err.value)
    assert newest.exists()  # nothing is renamed when loading fails


def test_a_leftover_temporary_snapshot_is_removed(tmp_path: Path) -> None:
    store = RaftStorage.open(tmp_path)
    store.close()
    (tmp_path / ".snap_00000000000000000005_00000000000000000001.snap.tmp").write_bytes(b"half")
    RaftStorage.open(tmp_path).close()
    assert not list(tmp_path.glob("*.tmp"))


# --------------------------------------------------------------------------- compaction


def test_compaction_deletes_covered_segments_and_keeps_everything_after(tmp_path: Path) -> None:
    store = RaftStorage.open(tmp_path, segment_size=200)
    for i in range(1, 101):
        store.save(HardState(1, "nn1", i - 1), ents(1, i, i), None, sync=False)
    before = list_segments(tmp_path)
    assert len(before) > 10

    store.compact(snap(40, 1, b"forty"))
    store.compact(snap(70, 1, b"seventy"))
    after = list_segments(tmp_path)
    # Kept: the segments the older snapshot (40) needs, and no more.
    assert after[0].first_index - 1 <= 40 < after[1].first_index - 1
    assert after[-1] == before[-1]
    assert snap_files(tmp_path) == [
        "snap_00000000000000000040_00000000000000000001.snap",
        "snap_00000000000000000070_00000000000000000001.snap",
    ]
    store.save(HardState(1, "nn1", 99), ents(1, 101, 105), None, sync=True)

    store = reopen(store, segment_size=200)
    state = store.initial_state()
    assert state.snapshot == snap(70, 1).meta
    assert list(state.entries) == ents(1, 71, 105)
    assert state.hard_state == HardState(1, "nn1", 99)
    assert store.snapshot() == snap(70, 1, b"seventy")
    store.close()


def test_compaction_keeping_one_snapshot_deletes_what_it_covers(tmp_path: Path) -> None:
    store = RaftStorage.open(tmp_path, segment_size=200, keep_snapshots=1)
    for i in range(1, 101):
        store.save(HardState(1, "nn1", i), ents(1, i, i), None, sync=False)
    store.compact(snap(40, 1))
    store.compact(snap(90, 1))
    assert snap_files(tmp_path) == ["snap_00000000000000000090_00000000000000000001.snap"]
    first, second, *_ = list_segments(tmp_path)
    assert first.first_index - 1 <= 90 < second.first_index - 1
    store = reopen(store, segment_size=200, keep_snapshots=1)
    assert list(store.initial_state().entries) == ents(1, 91, 100)
    store.close()


def test_the_hard_state_survives_the_deletion_of_the_segment_that_held_it(
    tmp_path: Path,
) -> None:
    store = RaftStorage.open(tmp_path, segment_size=100, keep_snapshots=1)
    store.save(HardState(7, "nn3", 0), [], None, sync=True)
    for i in range(1, 60):
        store.save(HardState(7, "nn3", i), ents(7, i, i), None, sync=False)
    store.compact(snap(59, 7))
    assert all(s.first_index > 1 for s in list_segments(tmp_path))
    store = reopen(store)
    assert store.initial_state() == PersistentState(HardState(7, "nn3", 59), snap(59, 7).meta, ())
    store.close()


# --------------------------------------------------------------------------- failures


@pytest.mark.parametrize("call", ["fdatasync", "fsync"])
def test_a_failed_fsync_fails_the_store_for_good(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, call: str
) -> None:
    store = RaftStorage.open(tmp_path)
    store.save(HardState(1, "nn1", 2), ents(1, 1, 3), None, sync=True)
    real = getattr(os, call)

    def broken(fd: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, call, broken)
    with pytest.raises(RaftLogFailedError, match="Input/output error"):
        if call == "fdatasync":
            store.save(None, ents(1, 4, 4), None, sync=True)
        else:  # the snapshot file's fsync
            store.compact(snap(1, 1))
    monkeypatch.setattr(os, call, real)
    # The disk works again, but what the failed call left is unknown: nothing more.
    with pytest.raises(RaftLogFailedError, match="failed earlier"):
        store.save(None, ents(1, 4, 4), None, sync=False)
    with pytest.raises(RaftLogFailedError, match="failed earlier"):
        store.save(HardState(2, None, 0), [], None, sync=False)
    with pytest.raises(RaftLogFailedError, match="failed earlier"):
        store.compact(snap(1, 1))
    store.close()  # releases the folder without writing
    # A new process reads back what is really there.
    store = RaftStorage.open(tmp_path)
    assert list(store.initial_state().entries)[:3] == ents(1, 1, 3)
    store.close()


def test_a_failed_write_fails_the_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = RaftStorage.open(tmp_path)

    def full(fd: int, data: bytes) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", full)
    with pytest.raises(RaftLogFailedError, match="No space left"):
        store.save(HardState(1, "nn1", 0), ents(1, 1, 3), None, sync=False)
    monkeypatch.undo()
    with pytest.raises(RaftLogFailedError):
        store.save(HardState(1, "nn1", 0), ents(1, 1, 3), None, sync=True)
    store.close()


# --------------------------------------------------------------------------- contract


@pytest.mark.parametrize(
    ("hard_state", "entries", "snapshot", "problem"),
    [
        (None, ents(1, 7, 7), None, "do not follow the log"),
        (None, [Entry(1, 6), Entry(1, 8)], None, "at position 1"),
        (None, ents(1, 2, 2), None, "do not follow the log"),
        (None, ents(2, 3, 3), None, "would drop committed entry 3"),
        (None, [Entry(0, 6)], None, "term 0"),
        (HardState(1, "nn1", 3), [], None, "term would go back"),
        (HardState(2, "nn3", 3), [], None, "vote in term 2 would change"),
        (HardState(2, "nn2", 2), [], None, "commit would go back"),
        (HardState(2, "nn2", 6), [], None, "commit 6 would be past the last entry 5"),
        (HardState(2, "nn2", 7), ents(2, 6, 6), None, "commit 7 would be past the last entry 6"),
        (None, [], snap(1, 1), "not after the stored one"),
        (None, [], snap(2, 2), "not after the stored one"),
        (None, ents(2, 4, 4), snap(4, 1), "do not follow the log"),
    ],
)
def test_a_host_that_breaks_the_contract_gets_a_value_error_and_nothing_is_written(
    tmp_path: Path,
    hard_state: HardState | None,
    entries: list[Entry],
    snapshot: Snapshot | None,
    problem: str,
) -> None:
    store = RaftStorage.open(tmp_path)
    store.save(HardState(2, "nn2", 3), ents(1, 1, 5), None, sync=True)
    store.compact(snap(2, 1))
    sizes = [p.stat().st_size for p in wal_files(tmp_path)]
    with pytest.raises(ValueError, match=problem):
        store.save(hard_state, entries, snapshot, sync=True)
    assert [p.stat().st_size for p in wal_files(tmp_path)] == sizes
    assert snap_files(tmp_path) == ["snap_00000000000000000002_00000000000000000001.snap"]
    store.save(None, ents(2, 6, 6), None, sync=True)  # still usable
    store.close()


def test_compaction_checks_the_snapshot_against_the_log(tmp_path: Path) -> None:
    store = RaftStorage.open(tmp_path)
    store.save(HardState(2, "nn2", 3), ents(1, 1, 2) + ents(2, 3, 5), None, sync=True)
    with pytest.raises(ValueError, match="past the commit index"):
        store.compact(snap(4, 2))
    with pytest.raises(ValueError, match="has term 2"):
        store.compact(snap(3, 1))
    store.compact(snap(3, 2))
    store.compact(snap(3, 2))  # the same again changes nothing
    with pytest.raises(ValueError, match="not after"):
        store.compact(snap(2, 1))
    store.close()


# --------------------------------------------------------------------------- model


@dataclass
class Model:
    hard_state: HardState = field(default_factory=HardState)
    snapshot: Snapshot | None = None
    entries: list[Entry] = field(default_factory=list)

    @property
    def snap_meta(self) -> SnapshotMeta:
        return self.snapshot.meta if self.snapshot else SnapshotMeta()

    @property
    def last(self) -> int:
        return self.snap_meta.index + len(self.entries)

    def term_at(self, index: int) -> int | None:
        if index == self.snap_meta.index:
            return self.snap_meta.term
        if self.snap_meta.index < index <= self.last:
            return self.entries[index - self.snap_meta.index - 1].term
        return None

    def state(self) -> PersistentState:
        return PersistentState(self.hard_state, self.snap_meta, tuple(self.entries))


class StorageMachine(RuleBasedStateMachine):
    """Random saves (appends, truncations, term and vote changes, snapshots that match the
    log or replace it), compactions and reopens, against an in-memory model."""

    def __init__(self) -> None:
        super().__init__()
        self.directory = Path(tempfile.mkdtemp(prefix="raft-storage-"))
        self.segment_size = 256
        self.store = RaftStorage.open(self.directory, segment_size=self.segment_size)
        self.model = Model()
        self.data_counter = 0

    def teardown(self) -> None:
        self.store.close()
        shutil.rmtree(self.directory)

    def _data(self, size: int) -> bytes:
        self.data_counter += 1
        return str(self.data_counter).encode().ljust(size, b"~")

    def _term(self) -> int:
        return max(self.model.hard_state.term, 1)

    def _save(
        self,
        hard_state: HardState | None,
        entries: Sequence[Entry],
        snapshot: Snapshot | None,
        sync: bool,
    ) -> None:
        self.store.save(hard_state, entries, snapshot, sync=sync)
        m = self.model
        if snapshot is not None:
            if m.term_at(snapshot.meta.index) == snapshot.meta.term:
                m.entries = m.entries[snapshot.meta.index - m.snap_meta.index :]
            else:
                m.entries = []
            m.snapshot = snapshot
        if entries:
            del m.entries[entries[0].index - m.snap_meta.index - 1 :]
            m.entries.extend(entries)
        if hard_state is not None:
            m.hard_state = hard_state

    @rule(
        count=st.integers(1, 12),
        back=st.integers(0, 6),
        size=st.integers(0, 40),
        sync=st.booleans(),
    )
    def append(self, count: int, back: int, size: int, sync: bool) -> None:
        m = self.model
        floor = max(m.snap_meta.index, m.hard_state.commit)
        first = max(m.last + 1 - back, floor + 1)
        term = self._term()
        entries = [Entry(term, i, self._data(size)) for i in range(first, first + count)]
        hs = m.hard_state if m.hard_state.term else HardState(1, None, 0)
        self._save(hs, entries, None, sync)

    @rule(new_term=st.booleans(), vote=st.sampled_from([None, "nn1", "nn2"]), sync=st.booleans())
    def vote(self, new_term: bool, vote: str | None, sync: bool) -> None:
        hs = self.model.hard_state
        if new_term:
            hs = HardState(hs.term + 1, vote, hs.commit)
        elif hs.vote is None:
            hs = replace(hs, vote=vote)
        self._save(hs, [], None, sync)

    @rule(fraction=st.floats(0, 1), sync=st.booleans())
    def commit(self, fraction: float, sync: bool) -> None:
        hs = self.model.hard_state
        commit = hs.commit + round((self.model.last - hs.commit) * fraction)
        self._save(replace(hs, commit=commit), [], None, sync)

    @rule(
        ahead=st.integers(0, 10),
        matching=st.booleans(),
        follow=st.integers(0, 3),
        now=st.integers(0, 3),
    )
    def install_snapshot(self, ahead: int, matching: bool, follow: int, now: int) -> None:
        """A leader's snapshot (InstallSnapshot), at or past this node's commit; rarer than
        appends, or the log would rarely grow long enough to span segments."""
        m = self.model
        index = max(m.hard_state.commit, m.snap_meta.index) + ahead
        if now or index < 1:
            return
        known = m.term_at(index)
        if index <= m.hard_state.commit:  # committed: every leader's snapshot agrees
            matching = True
        term = known if matching and known is not None else self._term() + 1
        if index == m.snap_meta.index and term != m.snap_meta.term:
            return
        hs = HardState(max(term, m.hard_state.term), None, index)
        if hs.term == m.hard_state.term:
            hs = replace(hs, vote=m.hard_state.vote)
        entries = [Entry(hs.term, i, self._data(5)) for i in range(index + 1, index + 1 + follow)]
        snapshot = Snapshot(SnapshotMeta(index, term, ("nn1", "nn2")), self._data(30))
        self._save(hs, entries, snapshot, sync=True)

    @precondition(lambda self: self.model.hard_state.commit > self.model.snap_meta.index)
    @rule(fraction=st.floats(0, 1))
    def compact(self, fraction: float) -> None:
        m = self.model
        index = (
            m.snap_meta.index + 1 + round((m.hard_state.commit - m.snap_meta.index - 1) * fraction)
        )
        index = min(index, m.last)
        term = m.term_at(index)
        assert term is not None
        snapshot = Snapshot(SnapshotMeta(index, term, ("nn1",)), self._data(50))
        self.store.compact(snapshot)
        m.entries = m.entries[index - m.snap_meta.index :]
        m.snapshot = snapshot

    @rule(now=st.integers(0, 3))
    def reopen(self, now: int) -> None:
        if now:  # a rule without arguments is drawn far more often than the others
            return
        self.store.close()
        self.store = RaftStorage.open(self.directory, segment_size=self.segment_size)
        assert self.store.initial_state() == self.model.state()
        assert self.store.snapshot() == self.model.snapshot

    @invariant()
    def same_last_index(self) -> None:
        assert self.store.last_index == self.model.last

    @invariant()
    def covered_segments_are_deleted(self) -> None:
        """Once the oldest kept snapshot covers a segment (the log ended at or before it
        when the next segment started), that segment is gone."""
        snaps = snap_files(self.directory)
        segments = list_segments(self.directory)
        if snaps and len(segments) > 1:
            oldest = int(snaps[0].split("_")[1])
            assert segments[1].first_index - 1 > oldest


StorageMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=40, deadline=None)
test_storage_against_a_model = StorageMachine.TestCase


# --------------------------------------------------------------------------- speed


def test_bench_synced_saves_per_second(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Not a pass/fail test: prints how many fdatasynced saves a second this disk allows,
    with one entry per save and with 64 (a batch of proposals, one fdatasync)."""
    results = []
    for batch in (1, 64):
        store = RaftStorage.open(tmp_path / f"batch{batch}")
        store.save(HardState(1, "nn1", 0), [], None, sync=True)
        index, saves, start = 1, 0, time.perf_counter()
        while time.perf_counter() - start < 1.0:
            entries = [Entry(1, i, bytes(200)) for i in range(index, index + batch)]
            store.save(HardState(1, "nn1", index - 1), entries, None, sync=True)
            index += batch
            saves += 1
        elapsed = time.perf_counter() - start
        store.close()
        results.append(
            f"{batch:>3} x 200 B entries: {saves / elapsed:8.0f} saves/s, "
            f"{(index - 1) / elapsed:9.0f} entries/s"
        )
    with capsys.disabled():
        print("\nraft storage, save(..., sync=True):\n  " + "\n  ".join(results))


def test_crc_framing_matches_the_edit_log() -> None:
    """The same framing as the namenode edit log: u32 length | u32 crc32c | payload."""
    payload = records.encode(Reset(5, 2))
    assert frame(payload) == struct.pack("<II", len(payload), crc32c.crc32c(payload)) + payload
