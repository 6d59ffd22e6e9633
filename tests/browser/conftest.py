"""Fixtures for dashboard tests in a real browser: Debian's headless Chromium driven by
Playwright (`executable_path`: Playwright downloads no browser of its own), one browser and
one seeded cluster per module, and a fresh page per test whose last view is saved to
``artifacts/dashboard/<test>.png``.

A missing Chromium fails the tests rather than skipping them: CI installs it (.ci/run), so a
skip would only hide a broken setup.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts" / "dashboard"
VIEWPORT = {"width": 1280, "height": 800}
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str:
    found = (
        os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    )
    if not found:
        pytest.fail(
            "Chromium is needed for the dashboard tests: `apt-get install chromium` "
            "(.ci/run does), or point $CHROMIUM at a Chromium binary",
            pytrace=False,
        )
    return found


@pytest.fixture(scope="module")
def pw() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(pw: Playwright) -> Iterator[Browser]:
    b = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
    yield b
    b.close()


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    context = browser.new_context(viewport=VIEWPORT, accept_downloads=True)
    context.set_default_timeout(15_000)
    p = context.new_page()
    yield p
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    if p.url.startswith("http"):
        p.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    context.close()
