"""How the web pages hold up at scale, measured in Debian's headless Chromium (Playwright):

    python tools/bench_web_pages.py [--devices 1000] [--minutes 60] [--json]

- fleet: a FleetView with ``--devices`` devices (each with its own Streamer, fed through the
  gateway's observer interface with results of every class), its page loaded: time until all
  rows are drawn, then 20 rounds 0.5 s apart in which a quarter of the devices change (the server
  sends the changed rows once a second): the page's time to apply each event, and the gaps between
  animation frames meanwhile (what a user feels as jank) next to those of the same page left idle
  for 10 s (what the machine's load alone causes);
- review: a ``--minutes`` recording (HAPT experiments end to end, from ../shared/data): time of
  the overview call and its size, the model run (first call) and the page until its charts are
  drawn; then a zoom to 60 s (a finer signal fetched).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
from playwright.sync_api import sync_playwright

from edgehar.bundle import Bundle
from edgehar.data.recordings import Recording, read_hapt_recordings, write_recording
from edgehar.runtime.interpreter import TFLiteClassifier
from edgehar.runtime.sources import Chunk
from edgehar.runtime.stream import Result, Streamer
from edgehar.services.web.fleet import FleetView
from edgehar.services.web.review import Review
from edgehar.services.web.server import WebServer

REPO = Path(__file__).resolve().parent.parent
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]
FRAME_GAPS = """() => { window.gaps = []; let last = performance.now();
  const tick = now => { window.gaps.push(now - last); last = now; requestAnimationFrame(tick); };
  requestAnimationFrame(tick);
  const apply = window.update; window.applied = []; window.rows = [];
  window.update = (d, n, r) => {
    const t = performance.now(); apply(d, n, r);
    window.applied.push(performance.now() - t); window.rows.push(d.length); };
}"""


def _result(classes, k: int, t: float) -> Result:
    probs = [0.9 if i == k else 0.1 / (len(classes) - 1) for i in range(len(classes))]
    return Result(0, 128, t - 2.56, t, classes[k], 0.9, probs, classes[k], 1.0, classes[k], classes[k])


def bench_fleet(browser, devices: int) -> dict:
    bundle = Bundle.default()
    classifier, classes = TFLiteClassifier(bundle.tflite("int8")), bundle.classes
    view = FleetView(classes, bundle.name)
    streamers = {f"node-{i:04d}": Streamer(classifier, bundle.pipeline, classes, window=128, hop=64)
                 for i in range(devices)}
    chunk = Chunk(np.arange(25) / 50, np.zeros((25, 6)))
    for i, (name, streamer) in enumerate(streamers.items()):
        view.results(name, chunk, [_result(classes, i % len(classes), 2.56)], streamer)
    server = WebServer("0", view.routes())
    server.start("fleet")
    page = browser.new_page(viewport={"width": 1200, "height": 900}, bypass_csp=True)
    try:
        start = time.perf_counter()
        page.goto(f"http://127.0.0.1:{server.port}/")
        page.wait_for_function(f"document.querySelectorAll('#devices tr').length === {devices}",
                               timeout=60_000)
        first = time.perf_counter() - start
        page.evaluate(FRAME_GAPS)
        time.sleep(10)  # the same page with no updates: how much the machine's load alone delays frames
        idle = page.evaluate("window.gaps.splice(0)")
        names = list(streamers)
        for round_ in range(20):
            t = 3.84 + round_ * 1.28
            for i, name in enumerate(names[round_ % 4::4]):
                view.results(name, chunk, [_result(classes, (i + round_) % len(classes), t)], streamers[name])
            time.sleep(0.5)
        time.sleep(1.0)
        applied, rows = page.evaluate("window.applied"), page.evaluate("window.rows")
        gaps = page.evaluate("window.gaps")
    finally:
        page.close()
        server.close()
    return {"devices": devices, "first_render_s": round(first, 2), "events": len(applied),
            "frame_gaps_over_100ms": sum(g > 100 for g in gaps), "frames": len(gaps),
            "idle_frame_gaps_over_100ms": sum(g > 100 for g in idle), "idle_frames": len(idle),
            "rows_per_event_median": int(np.median(rows)), "rows_per_event_max": max(rows),
            "apply_ms_median": round(float(np.median(applied)), 2), "apply_ms_max": round(max(applied), 2),
            "frame_gap_ms_max": round(max(gaps), 1), "frame_gap_ms_median": round(float(np.median(gaps)), 1)}


def long_recording(minutes: float, folder: Path) -> Path:
    """HAPT experiments end to end until ``minutes`` long, as one recording in ``folder``."""
    parts = read_hapt_recordings(REPO.parent / "shared" / "data" / "hapt-raw" / "RawData")
    raws, labels, n = [], [], int(minutes * 60 * 50)
    while sum(len(r) for r in raws) < n:
        for part in parts:
            raws.append(part.raw)
            labels.append(part.labels)
    raw, codes = np.concatenate(raws)[:n], np.concatenate(labels)[:n]
    recording = Recording("long", raw, np.arange(n) / 50, codes, parts[0].label_names, "1", "long")
    return write_recording(recording, folder / "long.csv")


def _timed_get(url: str) -> tuple[float, int]:
    start = time.perf_counter()
    with urllib.request.urlopen(url, timeout=600) as r:
        size = len(r.read())
    return time.perf_counter() - start, size


def bench_review(browser, minutes: float) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        long_recording(minutes, Path(tmp))
        review = Review(Path(tmp), Bundle.default())
        server = WebServer("0", review.routes()).start("review")
        base = f"http://127.0.0.1:{server.port}"
        try:
            overview_s, overview_bytes = _timed_get(f"{base}/api/recording?name=long.csv")
            model_s, model_bytes = _timed_get(f"{base}/api/model?name=long.csv")
            page = browser.new_page(viewport={"width": 1200, "height": 900}, bypass_csp=True)
            start = time.perf_counter()
            page.goto(f"{base}/?name=long.csv")
            page.wait_for_function("document.getElementById('model-state').textContent.includes('stretches')",
                                   timeout=120_000)
            page_s = time.perf_counter() - start
            signal_s, signal_bytes = _timed_get(f"{base}/api/signal?name=long.csv&start=600&end=660")
            start = time.perf_counter()
            page.fill("#from", "600")
            page.fill("#to", "660")
            page.click("#zoom")
            page.wait_for_function("Math.round(state.charts[0].scales.x.max) === 675")
            zoom_s = time.perf_counter() - start
            page.close()
        finally:
            server.close()
    return {"minutes": minutes, "overview_s": round(overview_s, 2), "overview_kb": overview_bytes // 1024,
            "model_first_s": round(model_s, 2), "model_kb": model_bytes // 1024,
            "page_with_model_s": round(page_s, 2), "zoom_60s_s": round(zoom_s, 2),
            "signal_60s_s": round(signal_s, 3), "signal_60s_kb": signal_bytes // 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        report = {"fleet": bench_fleet(browser, args.devices), "review": bench_review(browser, args.minutes)}
        browser.close()
    print(json.dumps(report) if args.json else json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
