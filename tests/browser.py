"""Debian's headless Chromium driven by Playwright, and `edgehar` commands that serve a web page."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

playwright = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed: pip install -e '.[test]' (no `playwright "
    "install`: Debian's chromium is used)")
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
URL = re.compile(r"(http://\S+)")
EDGEHAR = [sys.executable, "-m", "edgehar"]
DOCS_IMG = Path(__file__).resolve().parent.parent / "docs" / "img"


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip("chromium is not installed (apt-get install -y chromium): the web tests need a browser")
    with playwright.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    # bypass_csp: the pages forbid eval, which Playwright's wait_for_function uses
    context = browser.new_context(viewport={"width": 1200, "height": 900}, bypass_csp=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    yield page
    context.close()
    assert not errors, errors


class Served:
    """An `edgehar` command serving a page: its process and the URL it printed."""

    def __init__(self, *args: str, stdin=None, cwd=None):
        self.process = subprocess.Popen([*EDGEHAR, *args], stdin=stdin, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True, cwd=cwd,
                                        env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self.lines: list[str] = []
        for line in self.process.stderr:
            self.lines.append(line)
            if match := URL.search(line):
                self.url = match[1]
                return
        raise AssertionError(f"no URL printed: {''.join(self.lines)}")

    def stop(self) -> str:
        """Stop it (SIGTERM) if still running; the rest of its stderr."""
        if self.process.stdin:
            self.process.stdin.close()
            self.process.stdin = None
        if self.process.poll() is None:
            self.process.terminate()
        try:
            _, err = self.process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            _, err = self.process.communicate()
        return err


def screenshot(page, name: str) -> None:
    """Keep the page's look for docs/web.md when EDGEHAR_SCREENSHOTS is set."""
    if os.environ.get("EDGEHAR_SCREENSHOTS"):
        DOCS_IMG.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(DOCS_IMG / name), full_page=True)
