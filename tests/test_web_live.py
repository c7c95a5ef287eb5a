"""`edgehar stream --http`: the live page in a real browser follows the stream window by window."""

from __future__ import annotations

import gzip
import json
import subprocess
from pathlib import Path

import pytest
from browser import Served, browser, page, screenshot  # noqa: F401  (fixtures)

DEMO = Path(__file__).resolve().parent.parent / "edgehar" / "demo" / "hapt_exp01_user01.csv.gz"
WINDOW, HOP = 128, 64


@pytest.fixture(scope="module")
def demo_lines() -> list[str]:
    return gzip.decompress(DEMO.read_bytes()).decode().splitlines(keepends=True)


def test_the_live_page_shows_the_activity_the_stream_prints_as_it_changes(page, demo_lines):
    """The demo is fed through stdin in bursts; after each, the page's large activity is the
    smoothed label of the last JSON line, and over the bursts it changes (standing, sitting,
    standing, laying)."""
    served = Served("stream", "--source", "csv:-", "--jsonl", "--timeout", "60", "--http", "0",
                    stdin=subprocess.PIPE)
    try:
        assert served.url.startswith("http://127.0.0.1:") and "token" not in served.url
        served.process.stdin.write(demo_lines[0])
        page.goto(served.url)
        seen, windows = [], 0
        fed = 0
        for end in (1000, 1900, 3000, 3800):
            served.process.stdin.writelines(demo_lines[1 + fed:1 + end])
            served.process.stdin.flush()
            fed = end
            due = (end - WINDOW) // HOP + 1
            while windows < due:
                last = json.loads(served.process.stdout.readline())
                windows += 1
            page.wait_for_function(
                "([label, n]) => document.getElementById('activity').dataset.label === label && "
                "document.querySelector('#counters tr[data-key=windows] td.num')?.textContent === String(n)",
                arg=[last["smoothed"], windows], timeout=10_000)
            seen.append(last["smoothed"])
            bars = page.locator("#bars .bar .value").all_text_contents()
            top = max(range(len(bars)), key=lambda i: last["probs"][i])
            assert bars[top] == f"{last['probs'][top] * 100:.0f} %"
        assert seen == ["STANDING", "SITTING", "STANDING", "LAYING"], seen
        assert page.locator("#acc canvas").count() and page.locator("#gyro canvas").count()
        screenshot(page, "web-live.png")
        served.process.stdin.close()
        page.wait_for_function("document.getElementById('connection').textContent === 'stream ended'",
                               timeout=10_000)
        assert served.process.wait(20) == 0
    finally:
        served.stop()
