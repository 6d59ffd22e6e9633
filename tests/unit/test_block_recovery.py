"""Block recovery on the datanode side: the plan (datanode.recovery, pure) and cutting a
replica to the agreed length under a new stamp (BlockStore.recover, on a real disk)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from datanode.blockstore import BlockStore
from datanode.recovery import RecoveryPlan, plan_recovery
from minihadoop.checksum import chunk_checksums
from minihadoop.errors import BlockNotFoundError, ChecksumError, IllegalArgumentError
from minihadoop.models import ReplicaReport

BPC = 512


def replica(length: int, gen: int = 1001) -> ReplicaReport:
    return ReplicaReport(block_id=7, gen=gen, length=length)


def test_the_plan_is_the_shortest_length_every_replica_found_has() -> None:
    plan = plan_recovery({"dn2": replica(900), "dn1": replica(1000), "dn3": None}, 1002)
    assert plan == RecoveryPlan(900, ("dn1", "dn2"))


def test_the_plan_leaves_out_replicas_not_older_than_the_recovery() -> None:
    found = {"dn1": replica(1000), "dn2": replica(10, gen=1002), "dn3": replica(5, gen=1003)}
    assert plan_recovery(found, 1002) == RecoveryPlan(1000, ("dn1",))


def test_a_truncates_plan_cuts_to_its_length_and_leaves_out_shorter_replicas() -> None:
    found = {"dn1": replica(1000), "dn2": replica(300), "dn3": replica(200)}
    assert plan_recovery(found, 1002, cut=300) == RecoveryPlan(300, ("dn1", "dn2"))
    assert plan_recovery(found, 1002, cut=2000) == RecoveryPlan(0, ())


def test_with_no_replica_the_plan_is_empty() -> None:
    assert plan_recovery({"dn1": None, "dn2": None}, 1002) == RecoveryPlan(0, ())
    assert plan_recovery({}, 1002) == RecoveryPlan(0, ())


def stored(store: BlockStore, data: bytes, gen: int = 1001) -> None:
    writer = store.begin(7, gen, BPC)
    writer.write(data)
    writer.finish(chunk_checksums(data, BPC), len(data))


@pytest.mark.parametrize("length", [0, 1, BPC, BPC + 100, 3 * BPC + 17])
def test_recover_cuts_the_replica_and_restamps_it(tmp_path: Path, length: int) -> None:
    data = os.urandom(3 * BPC + 17)
    store = BlockStore(tmp_path)
    stored(store, data)
    recovered = store.recover(7, 1002, length)
    assert (recovered.gen, recovered.length) == (1002, length)
    # What a reader or the scanner sees: the first `length` bytes, every checksum right.
    store.scan(recovered)
    assert b"".join(store.verified_range(recovered, 0, length)) == data[:length]
    # Durable: a restarted datanode finds the recovered replica, not the old one.
    reopened = BlockStore(tmp_path).get(7)
    assert (reopened.gen, reopened.length) == (1002, length)
    assert list(tmp_path.glob("tmp/*")) == []


def test_recover_refuses_a_longer_length_an_old_stamp_and_a_missing_block(tmp_path: Path) -> None:
    store = BlockStore(tmp_path)
    stored(store, b"x" * 1000)
    with pytest.raises(IllegalArgumentError):
        store.recover(7, 1002, 1001)
    with pytest.raises(IllegalArgumentError):
        store.recover(7, 1001, 10)  # an earlier recovery, arriving late
    with pytest.raises(BlockNotFoundError):
        store.recover(8, 1002, 10)
    assert (store.get(7).gen, store.get(7).length) == (1001, 1000)


def test_recover_refuses_a_rotten_replica_and_keeps_it(tmp_path: Path) -> None:
    store = BlockStore(tmp_path)
    stored(store, b"x" * 1000)
    path = store.get(7).data_path
    path.write_bytes(b"y" + path.read_bytes()[1:])
    with pytest.raises(ChecksumError):
        store.recover(7, 1002, 600)
    assert store.get(7).gen == 1001
    assert list(tmp_path.glob("tmp/*")) == []
