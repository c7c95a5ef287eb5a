"""What the live page costs the stream: CPU of `edgehar stream --source demo --speed realtime`
with and without `--http` (and one page connected, reading the event stream), measured from
/proc over the same stretch of the demo.

    python tools/bench_web.py [--seconds 60] [--warmup 10] [--repeat 3] [--json]

Each run starts the command, waits ``--warmup`` seconds (imports, model load; with --http a
client connects and reads the server-sent events), then takes the process's CPU time (user +
system, all threads: the stream, the web server, the pusher) over the next ``--seconds``. The
runs alternate (without, with, without, ...) ``--repeat`` times; the figures are the medians.

Also the page's own work in this process, free of the machine's scheduling noise: the calls the
stream makes into a LiveView over ``--seconds`` of a 50 Hz source (one sample per chunk, a window
every 64 samples) and the pushes to one subscribed page every second, timed with process_time.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def read_events(url: str, counts: dict) -> None:
    """A page's event stream, read until the server closes it."""
    try:
        with urllib.request.urlopen(url, timeout=600) as stream:
            for line in stream:
                if line.startswith(b"event:"):
                    counts["events"] += 1
                counts["bytes"] += len(line)
    except OSError:
        pass


def measure(http: bool, seconds: float, warmup: float) -> dict:
    command = [sys.executable, "-m", "edgehar", "stream", "--source", "demo", "--speed", "realtime",
               "--jsonl", "--out", os.devnull] + (["--http", "0"] if http else [])
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    counts = {"events": 0, "bytes": 0}
    try:
        if http:
            url = re.search(r"(http://\S+)", process.stderr.readline())[1]
            threading.Thread(target=read_events, args=(url + "events", counts), daemon=True).start()
        time.sleep(warmup)
        start_cpu, start = cpu_seconds(process.pid), time.monotonic()
        time.sleep(seconds)
        cpu, wall = cpu_seconds(process.pid) - start_cpu, time.monotonic() - start
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)
    return {"http": http, "cpu_s": round(cpu, 3), "wall_s": round(wall, 2),
            "cpu_percent_of_core": round(100 * cpu / wall, 2), **({"client": counts} if http else {})}


def page_work(seconds: float) -> float:
    """CPU seconds of the LiveView calls and pushes of ``seconds`` of a 50 Hz stream with one page."""
    import numpy as np

    from edgehar.bundle import Bundle
    from edgehar.runtime.stream import Result
    from edgehar.services.web.live import LiveView

    classes = Bundle.default().classes
    view = LiveView(classes, "bench")
    client = view.hub.subscribe()
    n = int(seconds * 50)
    t, x = np.arange(n) / 50, np.random.default_rng(0).normal(size=(n, 6))
    probs = [0.9] + [0.1 / (len(classes) - 1)] * (len(classes) - 1)
    result = Result(0, 128, 0.0, 2.56, classes[0], 0.9, probs, classes[0], 1.0)
    counters = {"end": "running", "samples": 0, "windows": 0, "gaps": 0, "resyncs": 0, "lost": 0,
                "skipped": {}, "labels": {}, "smoothed": {}, "smoothing": "none"}
    start = time.process_time()
    for i in range(n):
        view.samples(t[i:i + 1], x[i:i + 1])
        if i % 64 == 63:
            view.result(result, dict(counters, samples=i))
        if i % 50 == 49:
            view.push()
            while client.get(0):
                pass
    return time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--warmup", type=float, default=10.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    runs = [(measure(False, args.seconds, args.warmup), measure(True, args.seconds, args.warmup))
            for _ in range(args.repeat)]
    plain, served = (sorted((pair[i] for pair in runs), key=lambda r: r["cpu_s"])[len(runs) // 2]
                     for i in (0, 1))
    report = {"without_http": plain, "with_http_and_a_page": served,
              "cpu_s": {"without_http": [p["cpu_s"] for p, _ in runs],
                        "with_http": [s["cpu_s"] for _, s in runs]},
              "extra_cpu_percent": round(100 * (served["cpu_s"] / plain["cpu_s"] - 1), 1),
              "page_work_cpu_s": round(page_work(args.seconds), 4),
              "extra_cpu_percent_of_core": round(
                  served["cpu_percent_of_core"] - plain["cpu_percent_of_core"], 2)}
    if args.json:
        print(json.dumps(report))
        return
    print(f"stream --speed realtime, {args.seconds:g} s of the demo after {args.warmup:g} s, "
          f"median of {args.repeat} alternating runs (CPU s without: {report['cpu_s']['without_http']}, "
          f"with: {report['cpu_s']['with_http']}):")
    for what, r in (("without --http:          ", plain), ("with --http, a page open:", served)):
        print(f"  {what} {r['cpu_s']:.2f} s CPU ({r['cpu_percent_of_core']:.2f} % of a core)"
              + (f", {r['client']['events']} events, {r['client']['bytes']} bytes" if r["http"] else ""))
    print(f"  the page costs {report['extra_cpu_percent']:+.1f} % CPU "
          f"({report['extra_cpu_percent_of_core']:+.2f} points of one core)")
    work = report["page_work_cpu_s"]
    print(f"  the page's own work in the stream's process: {work * 1e3:.1f} ms CPU per {args.seconds:g} s "
          f"({100 * work / plain['cpu_s']:.1f} % of the stream's CPU)")


if __name__ == "__main__":
    main()
