"""The dashboard of a namenode group, in a real browser: every namenode's row with its role,
term, commit index and how far the leader knows its log matches; a killed namenode shows
as down; a follower's dashboard shows the same group."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from minihadoop.filesystem import FileSystem
from minihadoop.localcluster import LocalCluster
from minihadoop.locks import Lock
from tests.browser.conftest import ARTIFACTS
from tests.conftest import start_cluster

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def group(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    cluster = start_cluster(
        tmp_path_factory.mktemp("ha-dashboard"),
        datanodes=1,
        namenodes=3,
        mapreduce=False,
        raft_tick=0.05,
        replication=1,
    )
    try:
        yield cluster
    finally:
        cluster.stop()


def test_every_namenode_has_a_row_with_its_role_and_log_positions(
    page: Page, group: LocalCluster
) -> None:
    leader = group.leader()
    page.goto(leader)
    rows = page.locator("[data-namenode]")
    expect(rows).to_have_count(3)
    expect(page.locator('[data-role="leader"]')).to_have_count(1)
    expect(page.locator('[data-role="follower"]')).to_have_count(2)
    for i in range(3):  # the leader knows how far each log matches its own
        expect(rows.nth(i).locator("[data-match]")).to_have_text(re.compile(r"^\d+$"))
    page.screenshot(path=str(ARTIFACTS / "namenodes.png"))

    follower = next(u for u in group.namenode_urls() if u != leader)
    page.goto(follower)
    expect(page.locator("[data-namenode]")).to_have_count(3)
    expect(page.locator('[data-role="leader"]')).to_have_count(1)


def test_locks_show_their_holders_tokens_waiters_and_sessions(
    page: Page, group: LocalCluster
) -> None:
    leader = group.leader()
    with (
        FileSystem.from_cluster(group.directory, user="alice") as alice,
        FileSystem.from_cluster(group.directory, user="bob") as bob,
        alice.lock_session(ttl=30) as held,
        bob.lock_session(ttl=30) as queued,
    ):
        lock = held.acquire("nightly-import")
        got: list[Lock] = []
        waiter = threading.Thread(target=lambda: got.append(queued.acquire("nightly-import")))
        waiter.start()
        page.goto(leader)
        row = page.locator('[data-lock="nightly-import"]')
        expect(row).to_contain_text("alice")
        expect(row.locator("[data-token]")).to_have_text(str(lock.token))
        expect(row).to_contain_text("bob")  # waiting, once its acquire is in the queue
        expect(page.locator(f'[data-session="{held.id}"]')).to_contain_text("nightly-import")
        page.screenshot(path=str(ARTIFACTS / "locks.png"))

        held.release("nightly-import")
        waiter.join(timeout=30)
        expect(row.locator("[data-token]")).to_have_text(str(got[0].token))  # the page refreshes
        expect(row).not_to_contain_text("alice")
        follower = next(u for u in group.namenode_urls() if u != leader)
        page.goto(follower)  # a follower shows what it has applied: the same
        expect(page.locator('[data-lock="nightly-import"]')).to_contain_text("bob")


def test_a_killed_namenode_shows_as_down(page: Page, group: LocalCluster) -> None:
    leader = group.leader()
    victim = next(
        d for d in group._require().daemons if d.name.startswith("namenode-") and d.url != leader
    )
    group.kill(victim.name)
    page.goto(leader)
    row = page.locator(f'[data-namenode] >> text="{victim.url}"')
    expect(row).to_have_count(1)
    expect(page.locator('[data-role="down"]')).to_have_count(1)
