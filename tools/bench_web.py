"""What the live page costs the stream: CPU of `edgehar stream --source demo --speed realtime`
without `--http` and with it and one page connected (reading the event stream), run side by
side over the same stretch of time.

    python tools/bench_web.py [--seconds 60] [--warmup 10] [--repeat 4] [--json]

Each round starts both commands at once, waits ``--warmup`` seconds (imports, model load; a
client connects to the one with --http and reads its server-sent events), then takes each
process's CPU time over the next ``--seconds`` from /proc/PID/task/*/schedstat (nanoseconds,
every thread): running both at once, the machine's other load falls on both alike; which one
starts first alternates. The figures are the medians of ``--repeat`` rounds, each round printed
as it ends. With --http the CPU is
also split into the stream's thread and the page's (the connection's thread that sends events);
the page's thread plus the stream's calls into the view (timed in-process, below) make an
estimate of the page's cost that the machine's noise barely touches.

First, the page's own work, free of the machine's scheduling noise: the calls the stream makes
into a LiveView over ``--seconds`` of a 50 Hz source (one sample per chunk, a window every 64
samples) and a page's turn every second, timed with process_time in this process.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.request


def cpu_ns(pid: int) -> dict[int, int]:
    """CPU time of each thread of ``pid`` (ns)."""
    times = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            times[int(tid)] = int(open(f"/proc/{pid}/task/{tid}/schedstat").read().split()[0])
        except (OSError, ValueError):
            pass  # the thread ended meanwhile
    return times


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


def start(http: bool) -> subprocess.Popen:
    command = [sys.executable, "-m", "edgehar", "stream", "--source", "demo", "--speed", "realtime",
               "--jsonl", "--out", os.devnull] + (["--http", "0"] if http else [])
    return subprocess.Popen(command, stderr=subprocess.PIPE, text=True)


def round_(seconds: float, warmup: float, served_first: bool) -> dict:
    """One round: both commands side by side (which starts first alternates: the one started
    first tends to use more CPU on a busy machine)."""
    if served_first:
        served, plain = start(True), start(False)
    else:
        plain, served = start(False), start(True)
    counts = {"events": 0, "bytes": 0}
    try:
        url = re.search(r"(http://\S+)", served.stderr.readline())[1]
        threading.Thread(target=read_events, args=(url + "events", counts), daemon=True).start()
        time.sleep(warmup)
        before = {p.pid: cpu_ns(p.pid) for p in (plain, served)}
        begun = time.monotonic()
        time.sleep(seconds)
        after = {p.pid: cpu_ns(p.pid) for p in (plain, served)}
        wall = time.monotonic() - begun
    finally:
        for process in (plain, served):
            process.send_signal(signal.SIGTERM)
            process.communicate(timeout=30)

    def used(pid: int, threads=None) -> float:
        return sum(after[pid][tid] - before[pid].get(tid, 0) for tid in after[pid]
                   if threads is None or threads(tid)) / 1e9

    return {"wall_s": round(wall, 2), "without_http_cpu_s": round(used(plain.pid), 4),
            "with_http_cpu_s": round(used(served.pid), 4),
            "with_http_stream_thread_cpu_s": round(used(served.pid, lambda tid: tid == served.pid), 4),
            "with_http_other_threads_cpu_s": round(used(served.pid, lambda tid: tid != served.pid), 4),
            "without_http_other_threads_cpu_s": round(used(plain.pid, lambda tid: tid != plain.pid), 4),
            "client": counts}


def page_work(seconds: float) -> dict:
    """CPU seconds of the LiveView calls of ``seconds`` of a 50 Hz stream, and of a page's turns."""
    import numpy as np

    from edgehar.bundle import Bundle
    from edgehar.runtime.stream import Result
    from edgehar.services.web.live import LiveFeed, LiveView

    classes = Bundle.default().classes
    view = LiveView(classes, "bench")
    feed = LiveFeed(view)
    feed.first()
    n = int(seconds * 50)
    t, x = np.arange(n) / 50, np.random.default_rng(0).normal(size=(n, 6))
    probs = [0.9] + [0.1 / (len(classes) - 1)] * (len(classes) - 1)
    result = Result(0, 128, 0.0, 2.56, classes[0], 0.9, probs, classes[0], 1.0, classes[0], classes[0])
    counters = {"end": "running", "samples": 0, "windows": 0, "gaps": 0, "resyncs": 0, "lost": 0,
                "skipped": {}, "labels": {}, "smoothed": {}, "smoothing": "none"}
    stream = page = 0.0
    for i in range(n):
        begun = time.process_time()
        view.samples(t[i:i + 1], x[i:i + 1])
        if i % 64 == 63:
            view.result(result, dict(counters, samples=i))
        stream += time.process_time() - begun
        if i % 50 == 49:
            begun = time.process_time()
            "".join(f"event: {e}\ndata: {json.dumps(d, separators=(',', ':'))}\n\n" for e, d in feed.next())
            page += time.process_time() - begun
    return {"stream_calls_cpu_s": round(stream, 4), "page_turns_cpu_s": round(page, 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--warmup", type=float, default=10.0)
    parser.add_argument("--repeat", type=int, default=4)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    work = page_work(args.seconds)
    rounds = []
    for i in range(args.repeat):
        rounds.append(round_(args.seconds, args.warmup, served_first=i % 2 == 1))
        print(f"round {i + 1}: {json.dumps(rounds[-1])} (load average {os.getloadavg()[0]:.1f})",
              file=sys.stderr, flush=True)

    def median(key: str) -> float:
        return round(statistics.median(r[key] for r in rounds), 4)

    plain, served = median("without_http_cpu_s"), median("with_http_cpu_s")
    extra = [100 * (r["with_http_cpu_s"] / r["without_http_cpu_s"] - 1) for r in rounds]
    report = {"seconds": args.seconds, "rounds": rounds, "page_work": work,
              "without_http_cpu_s": plain, "with_http_cpu_s": served,
              "extra_cpu_percent_each_round": [round(e, 1) for e in extra],
              "extra_cpu_percent": round(statistics.median(extra), 1),
              "page_thread_percent_of_stream":
                  round(100 * median("with_http_other_threads_cpu_s") / plain, 1),
              "parts_percent_of_stream": round(
                  100 * (median("with_http_other_threads_cpu_s") + work["stream_calls_cpu_s"]) / plain, 1),
              "without_http_percent_of_core": round(100 * plain / args.seconds, 2),
              "load_average_1min_at_end": round(os.getloadavg()[0], 1)}
    if args.json:
        print(json.dumps(report))
        return
    print(f"stream --speed realtime, {args.seconds:g} s of the demo after {args.warmup:g} s, both side by "
          f"side, median of {args.repeat} rounds (load average at the end "
          f"{report['load_average_1min_at_end']}):")
    print(f"  without --http:           {plain:.3f} s CPU "
          f"({report['without_http_percent_of_core']:.2f} % of a core)")
    print(f"  with --http, a page open: {served:.3f} s CPU "
          f"(of which the page's thread {median('with_http_other_threads_cpu_s'):.3f} s)")
    print(f"  the page costs {report['extra_cpu_percent']:+.1f} % CPU (rounds: "
          f"{', '.join(f'{e:+.1f}' for e in report['extra_cpu_percent_each_round'])}); its thread alone "
          f"{report['page_thread_percent_of_stream']:.1f} % of the stream's CPU")
    print(f"  the page's thread and the stream's calls into the view (timed here) together: "
          f"{report['parts_percent_of_stream']:.1f} % of the stream's CPU")
    print(f"  the page's own work, timed in this process: the stream's calls "
          f"{work['stream_calls_cpu_s'] * 1e3:.1f} ms, the page's turns "
          f"{work['page_turns_cpu_s'] * 1e3:.1f} ms per {args.seconds:g} s")


if __name__ == "__main__":
    main()
