"""The dashboard without a browser: the timeline's geometry (pure), the display filters, and
the pages of an in-process namenode app reached through an ASGI transport (escaping, error
pages, an unavailable job tracker, what is and is not in the OpenAPI document)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from minihadoop.config import JOBTRACKER_KEY, Settings
from namenode import display
from namenode.app import create_app
from namenode.namesystem import Namesystem
from namenode.timeline import MIN_BAR, css_class, layout


def attempt(
    id: str,
    worker: str,
    started: float,
    finished: float | None,
    *,
    kind: str = "MAP",
    state: str = "SUCCEEDED",
    speculative: bool = False,
) -> dict[str, Any]:
    return {
        "id": id,
        "kind": kind,
        "index": 0,
        "worker": worker,
        "state": state,
        "started": started,
        "finished": finished,
        "error": None,
        "speculative": speculative,
        "data_local": True,
    }


# --- the timeline ----------------------------------------------------------------------------


def test_one_lane_per_worker_and_one_bar_per_attempt() -> None:
    t = layout(
        [
            attempt("m0", "w2", 100.0, 101.0),
            attempt("m1", "w1", 100.0, 102.0),
            attempt("r0", "w1", 102.0, 104.0, kind="REDUCE"),
        ],
        start=100.0,
        now=200.0,
    )
    assert [lane.worker for lane in t.lanes] == ["w1", "w2"]
    assert sorted(b.attempt_id for b in t.bars) == ["m0", "m1", "r0"]
    assert t.span == pytest.approx(4.0)  # the last attempt's end, not `now`: all finished


def test_bars_are_placed_in_time_and_in_their_workers_lane() -> None:
    t = layout(
        [attempt("a", "w1", 10.0, 12.0), attempt("b", "w1", 12.0, 20.0)],
        start=10.0,
        now=99.0,
        width=1000,
    )
    a, b = sorted(t.bars, key=lambda bar: bar.x)
    scale = t.plot_width / 10.0
    assert a.x == pytest.approx(t.plot_x)
    assert a.width == pytest.approx(2 * scale, abs=0.01)
    assert b.x == pytest.approx(t.plot_x + 2 * scale, abs=0.01)
    assert a.y == b.y  # back to back: one row is enough
    lane = t.lanes[0]
    assert lane.y <= a.y and a.y + a.height <= lane.y + lane.height


def test_concurrent_attempts_on_one_worker_stack_in_rows() -> None:
    t = layout(
        [
            attempt("a", "w1", 0.0, 5.0),
            attempt("b", "w1", 1.0, 3.0),
            attempt("c", "w1", 3.5, 4.0),  # fits after b in b's row
        ],
        start=0.0,
        now=5.0,
    )
    rows = {bar.attempt_id: bar.y for bar in t.bars}
    assert rows["a"] != rows["b"]
    assert rows["c"] == rows["b"]
    assert len(t.lanes) == 1 and t.lanes[0].height > 2 * t.bars[0].height


def test_a_running_attempt_ends_now_and_the_shortest_bar_is_still_visible() -> None:
    t = layout(
        [attempt("long", "w1", 0.0, None, state="RUNNING"), attempt("blip", "w2", 1.0, 1.0)],
        start=0.0,
        now=50.0,
    )
    bars = {b.attempt_id: b for b in t.bars}
    assert t.span == pytest.approx(50.0)
    assert bars["long"].width == pytest.approx(t.plot_width, abs=0.01)
    assert bars["blip"].width == MIN_BAR
    assert "so far" in bars["long"].title and "running" in bars["long"].css


def test_titles_name_the_attempt_and_its_duration() -> None:
    (bar,) = layout([attempt("attempt_7", "w1", 0.0, 2.5)], start=0.0, now=9.0).bars
    assert "attempt_7" in bar.title and "2.5 s" in bar.title


def test_colour_is_failed_then_speculative_then_kind() -> None:
    assert css_class(attempt("x", "w", 0, 1)) == "map"
    assert css_class(attempt("x", "w", 0, 1, kind="REDUCE")) == "reduce"
    assert css_class(attempt("x", "w", 0, 1, speculative=True)) == "speculative"
    assert css_class(attempt("x", "w", 0, 1, state="FAILED", speculative=True)) == "failed"
    assert css_class(attempt("x", "w", 0, 1, state="KILLED")) == "map killed"


def test_attempts_not_started_are_left_out_and_ticks_cover_the_span() -> None:
    unstarted = {**attempt("x", "w1", 0, None), "started": None}
    t = layout([unstarted, attempt("a", "w2", 0.0, 7.0)], start=0.0, now=7.0)
    assert [b.attempt_id for b in t.bars] == ["a"]
    labels = [tick.label for tick in t.ticks]
    assert labels[0] == "0 s" and 4 <= len(labels) <= 9
    assert all(t.plot_x <= tick.x <= t.plot_x + t.plot_width for tick in t.ticks)
    assert layout([], start=0.0, now=1.0).empty


# --- display filters ----------------------------------------------------------------------------


def test_display_filters() -> None:
    assert display.size(0) == "0 B"
    assert display.size(1536) == "1.5 KiB"
    assert display.size(3 << 40) == "3.0 TiB"
    assert display.duration(3.21) == "3.2 s"
    assert display.duration(75) == "75 s"
    assert display.duration(3725) == "62 min 05 s"
    assert display.age(0.25) == "0.2 s ago"
    assert display.percent(1, 3) == 33.3 and display.percent(5, 0) == 0.0
    assert display.url_path("/a b/c#d?e%f") == "a%20b/c%23d%3Fe%25f"
    assert display.breadcrumbs("/a/b") == [("/", "/"), ("a", "/a"), ("b", "/a/b")]
    assert display.number(1234567) == "1,234,567"


# --- pages of an in-process namenode --------------------------------------------------------------


@pytest.fixture
def system(tmp_path: Path) -> Iterator[Namesystem]:
    s = Namesystem(tmp_path / "name", Settings(token="secret"))
    yield s
    s.close()


def get(system: Namesystem, *urls: str) -> list[httpx.Response]:
    app = create_app(system, system.settings)

    async def fetch() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            return [await client.get(u) for u in urls]

    return asyncio.run(fetch())


def test_every_page_renders_on_an_empty_cluster(system: Namesystem) -> None:
    urls = ["/", "/datanodes", "/browse/", "/jobs", "/api", "/fragments/overview"]
    for url, r in zip(urls, get(system, *urls), strict=True):
        assert r.status_code == 200, (url, r.text[-500:])
        assert r.headers["content-type"].startswith("text/html")
        assert "https://" not in r.text.split("<main>")[0]  # nothing from a CDN


def test_names_are_escaped(system: Namesystem) -> None:
    system.mkdirs("/<img src=x onerror=alert(1)> & co", "mallory")
    listing, folder = get(
        system, "/browse/", "/browse/%3Cimg%20src=x%20onerror=alert(1)%3E%20&%20co"
    )
    assert "<img src=x" not in listing.text + folder.text
    assert "&lt;img src=x onerror=alert(1)&gt; &amp; co" in listing.text
    assert 'href="/browse/%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E%20%26%20co"' in listing.text
    assert folder.status_code == 200 and "This folder is empty" in folder.text


def test_bad_paths_and_ids_get_clear_error_pages(system: Namesystem) -> None:
    urls = [
        "/browse/no/such/file",
        "/browse/a:b",
        "/datanodes/nobody",
        "/download/missing",
        "/static/nope.css",
    ]
    expected = [404, 400, 404, 404, 404]
    for url, r, status in zip(urls, get(system, *urls), expected, strict=True):
        assert r.status_code == status, url
        assert "text/html" in r.headers["content-type"], url
        assert "Traceback" not in r.text
    (sneaky,) = get(system, "/static/..%2Fapp.py")
    assert sneaky.status_code == 404 and "create_app" not in sneaky.text


def test_without_a_job_tracker_the_jobs_area_says_so(system: Namesystem) -> None:
    system.mkdirs("/data", "me")
    overview, jobs, job, browse = get(system, "/", "/jobs", "/jobs/job_1", "/browse/")
    for r in (overview, jobs, job):
        assert r.status_code == 200 and "Job tracker unavailable" in r.text
    assert "data/" in browse.text
    # Published in the lock service, but nobody answers there.
    system.locks.put("mapred", JOBTRACKER_KEY, "http://127.0.0.1:9", None, None)
    (jobs,) = get(system, "/jobs")
    assert "Job tracker unavailable" in jobs.text and "127.0.0.1:9" in jobs.text
    (bad,) = get(system, "/jobs/no%20such")
    assert bad.status_code == 400


def test_static_files_ship_in_the_package(system: Namesystem) -> None:
    css, js = get(system, "/static/dashboard.css", "/static/dashboard.js")
    assert css.headers["content-type"].startswith("text/css") and ".timeline" in css.text
    assert "data-refresh" in js.text


def test_openapi_documents_the_json_the_dashboard_shows_and_not_its_pages(
    system: Namesystem,
) -> None:
    (schema,) = get(system, "/openapi.json")
    documented = set(schema.json()["paths"])
    assert {"/nn/v1/cluster", "/nn/v1/fsck", "/webhdfs/v1/{path}"} <= documented
    assert not documented & {"/", "/datanodes", "/jobs", "/browse/{path}", "/fragments/overview"}
