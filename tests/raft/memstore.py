"""Stable storage in memory, as the Ready contract describes it: what a Ready asks to write
is written at once, but survives a crash only once synced (a Ready with `must_sync`, or a
later one). A crash keeps exactly what was synced."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from raft.types import Entry, HardState, PersistentState, Ready, Snapshot


@dataclass(frozen=True, slots=True)
class Stored:
    hard_state: HardState = field(default_factory=HardState)
    snapshot: Snapshot | None = None
    entries: tuple[Entry, ...] = ()

    def state(self) -> PersistentState:
        meta = self.snapshot.meta if self.snapshot else PersistentState().snapshot
        return PersistentState(self.hard_state, meta, self.entries)


class StorageContractError(AssertionError):
    pass


class MemoryStorage:
    def __init__(self) -> None:
        self.written = Stored()
        self.synced = Stored()

    def write(self, ready: Ready) -> None:
        stored = self.written
        if ready.hard_state is not None:
            stored = replace(stored, hard_state=ready.hard_state)
        if ready.snapshot is not None:
            stored = replace(stored, snapshot=ready.snapshot, entries=())
        if ready.entries:
            first = ready.entries[0].index
            offset = stored.snapshot.meta.index if stored.snapshot else 0
            last = stored.entries[-1].index if stored.entries else offset
            if not offset < first <= last + 1:
                raise StorageContractError(f"entries from {first} after {offset}..{last}")
            kept = tuple(e for e in stored.entries if e.index < first)
            stored = replace(stored, entries=kept + ready.entries)
        self.written = stored
        if ready.must_sync:
            self.synced = stored

    def compact(self, snapshot: Snapshot) -> None:
        """The host wrote a snapshot of its state machine (synced) and dropped the entries
        it replaces."""
        index = snapshot.meta.index
        for name in ("written", "synced"):
            stored: Stored = getattr(self, name)
            if stored.snapshot and stored.snapshot.meta.index >= index:
                continue
            kept = tuple(e for e in stored.entries if e.index > index)
            setattr(self, name, replace(stored, snapshot=snapshot, entries=kept))

    def crash(self) -> None:
        self.written = self.synced


class AppliedList:
    """The tests' state machine: the data of every non-empty entry applied, with its index."""

    def __init__(self, items: list[tuple[int, bytes]] | None = None, index: int = 0) -> None:
        self.items = items or []
        self.index = index

    def apply(self, entry: Entry) -> None:
        if entry.index != self.index + 1:
            raise AssertionError(f"applying {entry.index} after {self.index}")
        self.index = entry.index
        if entry.data:
            self.items.append((entry.index, entry.data))

    def snapshot_data(self, upto: int) -> bytes:
        return b"\n".join(b"%d %s" % (i, d.hex().encode()) for i, d in self.items if i <= upto)

    @classmethod
    def restore(cls, snapshot: Snapshot | None) -> AppliedList:
        if snapshot is None:
            return cls()
        items = []
        for line in snapshot.data.split(b"\n") if snapshot.data else []:
            index, data = line.split(b" ")
            items.append((int(index), bytes.fromhex(data.decode())))
        return cls(items, snapshot.meta.index)
