"""`edgehar stream --http`: the live page in a real browser follows the stream window by window."""

from __future__ import annotations

import base64
import gzip
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
from browser import Served, browser, page, screenshot  # noqa: F401  (fixtures)

from edgehar.bundle import Bundle
from edgehar.runtime.stream import Result
from edgehar.services.web.live import LiveFeed, LiveView

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


def test_a_page_gets_each_sample_and_window_once_and_nothing_while_nothing_comes():
    """The feed behind the page: a snapshot of the last 10 s, then exactly what came since (the
    signal decoded from its base64 floats), no event when nothing came, the end last."""
    classes = Bundle.default().classes
    view = LiveView(classes, "m")
    t, x = np.arange(1000) / 50, np.random.default_rng(0).normal(size=(1000, 6))
    for i in range(700):  # one sample per chunk, as a realtime source gives them
        view.samples(t[i:i + 1], x[i:i + 1])
    feed = LiveFeed(view)
    [(event, snapshot)] = feed.first()
    assert event == "snapshot" and snapshot["signal"]["n"] == 500
    assert np.array_equal(_floats(snapshot["signal"]["t"], "<f8"), t[200:700])
    assert feed.next() == []
    view.samples(t[700:900], x[700:900])
    view.result(Result(0, 128, 0, 2.56, classes[2], 0.8, [0.1] * len(classes), classes[1], 1.0,
                       classes[2], classes[1]), {"windows": 1})
    [(event, update)] = feed.next()
    assert event == "update" and update["signal"]["n"] == 200
    assert np.array_equal(_floats(update["signal"]["x"], "<f4"), x[700:900].astype("f4").ravel())
    assert update["results"]["label"] == [2] and update["results"]["smoothed"] == [1]
    assert update["counters"] == {"windows": 1}
    view.samples(t[900:], x[900:])
    [(_, update)] = feed.next()
    assert np.array_equal(_floats(update["signal"]["t"], "<f8"), t[900:])
    assert "results" not in update and "counters" not in update  # nothing new there: not sent again
    view.end({"end": "eof"})
    assert feed.next() == [("end", {"end": "eof"})] and feed.done


def _floats(text: str, dtype: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype)
