"""The cycle collector's pauses, measured in every daemon's metrics and logged when long
(as Hadoop's JvmPauseMonitor logs the JVM's)."""

from __future__ import annotations

import gc
import logging

import pytest
from prometheus_client import generate_latest

from minihadoop import metrics
from minihadoop.metrics import Metrics


def full_pauses(m: Metrics) -> float:
    value = m.registry.get_sample_value(
        "minihadoop_probe_gc_pause_seconds_count", {"generation": "2"}
    )
    return value or 0.0


def test_each_collection_is_timed_by_generation() -> None:
    m = Metrics("probe")
    before = full_pauses(m)
    gc.collect()
    gc.collect()
    assert full_pauses(m) == before + 2
    assert b"minihadoop_probe_gc_pause_seconds_bucket" in generate_latest(m.registry)


def test_a_long_pause_is_logged(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    Metrics("probe")
    monkeypatch.setattr(metrics, "LONG_GC_PAUSE", 0.0)  # every pause is long
    with caplog.at_level(logging.WARNING, logger="minihadoop.gc"):
        gc.collect()
    assert any(
        "garbage collection paused every thread" in r.message and "generation 2" in r.message
        for r in caplog.records
    ), caplog.text
