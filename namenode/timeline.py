"""A job's task timeline as a Gantt chart: one lane per worker, one bar per attempt. Pure.

`layout(attempts, start=…, now=…)` turns the job tracker's attempt records into geometry —
lanes, bars, axis ticks, in SVG user units — and the template only draws it. Attempts that
ran at the same time on one worker (a worker has several slots) are stacked in rows inside
the worker's lane, so no bar hides another. A running attempt ends at `now`; every bar is
at least `MIN_BAR` wide so the shortest task is still visible and hoverable.

A bar's class is its colour: ``failed`` (FAILED) wins over ``speculative`` (a backup
attempt), which wins over its kind, ``map`` or ``reduce``. ``killed`` and ``running`` are
added beside it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

MIN_BAR = 1.0
ROW_HEIGHT = 14
ROW_GAP = 3
LANE_PAD = 6
LABEL_WIDTH = 170
AXIS_HEIGHT = 22
NICE_STEPS = (0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200)


@dataclass(frozen=True, slots=True)
class Bar:
    attempt_id: str
    css: str
    x: float
    y: float
    width: float
    height: float
    title: str


@dataclass(frozen=True, slots=True)
class Lane:
    worker: str
    y: float
    height: float


@dataclass(frozen=True, slots=True)
class Tick:
    x: float
    label: str


@dataclass(frozen=True, slots=True)
class Timeline:
    width: int
    height: float
    plot_x: float
    plot_width: float
    span: float
    lanes: list[Lane]
    bars: list[Bar]
    ticks: list[Tick]

    @property
    def empty(self) -> bool:
        return not self.bars


@dataclass(frozen=True, slots=True)
class _Span:
    attempt: Mapping[str, Any]
    begin: float
    end: float


def layout(
    attempts: Iterable[Mapping[str, Any]],
    *,
    start: float,
    now: float,
    width: int = 960,
) -> Timeline:
    """The chart of `attempts` (the job tracker's attempt dicts) for a job that started at
    `start`; attempts still running are drawn up to `now`."""
    spans = [s for s in (_span(a, now) for a in attempts) if s is not None]
    end = max([start, *(s.end for s in spans)])
    span = max(end - start, 1e-3)
    plot_x = float(LABEL_WIDTH)
    plot_width = max(float(width) - plot_x - 10, 50.0)
    scale = plot_width / span

    lanes: list[Lane] = []
    bars: list[Bar] = []
    y = float(AXIS_HEIGHT)
    for worker, rows in _rows_per_worker(spans):
        height = len(rows) * (ROW_HEIGHT + ROW_GAP) - ROW_GAP + 2 * LANE_PAD
        lanes.append(Lane(worker=worker, y=y, height=height))
        for r, row in enumerate(rows):
            top = y + LANE_PAD + r * (ROW_HEIGHT + ROW_GAP)
            for s in row:
                x = plot_x + (max(s.begin, start) - start) * scale
                w = max((s.end - max(s.begin, start)) * scale, MIN_BAR)
                bars.append(
                    Bar(
                        attempt_id=str(s.attempt.get("id", "")),
                        css=css_class(s.attempt),
                        x=round(x, 2),
                        y=top,
                        width=round(w, 2),
                        height=ROW_HEIGHT,
                        title=_title(s),
                    )
                )
        y += height
    ticks = [Tick(x=round(plot_x + t * scale, 2), label=_seconds(t)) for t in _tick_times(span)]
    return Timeline(
        width=width,
        height=y + 4,
        plot_x=plot_x,
        plot_width=plot_width,
        span=span,
        lanes=lanes,
        bars=bars,
        ticks=ticks,
    )


def css_class(attempt: Mapping[str, Any]) -> str:
    state = attempt.get("state")
    if state == "FAILED":
        colour = "failed"
    elif attempt.get("speculative"):
        colour = "speculative"
    else:
        colour = "reduce" if attempt.get("kind") == "REDUCE" else "map"
    extra = {"KILLED": " killed", "RUNNING": " running"}.get(str(state), "")
    return colour + extra


def _span(attempt: Mapping[str, Any], now: float) -> _Span | None:
    begin = attempt.get("started")
    if not isinstance(begin, int | float):
        return None
    finished = attempt.get("finished")
    end = float(finished) if isinstance(finished, int | float) else now
    return _Span(attempt, float(begin), max(end, float(begin)))


def _rows_per_worker(spans: Sequence[_Span]) -> list[tuple[str, list[list[_Span]]]]:
    """Each worker's attempts packed into the fewest rows with no overlap in a row
    (first fit by start time: optimal for intervals)."""
    by_worker: dict[str, list[_Span]] = {}
    for s in spans:
        by_worker.setdefault(str(s.attempt.get("worker") or "unassigned"), []).append(s)
    out = []
    for worker in sorted(by_worker):
        rows: list[list[_Span]] = []
        for s in sorted(by_worker[worker], key=lambda s: (s.begin, s.end)):
            for row in rows:
                if row[-1].end <= s.begin:
                    row.append(s)
                    break
            else:
                rows.append([s])
        out.append((worker, rows))
    return out


def _title(s: _Span) -> str:
    a = s.attempt
    kind = str(a.get("kind", "")).lower()
    parts = [f"{a.get('id', '')}", f"{kind} {a.get('index', '')}".strip()]
    running = a.get("finished") is None and a.get("state") == "RUNNING"
    parts.append(f"{_seconds(s.end - s.begin)}{' so far' if running else ''}")
    parts.append(str(a.get("state", "")))
    if a.get("speculative"):
        parts.append("speculative")
    if a.get("data_local"):
        parts.append("data-local")
    return " · ".join(p for p in parts if p)


def _tick_times(span: float, target: int = 8) -> list[float]:
    step = next((s for s in NICE_STEPS if span / s <= target), NICE_STEPS[-1])
    count = int(span / step + 1e-9)
    return [round(i * step, 6) for i in range(count + 1)]


def _seconds(t: float) -> str:
    if t < 10:
        return f"{t:.1f} s" if t % 1 else f"{t:.0f} s"
    if t < 120:
        return f"{t:.0f} s"
    minutes, seconds = divmod(round(t), 60)
    return f"{minutes} min {seconds:02d} s" if seconds else f"{minutes} min"
