"""The edit log (namenode.editlog) on real files: framing, group commit, torn tails."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import crc32c
import pytest

from minihadoop.errors import IllegalArgumentError
from namenode import editlog
from namenode.editlog import (
    MAX_RECORD,
    EditLog,
    EditLogCorruptError,
    EditLogFailedError,
    encode,
    read_segment,
    segment_name,
    segments,
)


def rec(i: int) -> dict[str, Any]:
    return {"op": "Mkdirs", "path": f"/d{i}", "mtime": i}


def write_log(directory: Path, count: int, first_txid: int = 1) -> Path:
    """A closed segment holding records `first_txid`.. of `rec(i)`; its path."""
    log = EditLog(directory, first_txid)
    for i in range(count):
        log.append(rec(first_txid + i))
    log.close()
    return directory / segment_name(first_txid)


def read_all(path: Path, *, is_last: bool = True) -> list[tuple[int, dict[str, Any]]]:
    return list(read_segment(path, is_last=is_last))


def expected(first: int, last: int) -> list[tuple[int, dict[str, Any]]]:
    return [(i, rec(i)) for i in range(first, last + 1)]


def record_offsets(path: Path) -> list[int]:
    """Byte offset where each record of a healthy segment starts."""
    data, offsets, pos = path.read_bytes(), [], 0
    while pos < len(data):
        offsets.append(pos)
        pos += 8 + int.from_bytes(data[pos : pos + 4], "little")
    return offsets


@pytest.fixture
def gated_fsync(monkeypatch: pytest.MonkeyPatch) -> Callable[[Callable[[int], None]], None]:
    """Replace the edit log's `os` with one whose fdatasync runs a hook first."""

    def install(hook: Callable[[int], None]) -> None:
        def fdatasync(fd: int) -> None:
            hook(fd)
            os.fdatasync(fd)

        fake_os = SimpleNamespace(**{n: getattr(os, n) for n in dir(os) if not n.startswith("__")})
        fake_os.fdatasync = fdatasync
        monkeypatch.setattr(editlog, "os", fake_os)

    return install


# --------------------------------------------------------------------------- format


def test_names_sort_by_first_txid_and_other_files_are_ignored(tmp_path: Path) -> None:
    for first in (11, 2, 100):
        (tmp_path / segment_name(first)).touch()
    (tmp_path / "fsimage_00000000000000000001.json").touch()
    (tmp_path / "edits_x.log").touch()
    (tmp_path / "edits_5.log.tmp").touch()
    assert [first for first, _ in segments(tmp_path)] == [2, 11, 100]
    assert segment_name(7) == "edits_00000000000000000007.log"


def test_a_record_is_length_crc_payload(tmp_path: Path) -> None:
    frame = encode(3, {"op": "X"})
    payload = b'{"txid":3,"op":"X"}'
    assert frame[:4] == len(payload).to_bytes(4, "little")
    assert frame[8:] == payload
    path = tmp_path / segment_name(3)
    path.write_bytes(frame + encode(4, {"op": "Y", "n": [1, 2]}))
    assert read_all(path) == [(3, {"op": "X"}), (4, {"op": "Y", "n": [1, 2]})]


def test_a_record_too_large_to_read_back_is_refused_and_uses_no_txid(tmp_path: Path) -> None:
    log = EditLog(tmp_path, 1)
    with pytest.raises(IllegalArgumentError, match="too large"):
        log.append({"op": "X", "blob": "x" * MAX_RECORD})
    assert log.append(rec(1)) == 1
    log.close()
    assert read_all(tmp_path / segment_name(1)) == expected(1, 1)


# --------------------------------------------------------------------------- append, sync


def test_append_sync_then_reopen_replays_every_record(tmp_path: Path) -> None:
    log = EditLog(tmp_path, 1)
    txids = [log.append(rec(i)) for i in range(1, 51)]
    assert txids == list(range(1, 51))
    assert log.last_txid == 50
    log.sync(50)
    assert read_all(tmp_path / segment_name(1), is_last=False) == expected(1, 50)
    # Nothing reached the file before sync: append only buffers.
    log.append(rec(51))
    assert len(read_all(tmp_path / segment_name(1))) == 50
    log.close()
    assert read_all(tmp_path / segment_name(1)) == expected(1, 51)


def test_sync_of_a_durable_record_does_not_fsync_again(tmp_path: Path) -> None:
    log = EditLog(tmp_path, 1)
    log.append(rec(1))
    log.append(rec(2))
    log.sync(1)
    assert log.syncs == 1
    log.sync(2)  # the first fsync covered both
    log.sync(1)
    assert log.syncs == 1
    log.close()


def test_a_log_starting_later_numbers_from_its_first_txid(tmp_path: Path) -> None:
    path = write_log(tmp_path, 3, first_txid=41)
    assert path.name == segment_name(41)
    assert read_all(path) == expected(41, 43)


def test_group_commit_one_fsync_covers_every_buffered_record(tmp_path: Path) -> None:
    log = EditLog(tmp_path, 1)
    threads = 16
    appended = threading.Barrier(threads)
    txid_of: dict[int, int] = {}

    def writer(i: int) -> None:
        txid_of[i] = log.append(rec(100 + i))
        appended.wait()  # everyone's record is buffered before anyone syncs
        log.sync(txid_of[i])

    workers = [threading.Thread(target=writer, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert log.syncs == 1
    log.close()
    records = read_all(tmp_path / segment_name(1))
    assert [t for t, _ in records] == list(range(1, threads + 1))
    assert {t: r for t, r in records} == {txid_of[i]: rec(100 + i) for i in range(threads)}


def test_group_commit_waiters_share_the_next_fsync(
    tmp_path: Path, gated_fsync: Callable[[Callable[[int], None]], None]
) -> None:
    """While one fsync is in progress every other writer appends and waits; the next fsync
    then covers all of them: two fsyncs for many records."""
    threads = 12
    all_appended = threading.Event()
    count = 0
    count_lock = threading.Lock()

    def slow_first_fsync(fd: int) -> None:
        assert all_appended.wait(timeout=10)

    gated_fsync(slow_first_fsync)
    log = EditLog(tmp_path, 1)

    def writer(i: int) -> None:
        nonlocal count
        txid = log.append(rec(i))
        with count_lock:
            count += 1
            if count == threads:
                all_appended.set()
        log.sync(txid)

    workers = [threading.Thread(target=writer, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert 1 <= log.syncs <= 2
    log.close()
    assert sorted(r["path"] for _, r in read_all(tmp_path / segment_name(1))) == sorted(
        f"/d{i}" for i in range(threads)
    )


def test_concurrent_writers_lose_nothing_and_keep_txid_order(tmp_path: Path) -> None:
    log = EditLog(tmp_path, 1)
    threads, each = 8, 40
    acknowledged: list[int] = []
    ack_lock = threading.Lock()

    def writer(t: int) -> None:
        for k in range(each):
            txid = log.append({"op": "W", "writer": t, "k": k})
            log.sync(txid)
            with ack_lock:
                acknowledged.append(txid)

    workers = [threading.Thread(target=writer, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    total = threads * each
    assert sorted(acknowledged) == list(range(1, total + 1))
    assert log.syncs <= total
    log.close()
    records = read_all(tmp_path / segment_name(1))
    assert [t for t, _ in records] == list(range(1, total + 1))
    for t in range(threads):  # each writer's records in the order it wrote them
        assert [r["k"] for _, r in records if r["writer"] == t] == list(range(each))


def test_roll_starts_a_new_segment_at_the_next_txid(tmp_path: Path) -> None:
    log = EditLog(tmp_path, 1)
    for i in range(1, 4):
        log.append(rec(i))
    log.roll()  # makes 1..3 durable first
    assert log.append(rec(4)) == 4
    log.close()
    assert [first for first, _ in segments(tmp_path)] == [1, 4]
    assert read_all(tmp_path / segment_name(1), is_last=False) == expected(1, 3)
    assert read_all(tmp_path / segment_name(4)) == expected(4, 4)


def test_a_failed_fsync_fails_the_log_for_good(
    tmp_path: Path, gated_fsync: Callable[[Callable[[int], None]], None]
) -> None:
    log = EditLog(tmp_path, 1)
    log.sync(log.append(rec(1)))

    failures = iter([OSError(28, "No space left on device")])

    def disk_full_once(fd: int) -> None:
        error = next(failures, None)
        if error is not None:
            raise error

    gated_fsync(disk_full_once)
    txid = log.append(rec(2))
    with pytest.raises(OSError, match="No space"):
        log.sync(txid)
    # Record 2 may be half on disk: even once the disk recovers, a later sync must not
    # report it durable, nor write more records after it.
    with pytest.raises(EditLogFailedError, match="No space"):
        log.sync(txid)
    with pytest.raises(EditLogFailedError):
        log.append(rec(3))
    with pytest.raises(EditLogFailedError):
        log.roll()
    assert log.syncs == 1
    with pytest.raises(EditLogFailedError):
        log.close()


def test_a_failed_flush_wakes_every_waiter_with_the_failure(
    tmp_path: Path, gated_fsync: Callable[[Callable[[int], None]], None]
) -> None:
    """Writers waiting behind a flush that fails must not hang, nor be told their records
    are durable: each sees the log's failure."""
    log = EditLog(tmp_path, 1)
    waiters = 6
    all_waiting = threading.Event()

    def fail_once_all_wait(fd: int) -> None:
        assert all_waiting.wait(timeout=10)
        time.sleep(0.05)  # let the last one get from counting itself to waiting
        raise OSError(5, "I/O error")

    gated_fsync(fail_once_all_wait)
    flusher_txid = log.append(rec(0))
    outcomes: list[BaseException | None] = []
    lock = threading.Lock()

    def sync(txid: int) -> None:
        try:
            log.sync(txid)
            outcome: BaseException | None = None
        except BaseException as e:
            outcome = e
        with lock:
            outcomes.append(outcome)

    flusher = threading.Thread(target=sync, args=(flusher_txid,))
    flusher.start()
    while not log._flushing:
        time.sleep(0.001)
    others = [threading.Thread(target=sync, args=(log.append(rec(i)),)) for i in range(waiters)]
    for w in others:
        w.start()
    while len(log._waiters) < waiters:
        time.sleep(0.001)
    all_waiting.set()
    for w in [flusher, *others]:
        w.join(timeout=10)
        assert not w.is_alive()
    assert len(outcomes) == waiters + 1
    assert sum(isinstance(o, OSError) for o in outcomes) == 1  # the flusher's own error
    assert sum(isinstance(o, EditLogFailedError) for o in outcomes) == waiters
    assert log.syncs == 0
    with pytest.raises(EditLogFailedError):
        log.close()


def test_roll_during_a_flush_waits_for_it_and_makes_the_waiters_durable(
    tmp_path: Path, gated_fsync: Callable[[Callable[[int], None]], None]
) -> None:
    release = threading.Event()
    gated_fsync(lambda _fd: None if release.is_set() else release.wait(timeout=10))
    log = EditLog(tmp_path, 1)
    first = threading.Thread(target=log.sync, args=(log.append(rec(1)),))
    first.start()
    while not log._flushing:
        time.sleep(0.001)
    second = threading.Thread(target=log.sync, args=(log.append(rec(2)),))
    second.start()
    while not log._waiters:
        time.sleep(0.001)
    roller = threading.Thread(target=log.roll)
    roller.start()
    release.set()
    for t in (first, second, roller):
        t.join(timeout=10)
        assert not t.is_alive()
    assert log.append(rec(3)) == 3
    log.close()
    assert [first for first, _ in segments(tmp_path)] == [1, 3]
    assert read_all(tmp_path / segment_name(1), is_last=False) == expected(1, 2)


# --------------------------------------------------------------------------- torn tails


@pytest.mark.parametrize("cut", [1, 4, 8, 9, -1])
def test_a_torn_last_record_is_dropped_and_truncated_away(tmp_path: Path, cut: int) -> None:
    path = write_log(tmp_path, 5)
    last = record_offsets(path)[-1]
    size = path.stat().st_size
    torn_at = last + cut if cut > 0 else size + cut
    with open(path, "r+b") as f:
        f.truncate(torn_at)

    assert read_all(path) == expected(1, 4)
    assert path.stat().st_size == last
    # The log goes on from the last whole record; every segment reads back whole.
    log = EditLog(tmp_path, 5)
    log.append(rec(5))
    log.close()
    assert read_all(path, is_last=False) == expected(1, 4)
    assert read_all(tmp_path / segment_name(5)) == expected(5, 5)


def test_a_segment_holding_only_a_torn_record_is_emptied_and_reused(tmp_path: Path) -> None:
    write_log(tmp_path, 4)
    torn = tmp_path / segment_name(5)
    torn.write_bytes(encode(5, rec(5))[:-3])
    assert read_all(torn) == []
    assert torn.stat().st_size == 0
    log = EditLog(tmp_path, 5)  # the same file, appended to
    log.append(rec(5))
    log.close()
    assert read_all(torn) == expected(5, 5)


@pytest.mark.parametrize(
    "tail",
    [
        b"\x07",
        encode(6, rec(6))[:11],  # a header and the start of a payload
        encode(6, rec(6))[:-1],  # all but the last byte
        b"\x00" * 4096,  # a preallocated, never written block
        encode(6, rec(6))[:20] + b"\x00" * 100,
    ],
)
def test_garbage_after_the_last_record_is_a_torn_tail(tmp_path: Path, tail: bytes) -> None:
    path = write_log(tmp_path, 5)
    good_size = path.stat().st_size
    with open(path, "ab") as f:
        f.write(tail)
    assert read_all(path) == expected(1, 5)
    assert path.stat().st_size == good_size
    assert read_all(path) == expected(1, 5)  # and again, now that it is clean


def test_a_torn_tail_in_an_older_segment_is_corruption(tmp_path: Path) -> None:
    path = write_log(tmp_path, 3)
    with open(path, "ab") as f:
        f.write(encode(4, rec(4))[:10])
    size = path.stat().st_size
    with pytest.raises(EditLogCorruptError, match="truncated record"):
        read_all(path, is_last=False)
    assert path.stat().st_size == size  # only the newest segment is ever truncated


@pytest.mark.parametrize("victim", [0, 3, 8])
def test_a_bad_byte_before_good_records_is_corruption_naming_file_and_offset(
    tmp_path: Path, victim: int
) -> None:
    path = write_log(tmp_path, 10)
    offset = record_offsets(path)[victim]
    data = bytearray(path.read_bytes())
    data[offset + 8 + 5] ^= 0x20  # a payload byte: the checksum no longer matches
    path.write_bytes(bytes(data))
    with pytest.raises(EditLogCorruptError) as info:
        read_all(path)
    message = str(info.value)
    assert path.name in message
    assert f"offset {offset}" in message
    assert "checksum mismatch" in message
    assert path.read_bytes() == bytes(data)  # nothing truncated: good records follow


def test_a_checksummed_record_that_is_not_json_is_corruption(tmp_path: Path) -> None:
    path = write_log(tmp_path, 2)
    bogus = b"not json"
    frame = len(bogus).to_bytes(4, "little") + crc32c.crc32c(bogus).to_bytes(4, "little")
    with open(path, "ab") as f:
        f.write(frame + bogus)
    with pytest.raises(EditLogCorruptError, match="unreadable record"):
        read_all(path)


@pytest.mark.parametrize("bit", [0x01, 0x40, 0x80])
def test_rot_in_a_middle_length_field_is_corruption_not_a_torn_tail(
    tmp_path: Path, bit: int
) -> None:
    # A flipped length hides where the next record starts; the good records after it must
    # still be found, so acknowledged transactions are never cut away as a "tail".
    path = write_log(tmp_path, 3)
    offset = record_offsets(path)[0]
    data = bytearray(path.read_bytes())
    data[offset + 1] ^= bit
    path.write_bytes(bytes(data))
    with pytest.raises(EditLogCorruptError, match=f"offset {offset}"):
        read_all(path)
    assert path.read_bytes() == bytes(data)
