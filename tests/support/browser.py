"""Debian's Chromium, headless, driven by Playwright for the dashboard's tests: nothing is
downloaded (never `playwright install`); `scripts/system-packages.sh` installs `chromium`.
A `Tab` records what would show a broken page: console errors (a Content-Security-Policy
violation is one), uncaught exceptions, failed requests and HTTP error answers."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Request, Response, sync_playwright

MISSING = (
    "chromium is not installed: `bash scripts/system-packages.sh` (or apt-get install chromium)"
)
# Where the tests save their screenshots; by default a pytest temporary directory.
SCREENSHOTS_ENV = "DASHBOARD_SCREENSHOTS"
VIEWPORT = {"width": 1280, "height": 900}


@contextmanager
def chromium() -> Iterator[Browser]:
    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail(MISSING)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Tab:
    page: Page
    problems: list[str] = field(default_factory=list)

    def watch(self) -> None:
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.problems.append(f"exception: {error}"))
        self.page.on("requestfailed", self._failed)
        self.page.on("response", self._answered)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.problems.append(f"console: {message.text}")

    def _failed(self, request: Request) -> None:
        # An event stream the page closes itself (after its `done` event, or as the reader
        # leaves the page) ends as an aborted request: that is no failure.
        if request.resource_type == "eventsource" and request.failure == "net::ERR_ABORTED":
            return
        self.problems.append(f"failed: {request.method} {request.url}: {request.failure}")

    def _answered(self, response: Response) -> None:
        if response.status >= 400:
            self.problems.append(
                f"HTTP {response.status}: {response.request.method} {response.url}"
            )


@contextmanager
def open_tab(browser: Browser, base_url: str) -> Iterator[Tab]:
    """A fresh browser context (its own sessionStorage) with one watched page."""
    context = browser.new_context(base_url=base_url, viewport=VIEWPORT)  # type: ignore[arg-type]
    try:
        tab = Tab(context.new_page())
        tab.watch()
        yield tab
    finally:
        context.close()


def screenshot_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """$DASHBOARD_SCREENSHOTS when set (made if missing), else a pytest temporary directory."""
    if chosen := os.environ.get(SCREENSHOTS_ENV):
        path = Path(chosen)
        path.mkdir(parents=True, exist_ok=True)
        return path
    return tmp_path_factory.mktemp("dashboard-screenshots")
