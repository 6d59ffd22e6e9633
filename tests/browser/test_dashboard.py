"""The dashboard in a real browser, against a real cluster: a namenode, 3 datanodes, a job
tracker and 3 workers, holding files and a finished word count (with one failed attempt).

Each test checks what a person would: the node count, where a file's replicas live, the
job's state, counters and timeline, the clicks from one page to the next, and a killed
datanode turning up dead (not vanishing). The last tests kill daemons, so they come last.
"""

from __future__ import annotations

import os
import random
import re
import signal
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from mapreduce import Job, JobResult
from minihadoop.filesystem import FileSystem
from minihadoop.localcluster import LocalCluster
from tests.browser.conftest import ARTIFACTS
from tests.conftest import start_cluster

pytestmark = pytest.mark.integration

ODD_NAME = 'notes <b> & "é" #1?.txt'  # shown literally: escaped, and linked percent-encoded


@dataclass
class Seeded:
    cluster: LocalCluster
    fs: FileSystem
    url: str
    text: bytes
    job: JobResult


def corpus(lines: int, seed: int) -> str:
    rng = random.Random(seed)
    vocab = [f"w{i}" for i in range(300)] + ["the", "a", "hadoop", "café"]
    weights = [1 / (i + 1) for i in range(len(vocab))]
    return "".join(
        " ".join(rng.choices(vocab, weights, k=rng.randint(1, 12))) + "\n" for _ in range(lines)
    )


def flaky_mapper_failing_once(marker: Path) -> Callable[[int, str], Iterator[tuple[str, int]]]:
    def flaky_mapper(offset: int, line: str) -> Iterator[tuple[str, int]]:
        try:  # exactly one attempt, whichever gets here first, fails
            os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            pass
        else:
            print("about to fail, on purpose", file=sys.stderr)
            raise RuntimeError("first attempt fails, on purpose")
        for word in line.split():
            yield word, 1

    return flaky_mapper


def wc_reducer(word: str, counts: Iterator[int]) -> Iterator[tuple[str, int]]:
    yield word, sum(counts)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    where = tmp_path_factory.mktemp("dashboard")
    cluster = start_cluster(where / "cluster")
    try:
        with FileSystem.from_cluster(cluster.directory) as fs:
            text = corpus(12_000, seed=7).encode()
            fs.write_bytes("/books/moby.txt", text, block_size=64 << 10)
            fs.write_bytes(f"/books/{ODD_NAME}", b"the hadoop the\nend\n")
            fs.mkdir("/logs/2024")
            job = Job(
                flaky_mapper_failing_once(where / "failed-once"),
                wc_reducer,
                combiner=wc_reducer,
                inputs=["/books"],
                output="/out/wordcount",
                num_reducers=2,
                name="wordcount",
                cluster_dir=cluster.directory,
            ).run()
            assert job.ok, job.error
            yield Seeded(cluster, fs, cluster.daemon("namenode").url, text, job)
    finally:
        cluster.stop()


def stat(page: Page, name: str) -> Locator:
    return page.locator(f'[data-stat="{name}"]')


def test_overview_shows_capacity_nodes_blocks_and_events(page: Page, seeded: Seeded) -> None:
    page.goto(seeded.url)
    expect(page).to_have_title(re.compile("^Overview"))
    expect(stat(page, "live")).to_have_text("3")
    expect(stat(page, "dead")).to_have_text("0")
    expect(stat(page, "blocks")).to_have_text(str(seeded.fs.cluster()["blocks"]))
    for name in ("under_replicated", "missing", "corrupt"):
        expect(stat(page, name)).to_have_text("0")
    expect(stat(page, "used")).not_to_have_text("0 B")
    expect(page.locator("[data-safemode]")).to_have_count(0)
    # A namenode alone is the leader of its group of one.
    expect(page.locator("[data-namenode]")).to_have_count(1)
    expect(page.locator('[data-namenode="nn1"]')).to_have_attribute("data-role", "leader")
    expect(page.locator('li[data-event-kind="datanode"]', has_text="joined")).to_have_count(3)
    finished = page.locator('li[data-event-kind="job"]', has_text=seeded.job.id)
    expect(finished).to_contain_text("succeeded")
    expect(page.get_by_role("link", name="wordcount").first).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "overview.png"))


def test_datanodes_page_has_a_row_per_node(page: Page, seeded: Seeded) -> None:
    page.goto(f"{seeded.url}/datanodes")
    rows = page.locator("tr[data-node]")
    expect(rows).to_have_count(3)
    report = seeded.fs.fsck("/")
    replicas = sum(b["live_replicas"] for f in report["files_detail"] for b in f["blocks"])
    shown = 0
    for row in rows.all():
        expect(row).to_have_attribute("data-state", "LIVE")
        expect(row.locator('[data-col="heartbeat"]')).to_contain_text("ago")
        expect(row.locator('[role="meter"]')).to_be_visible()
        shown += int(row.locator('[data-col="blocks"]').inner_text())
    assert shown == replicas
    for i in range(3):
        expect(
            rows.get_by_role("link", name=seeded.cluster.daemon(f"datanode-{i}").url)
        ).to_be_visible()


def test_browse_walks_folders_to_a_files_blocks_and_replicas(page: Page, seeded: Seeded) -> None:
    page.goto(f"{seeded.url}/browse/")
    page.get_by_role("link", name="books/").click()
    expect(page).to_have_url(f"{seeded.url}/browse/books")
    expect(page.locator("tr[data-entry]")).to_have_count(2)
    page.get_by_role("link", name="moby.txt").click()
    expect(stat(page, "length")).to_have_attribute("title", f"{len(seeded.text)} bytes")
    expect(stat(page, "health")).to_contain_text("healthy")
    report = seeded.fs.fsck("/books/moby.txt")["files_detail"][0]["blocks"]
    rows = page.locator("tr[data-block]")
    expect(rows).to_have_count(len(report))
    assert len(report) > 1
    for row, block in zip(rows.all(), report, strict=True):
        expect(row).to_have_attribute("data-block", str(block["block_id"]))
        expect(row).to_have_attribute("data-state", "HEALTHY")
        locations = [
            loc.get_attribute("data-location") for loc in row.locator("[data-location]").all()
        ]
        assert sorted(locations) == sorted(block["locations"]) and len(locations) == 3
    page.get_by_role("link", name="books").click()
    page.get_by_role("link", name=ODD_NAME).click()
    expect(page.locator(".crumbs strong")).to_have_text(ODD_NAME)
    expect(page.locator("main b", has_text="&")).to_have_count(0)  # not markup


def test_download_streams_the_file(page: Page, seeded: Seeded) -> None:
    page.goto(f"{seeded.url}/browse/books/moby.txt")
    with page.expect_download() as info:
        page.get_by_role("link", name="Download").click()
    download = info.value
    assert download.suggested_filename == "moby.txt"
    assert Path(download.path()).read_bytes() == seeded.text


def test_click_through_overview_datanode_file_blocks(page: Page, seeded: Seeded) -> None:
    page.goto(seeded.url)
    page.get_by_role("link", name="all datanodes →").click()
    first = page.locator("tr[data-node]").first
    node_id = first.get_attribute("data-node")
    node_url = first.get_by_role("link").inner_text()
    first.get_by_role("link").click()
    expect(page.locator("h1")).to_have_text(node_url)
    expect(stat(page, "state")).to_have_text("LIVE")
    page.locator("table.replicas-table a", has_text="/books/moby.txt").first.click()
    expect(page).to_have_url(f"{seeded.url}/browse/books/moby.txt")
    here = page.locator("tr[data-block]").first.locator(f'a[href="/datanodes/{node_id}"]')
    expect(here).to_have_text(node_url)
    here.click()
    expect(page.locator("h1")).to_have_text(node_url)


def test_jobs_list_and_a_jobs_page(page: Page, seeded: Seeded) -> None:
    job = seeded.job
    attempts = job.status["attempts"]
    page.goto(f"{seeded.url}/jobs")
    row = page.locator(f'tr[data-job="{job.id}"]')
    expect(row).to_have_attribute("data-state", "SUCCEEDED")
    expect(row).to_contain_text(job.status["user"])
    expect(row).to_contain_text(f"{job.status['maps']} / {job.status['maps']}")
    expect(page.locator("tr[data-worker]")).to_have_count(3)
    row.get_by_role("link", name="wordcount").click()

    expect(page).to_have_url(f"{seeded.url}/jobs/{job.id}")
    expect(page.locator(".job-head")).to_have_attribute("data-state", "SUCCEEDED")
    expect(page.locator('[data-progress="map"]')).to_contain_text(f"{job.status['maps']} / ")
    for name in ("DATA_LOCAL_MAPS", "MAP_INPUT_RECORDS", "REDUCE_OUTPUT_RECORDS"):
        expect(page.locator(f'tr[data-counter="{name}"] td.num')).to_have_text(
            f"{job.counters[name]:,}"
        )
    assert job.counters["DATA_LOCAL_MAPS"] > 0

    timeline = page.locator("svg.timeline")
    expect(timeline.locator("rect.bar")).to_have_count(len(attempts))
    expect(timeline.locator("g.lane")).to_have_count(len({a["worker"] for a in attempts}))
    (failed,) = [a for a in attempts if a["state"] == "FAILED"]
    expect(timeline.locator("rect.bar.failed")).to_have_count(1)
    expect(timeline.locator(f'rect[data-attempt="{failed["id"]}"]')).to_have_class(
        re.compile(r"\bfailed\b")
    )
    expect(timeline.locator("rect.bar.reduce")).to_have_count(2)
    expect(timeline.locator(f'rect[data-attempt="{failed["id"]}"] title')).to_contain_text(
        failed["id"]
    )
    for bar in timeline.locator("rect.bar").all():
        assert float(bar.get_attribute("width") or 0) >= 1

    failure = page.locator(f'[data-failed-attempt="{failed["id"]}"]')
    expect(failure).to_contain_text("RuntimeError: first attempt fails, on purpose")
    expect(failure).to_contain_text("flaky_mapper")  # the user's own frame
    page.screenshot(path=str(ARTIFACTS / "job.png"), full_page=True)
    failure.locator("[data-logs-link]").click()  # its logs, fetched from its worker
    expect(page).to_have_url(f"{seeded.url}/jobs/{job.id}/logs/{failed['id']}")
    expect(page.locator('[data-log="stderr"]')).to_contain_text("about to fail, on purpose")
    expect(page.locator('[data-log="stderr"]')).to_contain_text("Traceback")
    expect(page.locator('[data-log="stdout"]')).to_contain_text("Nothing written.")
    page.go_back()
    page.get_by_role("link", name="/out/wordcount").click()
    expect(page.locator('tr[data-entry="_SUCCESS"]')).to_have_count(1)


def test_live_parts_refresh_without_a_reload(page: Page, seeded: Seeded) -> None:
    page.goto(seeded.url)
    blocks = int(stat(page, "blocks").inner_text())
    page.evaluate("window.sameDocument = true")
    seeded.fs.write_bytes("/live/new.txt", b"fresh\n")
    expect(stat(page, "blocks")).to_have_text(str(blocks + 1), timeout=10_000)
    assert page.evaluate("window.sameDocument") is True
    expect(page.locator("#live")).to_have_text("live")


def test_bad_paths_and_ids_get_clear_error_pages(page: Page, seeded: Seeded) -> None:
    for path, status, message in [
        ("/browse/no/such/file", 404, "/no/such/file does not exist"),
        ("/datanodes/nobody", 404, "no datanode"),
        ("/jobs/job_19700101000000_abcdef", 404, "no job"),
        ("/jobs/not%20a%20job", 400, "not a job id"),
        ("/download/books", 404, "not a file: /books"),
        (f"/jobs/{seeded.job.id}/logs/attempt_nope", 404, "has no attempt attempt_nope"),
        ("/jobs/not%20a%20job/logs/x", 400, "not a job id"),
    ]:
        response = page.goto(f"{seeded.url}{path}")
        assert response is not None and response.status == status, path
        expect(page.locator("[data-error]")).to_contain_text(message)
    page.goto(f"{seeded.url}/api")
    expect(page.locator('[data-endpoint="/nn/v1/cluster"]')).to_contain_text("Overview")
    schema = page.request.get(f"{seeded.url}/openapi.json").json()
    assert {"/nn/v1/cluster", "/nn/v1/fsck"} <= set(schema["paths"])


def test_job_tracker_down_storage_pages_still_work(page: Page, seeded: Seeded) -> None:
    seeded.cluster.kill("jobtracker", signal.SIGKILL)
    page.goto(f"{seeded.url}/jobs")
    expect(page.locator("[data-jobs-unavailable]")).to_contain_text("Job tracker unavailable")
    page.goto(seeded.url)
    expect(page.locator("[data-jobs-unavailable]")).to_be_visible()
    expect(stat(page, "live")).to_have_text("3")
    page.goto(f"{seeded.url}/browse/books/moby.txt")
    expect(page.locator("tr[data-block]").first).to_have_attribute("data-state", "HEALTHY")


def test_killed_datanode_shows_as_dead(page: Page, seeded: Seeded) -> None:
    victim = seeded.cluster.daemon("datanode-2").url
    page.goto(f"{seeded.url}/datanodes")
    row = page.locator("tr[data-node]", has=page.get_by_role("link", name=victim))
    expect(row).to_have_attribute("data-state", "LIVE")
    seeded.cluster.kill("datanode-2", signal.SIGKILL)
    # The table refreshes itself: no reload, and the dead node keeps its row.
    expect(row).to_have_attribute("data-state", "DEAD", timeout=20_000)
    expect(page.locator("tr[data-node]")).to_have_count(3)
    expect(page.locator("[data-summary]")).to_contain_text("2 live · 1 dead")
    row.get_by_role("link", name=victim).click()
    expect(stat(page, "state")).to_have_text("DEAD")
    page.goto(seeded.url)
    expect(stat(page, "dead")).to_have_text("1")
    expect(stat(page, "live")).to_have_text("2")
    expect(stat(page, "under_replicated")).not_to_have_text("0")  # 3 replicas wanted, 2 nodes
    expect(page.locator('li[data-event-kind="datanode"]', has_text="is dead")).to_have_count(1)
