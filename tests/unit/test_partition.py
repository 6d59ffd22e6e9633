"""The default partitioner (mapreduce.partition): stable across processes, spread, typed."""

from __future__ import annotations

import json
import math
import os
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mapreduce.partition import default_partition, stable_hash
from tests.unit.test_pure_core import forbidden_imports

ROOT = Path(__file__).resolve().parents[2]

KEYS: list[object] = [
    "",
    "hadoop",
    "naïve",
    "中文",
    "\udcff",  # a lone surrogate, as surrogateescape'd input gives
    b"hadoop",
    b"\x00\xff",
    0,
    1,
    -1,
    255,
    2**70,
    -(2**70),
    1.5,
    -0.25,
    1e300,  # integral: hashed as the int it equals
    2.5e-8,
    True,
    False,
    None,
    (),
    ("word", 1),
    ("a", ("b", None, 2.5), b"c"),
]

CHILD = """
import ast, json, sys
from mapreduce.partition import default_partition
keys = ast.literal_eval(sys.argv[1])
print(json.dumps({"salted": hash("hadoop"),
                  "partitions": [default_partition(k, 7) for k in keys]}))
"""


def partitions_in_child(hash_seed: str) -> dict[str, object]:
    env = {**os.environ, "PYTHONHASHSEED": hash_seed, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", CHILD, repr(KEYS)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env=env,
    )
    result: dict[str, object] = json.loads(out.stdout)
    return result


def test_same_partitions_in_every_process() -> None:
    children = [partitions_in_child(seed) for seed in ("1", "2", "3")]
    # The children's own str hashes differ, so this test would catch a salted hash...
    assert len({child["salted"] for child in children}) == 3
    # ...yet every child, and this process, partitions alike.
    here = [default_partition(k, 7) for k in KEYS]
    assert all(child["partitions"] == here for child in children)


def test_known_values_do_not_drift() -> None:
    # Pinned: a change here sends keys to other reducers than the previous version did.
    pinned = {
        "": 453955339,
        "hadoop": 1169566751,
        b"a": 749160980,
        -1: 3638832540,
        2**70: 3097757276,
        1.5: 2742266376,
        None: 2013832146,
        ("word", 1): 3356182579,
    }
    assert {key: stable_hash(key) for key in pinned} == pinned


@given(key=st.text() | st.binary() | st.integers() | st.floats() | st.none(), n=st.integers(1, 500))
def test_partition_is_in_range(key: object, n: int) -> None:
    h = stable_hash(key)
    assert 0 <= h < 2**32
    assert 0 <= default_partition(key, n) < n


def test_one_reducer_takes_everything_and_zero_is_refused() -> None:
    assert {default_partition(k, 1) for k in KEYS} == {0}
    with pytest.raises(ValueError):
        default_partition("x", 0)


def words(count: int) -> list[str]:
    rng = random.Random(1234)
    found: set[str] = set()
    while len(found) < count:
        found.add("".join(rng.choices("abcdefghijklmnopqrstuvwxyz", k=rng.randint(3, 10))))
    return sorted(found)


@pytest.mark.parametrize(
    "keys",
    [
        words(10_000),
        [f"key-{i:05d}" for i in range(10_000)],
        list(range(10_000)),
        [(i, j) for i in range(100) for j in range(100)],
    ],
    ids=["words", "numbered", "ints", "pairs"],
)
def test_keys_spread_evenly(keys: list[object]) -> None:
    counts = Counter(default_partition(k, 8) for k in keys)
    mean = len(keys) / 8
    assert sorted(counts) == list(range(8))
    assert all(abs(c - mean) <= 0.2 * mean for c in counts.values()), counts


def test_unequal_keys_of_different_types_hash_apart() -> None:
    distinct = ["1", b"1", 1, 1.5, None, "None", (1,), ("1",), (1, 2), ((1, 2),), ("ab", "c")]
    distinct += [("a", "bc"), b"", "", ()]
    assert len({stable_hash(k) for k in distinct}) == len(distinct)


def test_equal_keys_hash_alike() -> None:
    # The reducer groups equal keys, so equal keys must meet in one partition.
    assert stable_hash(1) == stable_hash(1.0) == stable_hash(True)
    assert stable_hash(0) == stable_hash(-0.0) == stable_hash(False)
    assert stable_hash((1, "a")) == stable_hash((True, "a")) == stable_hash((1.0, "a"))
    assert stable_hash(bytearray(b"ab")) == stable_hash(b"ab")
    assert stable_hash(math.nan) == stable_hash(-math.nan)


def test_str_subclasses_hash_as_their_value() -> None:
    from enum import StrEnum

    class Color(StrEnum):
        RED = "red"

    assert stable_hash(Color.RED) == stable_hash("red")
    assert stable_hash((Color.RED,)) == stable_hash(("red",))


def test_other_objects_fall_back_to_repr() -> None:
    from decimal import Decimal

    assert stable_hash(Decimal("1.5")) == stable_hash(Decimal("1.5"))
    assert stable_hash(Decimal("1.5")) != stable_hash("Decimal('1.5')")
    assert stable_hash([1, 2]) == stable_hash([1, 2])


def test_partition_is_pure() -> None:
    assert forbidden_imports("mapreduce.partition") == {}
