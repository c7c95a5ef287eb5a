"""What the live page costs the stream: CPU of `edgehar stream --source demo --speed realtime`
with `--http` and one page connected (reading the event stream), against the same command
without `--http`, run side by side over the same stretch of time.

    python tools/bench_web.py [--seconds 30] [--warmup 8] [--repeat 6] [--json] [--out FILE]

Each round starts three commands at once, two without --http (A and B) and one with it (the
order they start in rotates from round to round), waits ``--warmup`` seconds (imports, model
load; a client connects to the one with --http and reads its server-sent events), then takes
each process's CPU time over the next ``--seconds`` from /proc/PID/task/*/schedstat
(nanoseconds, every thread): the machine's other load falls on all three alike. The page's cost
in a round is the served process's CPU against the mean of A and B; A against B, two identical
commands, is the noise of the same measurement (the control). The figures are the medians and
quartiles over ``--repeat`` rounds, each round printed as it ends. Also split out: the threads
of the served process other than the stream's (the page's thread and the server's loop), much
less noisy, and the stream's own thread against A's and B's (the stream's calls into the view,
which encode each window's update while a page is open).

First, the page's own work, free of the machine's scheduling noise: the calls the stream makes
into a LiveView with a page open over ``--seconds`` of a 50 Hz source (one sample per chunk, a
window every 64 samples, each window's update encoded) and the page's turns (taking each update),
timed with process_time in this process.
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
from pathlib import Path


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


def round_(seconds: float, warmup: float, served_at: int) -> dict:
    """One round: A, B (without --http) and the served one side by side, the served one started
    ``served_at``-th (0, 1 or 2)."""
    kinds = ["plain", "plain"]
    kinds.insert(served_at, "served")
    processes = [start(kind == "served") for kind in kinds]
    served = processes[served_at]
    plain = [p for p in processes if p is not served]
    counts = {"events": 0, "bytes": 0}
    try:
        url = re.search(r"(http://\S+)", served.stderr.readline())[1]
        threading.Thread(target=read_events, args=(url + "events", counts), daemon=True).start()
        time.sleep(warmup)
        load_before = os.getloadavg()[0]
        before = {p.pid: cpu_ns(p.pid) for p in processes}
        begun = time.monotonic()
        time.sleep(seconds)
        after = {p.pid: cpu_ns(p.pid) for p in processes}
        wall = time.monotonic() - begun
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            process.communicate(timeout=30)

    def used(process: subprocess.Popen, main: bool | None = None) -> float:
        pid = process.pid
        return round(sum(after[pid][tid] - before[pid].get(tid, 0) for tid in after[pid]
                         if main is None or (tid == pid) == main) / 1e9, 5)

    a, b = plain
    return {"wall_s": round(wall, 2), "served_started": served_at + 1,
            "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
            "a_cpu_s": used(a), "b_cpu_s": used(b), "served_cpu_s": used(served),
            "a_stream_thread_cpu_s": used(a, True), "b_stream_thread_cpu_s": used(b, True),
            "served_stream_thread_cpu_s": used(served, True),
            "served_other_threads_cpu_s": used(served, False),
            "plain_other_threads_cpu_s": used(a, False) + used(b, False), "client": counts}


def page_work(seconds: float) -> dict:
    """CPU seconds of the LiveView calls of ``seconds`` of a 50 Hz stream with a page open (the
    tap against a bare loop, and each window's result, which encodes the update), and of the
    page's turns (taking each update)."""
    import numpy as np

    from edgehar.bundle import Bundle
    from edgehar.runtime.sources import Chunk
    from edgehar.runtime.stream import Result
    from edgehar.services.web import live
    from edgehar.services.web.live import LiveFeed, LiveView

    live.PUSH_MIN_S = 0.0  # the loop runs far faster than 50 Hz: let every window send its update
    classes = Bundle.default().classes
    view = LiveView(classes, "bench")
    feed = LiveFeed(view)
    feed.first()
    n = int(seconds * 50)
    t, x = np.arange(n) / 50, np.random.default_rng(0).normal(size=(n, 6))
    chunks = [Chunk(t[i:i + 1], x[i:i + 1]) for i in range(n)]  # one sample each, as --speed realtime
    probs = [0.9] + [0.1 / (len(classes) - 1)] * (len(classes) - 1)
    counters = {"end": "running", "samples": 0, "windows": 0, "gaps": 0, "resyncs": 0, "lost": 0,
                "skipped": {}, "labels": {}, "smoothed": {}, "smoothing": "none"}
    begun = time.process_time()
    for _ in chunks:
        pass
    bare = time.process_time() - begun
    stream = page = 0.0
    sent = 0
    begun = time.process_time()
    for i, chunk in enumerate(view.tap(chunks)):
        if i % 64 == 63:
            view.result(Result(0, 128, chunk.t[0] - 2.56, chunk.t[0], classes[0], 0.9, probs, classes[0], 1.0,
                               classes[0], classes[0]), dict(counters, samples=i))
            stream += time.process_time() - begun
            begun = time.process_time()
            sent += len(b"".join(feed.next()))
            page += time.process_time() - begun
            begun = time.process_time()
    stream += time.process_time() - begun - bare
    return {"stream_calls_cpu_s": round(stream, 5), "page_turns_cpu_s": round(page, 5),
            "windows": n // 64, "bytes_per_window": round(sent / (n // 64))}


def _spread(values: list[float]) -> dict:
    quartiles = statistics.quantiles(values, n=4, method="inclusive") if len(values) > 1 else values * 3
    return {"median": round(statistics.median(values), 2), "quartiles": [round(quartiles[0], 2),
            round(quartiles[2], 2)], "min": round(min(values), 2), "max": round(max(values), 2),
            "each_round": [round(v, 2) for v in values]}


def summarise(rounds: list[dict], seconds: float, work: dict) -> dict:
    """The page's cost, the control and the parts, in percent of the stream's CPU (A and B's mean)."""
    for r in rounds:
        r["plain_cpu_s"] = (r["a_cpu_s"] + r["b_cpu_s"]) / 2
        r["plain_stream_thread_cpu_s"] = (r["a_stream_thread_cpu_s"] + r["b_stream_thread_cpu_s"]) / 2
    plain = statistics.median(r["plain_cpu_s"] for r in rounds)
    return {
        "seconds": seconds, "rounds": rounds, "page_work": work,
        "without_http_cpu_s": round(plain, 4),
        "without_http_percent_of_core": round(100 * plain / seconds, 2),
        "extra_cpu_percent": _spread([100 * (r["served_cpu_s"] / r["plain_cpu_s"] - 1) for r in rounds]),
        "control_a_vs_b_percent": _spread([100 * (r["a_cpu_s"] / r["b_cpu_s"] - 1) for r in rounds]),
        "page_thread_percent_of_stream": _spread(
            [100 * r["served_other_threads_cpu_s"] / r["plain_cpu_s"] for r in rounds]),
        "stream_thread_extra_percent": _spread(
            [100 * (r["served_stream_thread_cpu_s"] / r["plain_stream_thread_cpu_s"] - 1) for r in rounds]),
        "page_work_percent_of_stream": round(
            100 * (work["stream_calls_cpu_s"] + work["page_turns_cpu_s"]) / plain, 2),
        "load_average_1min": [min(r["load_average_1min"][0] for r in rounds),
                              max(r["load_average_1min"][1] for r in rounds)],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--warmup", type=float, default=8.0)
    parser.add_argument("--repeat", type=int, default=6)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--out", type=Path, help="also write the JSON object here (atomically)")
    args = parser.parse_args()
    work = page_work(args.seconds)
    rounds = []
    for i in range(args.repeat):
        rounds.append(round_(args.seconds, args.warmup, served_at=i % 3))
        print(f"round {i + 1}: {json.dumps(rounds[-1])}", file=sys.stderr, flush=True)
    report = summarise(rounds, args.seconds, work)
    if args.out:
        from edgehar import atomic

        atomic.write_json(args.out, report)
    if args.json:
        print(json.dumps(report))
        return

    def spread(key: str) -> str:
        s = report[key]
        return f"{s['median']:+.1f} % (quartiles {s['quartiles'][0]:+.1f} to {s['quartiles'][1]:+.1f}, " \
               f"rounds {', '.join(f'{v:+.1f}' for v in s['each_round'])})"

    print(f"stream --speed realtime, {args.seconds:g} s of the demo after {args.warmup:g} s, three side by "
          f"side, {args.repeat} rounds (load average {report['load_average_1min'][0]}–"
          f"{report['load_average_1min'][1]}):")
    print(f"  without --http: {report['without_http_cpu_s']:.3f} s CPU "
          f"({report['without_http_percent_of_core']:.2f} % of a core)")
    print(f"  with --http and a page open, extra CPU: {spread('extra_cpu_percent')}")
    print(f"  control, A against B (the same command): {spread('control_a_vs_b_percent')}")
    print(f"  the page's thread (and the server's), of the stream's CPU: "
          f"{spread('page_thread_percent_of_stream')}")
    print(f"  the stream's own thread, extra: {spread('stream_thread_extra_percent')}")
    print(f"  the page's own work, timed in this process: the stream's calls "
          f"{work['stream_calls_cpu_s'] * 1e3:.1f} ms, the page's turns "
          f"{work['page_turns_cpu_s'] * 1e3:.1f} ms "
          f"per {args.seconds:g} s ({report['page_work_percent_of_stream']:.2f} % of the stream's CPU; "
          f"{work['bytes_per_window']} bytes an update)")


if __name__ == "__main__":
    main()
