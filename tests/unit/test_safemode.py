"""Safe mode (namenode.safemode): counts and time in, on/off out."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from namenode.safemode import SafeMode


def test_starts_on() -> None:
    sm = SafeMode(threshold=0.999, extension=30)
    assert sm.on
    assert not sm.manual
    assert sm.describe() == "Safe mode is ON: 0 of 0 blocks reported, need 99.900%"


def test_an_empty_namespace_leaves_at_once_without_extension() -> None:
    sm = SafeMode(threshold=0.999, extension=0)
    assert sm.update(total=0, reported=0, now=5.0) is False
    assert sm.describe() == "Safe mode is OFF"


def test_stays_on_below_the_threshold() -> None:
    sm = SafeMode(threshold=0.9, extension=0)
    for now, reported in enumerate([0, 3, 8]):
        assert sm.update(total=10, reported=reported, now=float(now)) is True
    assert sm.describe() == "Safe mode is ON: 8 of 10 blocks reported, need 90.000%"
    assert sm.update(total=10, reported=9, now=10.0) is False


def test_the_extension_counts_from_when_the_threshold_was_reached() -> None:
    sm = SafeMode(threshold=1.0, extension=30)
    assert sm.update(total=4, reported=4, now=100.0)
    assert sm.update(total=4, reported=4, now=129.9)
    assert sm.update(total=4, reported=4, now=130.0) is False


def test_falling_below_the_threshold_restarts_the_extension() -> None:
    sm = SafeMode(threshold=1.0, extension=30)
    sm.update(total=4, reported=4, now=100.0)
    sm.update(total=4, reported=3, now=120.0)  # a datanode died meanwhile
    assert sm.update(total=4, reported=4, now=125.0)
    assert sm.update(total=4, reported=4, now=150.0)
    assert sm.update(total=4, reported=4, now=155.0) is False


def test_once_off_it_stays_off() -> None:
    sm = SafeMode(threshold=1.0, extension=0)
    assert sm.update(total=2, reported=2, now=0.0) is False
    assert sm.update(total=2, reported=0, now=1.0) is False
    assert not sm.on


@pytest.mark.parametrize(
    ("threshold", "total", "needed"),
    [
        (0.999, 1000, 999),
        (0.999, 10, 10),  # 9.99 rounds up: the threshold is a minimum
        (0.5, 3, 2),
        (0.14, 50, 7),  # 0.14 * 50 is 7.000000000000001 in floating point
        (0.28, 25, 7),
        (0.07, 100, 7),
        (1.0, 7, 7),
        (0.0, 7, 0),
    ],
)
def test_threshold_is_a_fraction_rounded_up_exactly(
    threshold: float, total: int, needed: int
) -> None:
    assert SafeMode(threshold=threshold, extension=0).needed(total) == needed
    sm = SafeMode(threshold=threshold, extension=0)
    if needed > 0:
        assert sm.update(total=total, reported=needed - 1, now=0.0) is True
    assert sm.update(total=total, reported=needed, now=1.0) is False


@settings(max_examples=200, derandomize=True, deadline=None)
@given(
    percent=st.integers(0, 100),
    total=st.integers(0, 5000),
)
def test_needed_is_the_exact_ceiling_for_whole_percentages(percent: int, total: int) -> None:
    sm = SafeMode(threshold=percent / 100, extension=0)
    assert sm.needed(total) == -(-percent * total // 100)


def test_manual_safe_mode_ignores_the_counts_until_left() -> None:
    sm = SafeMode(threshold=0.5, extension=0)
    sm.update(total=2, reported=2, now=0.0)
    assert not sm.on
    sm.enter()
    assert sm.on and sm.manual
    assert sm.update(total=2, reported=2, now=1.0) is True
    assert sm.describe() == "Safe mode is ON (entered by an administrator)"
    sm.leave()
    assert not sm.on and not sm.manual
    assert sm.update(total=2, reported=0, now=2.0) is False


def test_an_administrator_can_leave_before_the_threshold() -> None:
    sm = SafeMode(threshold=1.0, extension=30)
    sm.update(total=10, reported=1, now=0.0)
    sm.leave()
    assert sm.update(total=10, reported=1, now=1.0) is False
