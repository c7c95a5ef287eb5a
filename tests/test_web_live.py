"""`edgehar stream --http`: the live page in a real browser follows the stream window by window."""

from __future__ import annotations

import base64
import gzip
import json
import subprocess
import threading
from pathlib import Path

import numpy as np
import pytest
from browser import Served, browser, page, screenshot  # noqa: F401  (fixtures)

from edgehar.bundle import Bundle
from edgehar.runtime.sources import Chunk
from edgehar.runtime.stream import Result
from edgehar.services.web import live
from edgehar.services.web.live import BACKLOG, QUIET_S, LiveFeed, LiveView
from edgehar.services.web.server import WebServer

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
    view.result(_result(classes, 2, t[899]), {"windows": 1})
    [(event, update)] = _decoded(feed.next())
    assert event == "update" and update["signal"]["n"] == 200
    assert np.array_equal(_floats(update["signal"]["x"], "<f4"), x[700:900].astype("f4").ravel())
    assert update["results"]["label"] == [2] and update["results"]["smoothed"] == [1]
    assert update["counters"] == {"windows": 1}
    view.samples(t[900:], x[900:])
    [(_, update)] = _decoded(feed.next())
    assert np.array_equal(_floats(update["signal"]["t"], "<f8"), t[900:])
    assert "results" not in update and "counters" not in update  # nothing new there: not sent again
    view.end({"end": "eof"})
    assert _decoded(feed.next()) == [("end", {"end": "eof"})] and feed.done


def test_pages_get_the_same_update_once_per_chunk_woken_by_it_and_every_window_in_order():
    """Two pages get the same bytes, encoded once; a page's thread sleeps until a chunk's last
    window is out (not a timer); windows closer than PUSH_MIN_S go with the next update, none
    lost or repeated."""
    classes = Bundle.default().classes
    view = LiveView(classes, "m")
    pages = [LiveFeed(view), LiveFeed(view)]
    for feed in pages:
        feed.first()
    server = WebServer("0", {})  # not started: its ``closing`` only
    got: list = []
    woken = threading.Thread(target=lambda: (pages[0].wait(server), got.append(pages[0].next())))
    woken.start()
    woken.join(QUIET_S / 4)
    assert woken.is_alive()  # nothing came: it sleeps
    view.samples(np.arange(64) / 50, np.zeros((64, 6)))
    view.result(_result(classes, 1, 1.28), {"windows": 1})
    woken.join(QUIET_S / 2)
    assert not woken.is_alive()  # the window woke it, long before its timeout
    assert got[0] == pages[1].next() and _decoded(got[0])[0][1]["results"]["label"] == [1]
    labels = []
    for k in range(5):  # a burst: only the first chunk's window goes at once
        view.result(_result(classes, k, 2.56 + k), {"windows": 2 + k})
    while update := _decoded(pages[0].next()):
        labels += update[0][1]["results"]["label"]
    assert labels == [0, 1, 2, 3, 4]
    server.httpd.server_close()


def test_a_chunk_of_several_windows_sends_one_update_at_its_last_with_its_counters(monkeypatch):
    """Chunks pass the tap unchanged; a chunk that completes three windows (a burst on stdin)
    sends them in one update at its last window, with the counters after the chunk, so the
    page never shows counters ahead of its windows."""
    monkeypatch.setattr(live, "PUSH_MIN_S", 0.0)  # here the chunks come at once
    classes = Bundle.default().classes
    view = LiveView(classes, "m")
    feed = LiveFeed(view)
    feed.first()
    t = np.arange(330) / 50
    chunks = [Chunk(t[:150], np.zeros((150, 6))), Chunk(t[150:], np.ones((180, 6)))]
    for chunk, given in zip(view.tap(chunks), chunks, strict=True):
        assert chunk is given
        ends = [e for e in (2.54, 3.82, 5.1, 6.38) if chunk.t[0] <= e <= chunk.t[-1]]
        counters = {"windows": view.windows + len(ends)}  # as a streamer's after the chunk
        for end in ends:
            view.result(_result(classes, 2, end), counters)
    [(_, first), (_, second)] = _decoded(feed.next())
    assert first["results"]["t"] == [2.54] and first["signal"]["n"] == 150
    assert second["results"]["t"] == [3.82, 5.1, 6.38] and second["counters"] == {"windows": 4}
    assert second["signal"]["n"] == 180


def test_a_page_further_behind_than_the_backlog_gets_a_new_snapshot(monkeypatch):
    monkeypatch.setattr(live, "PUSH_MIN_S", 0.0)  # every window sends its update
    classes = Bundle.default().classes
    view = LiveView(classes, "m")
    behind, reading = LiveFeed(view), LiveFeed(view)
    behind.first(), reading.first()
    for k in range(BACKLOG + 1):
        view.samples(np.full(1, k), np.zeros((1, 6)))
        view.result(_result(classes, 0, k), {"windows": k + 1})
        assert len(_decoded(reading.next())) == 1
    [(event, snapshot)] = behind.next()
    assert event == "snapshot" and len(snapshot["results"]["t"]) == BACKLOG + 1
    assert snapshot["counters"] == {"windows": BACKLOG + 1}


def _result(classes, label: int, t: float) -> Result:
    return Result(0, 128, t - 2.56, t, classes[label], 0.8, [0.1] * len(classes), classes[1], 1.0,
                  classes[label], classes[1])


def _decoded(events: list[bytes]) -> list[tuple[str, object]]:
    """Server-sent events' bytes as (name, data)."""
    out = []
    for block in b"".join(events).decode().split("\n\n")[:-1]:
        name, data = block.split("\n")
        out.append((name.removeprefix("event: "), json.loads(data.removeprefix("data: "))))
    return out


def _floats(text: str, dtype: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype)
