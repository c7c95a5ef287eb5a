"""What the live page costs the stream: CPU of `edgehar stream --source demo --speed realtime`
with `--http` and one page connected (reading the event stream), against the same command
without `--http`.

    python tools/bench_web.py [--seconds 20] [--warmup 6] [--repeat 6] [--pairs 5] [--json] [--out FILE]

Side by side: each round starts four commands at once, A and B without --http, one with
--http and no page, and the served one with a page reading its server-sent events (the order
they start in rotates from round to round), waits ``--warmup`` seconds (imports, model load),
then takes each process's CPU time over the next ``--seconds`` from /proc/PID/task/*/schedstat
(nanoseconds, every thread): the machine's other load falls on all four alike. A round's figure
is a process's CPU against the mean of A and B; A against B, two identical commands, is the
noise of the measurement (the control).

Within one process: one command with --http, a page open for ``--seconds``, then none for
``--seconds``, ``--pairs`` times (which comes first alternates), each compared with itself:
the same placement on the cores and in memory, a few seconds apart.

Both give the median and quartiles over their rounds or pairs, and split out the threads other
than the stream's (the page's thread), which schedstat measures with little noise. Last, the
page's own work free of the machine's noise: the calls the stream makes into a LiveView with a
page open over ``--seconds`` of a 50 Hz source (one sample per chunk, a window every 64
samples, each window's update encoded) and the page's turns, timed with process_time here.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit


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


class Page:
    """A page reading a live page's event stream until :meth:`close`."""

    def __init__(self, url: str):
        parts = urlsplit(url)
        self.sock = socket.create_connection((parts.hostname, parts.port))
        self.sock.sendall(f"GET {parts.path}events HTTP/1.1\r\nHost: {parts.hostname}\r\n\r\n".encode())
        self.bytes = 0
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        with contextlib.suppress(OSError):
            while data := self.sock.recv(65536):
                self.bytes += len(data)

    def close(self) -> None:
        self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self._thread.join(5)


def start(http: bool) -> subprocess.Popen:
    command = [sys.executable, "-m", "edgehar", "stream", "--source", "demo", "--speed", "realtime",
               "--jsonl", "--out", os.devnull] + (["--http", "0"] if http else [])
    return subprocess.Popen(command, stderr=subprocess.PIPE, text=True)


def round_(seconds: float, warmup: float, shift: int) -> dict:
    """One round: A and B (without --http), one with --http and no page, and the served one (a
    page open) side by side, their start order rotated by ``shift``."""
    kinds = ["a", "b", "http", "served"]
    kinds = kinds[shift % 4:] + kinds[:shift % 4]
    processes = {kind: start(kind in ("http", "served")) for kind in kinds}
    counts = {"events": 0, "bytes": 0}
    try:
        urls = {kind: re.search(r"(http://\S+)", processes[kind].stderr.readline())[1]
                for kind in ("http", "served")}
        threading.Thread(target=read_events, args=(urls["served"] + "events", counts), daemon=True).start()
        time.sleep(warmup)
        load_before = os.getloadavg()[0]
        before = {kind: cpu_ns(p.pid) for kind, p in processes.items()}
        begun = time.monotonic()
        time.sleep(seconds)
        after = {kind: cpu_ns(p.pid) for kind, p in processes.items()}
        wall = time.monotonic() - begun
    finally:
        for process in processes.values():
            process.send_signal(signal.SIGTERM)
        for process in processes.values():
            process.communicate(timeout=30)

    def used(kind: str, main: bool | None = None) -> float:
        pid = processes[kind].pid
        return round(sum(after[kind][tid] - before[kind].get(tid, 0) for tid in after[kind]
                         if main is None or (tid == pid) == main) / 1e9, 5)

    return {"wall_s": round(wall, 2), "start_order": kinds,
            "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
            **{f"{kind}_cpu_s": used(kind) for kind in kinds},
            **{f"{kind}_stream_thread_cpu_s": used(kind, True) for kind in kinds},
            "served_other_threads_cpu_s": used("served", False), "client": counts}


def alternating(seconds: float, warmup: float, pairs: int) -> dict:
    """One process with --http; a page open for ``seconds``, then none for ``seconds``, ``pairs``
    times (which comes first alternates): the same process, so the same placement on the
    machine's cores and caches, compared with itself a few seconds apart."""
    served = start(True)
    intervals = []
    try:
        url = re.search(r"(http://\S+)", served.stderr.readline())[1]
        time.sleep(warmup)
        for i in range(2 * pairs):
            is_open = (i % 2 == 0) == (i // 2 % 2 == 0)  # open, closed, closed, open, open, ...
            page = Page(url) if is_open else None
            time.sleep(1.0)  # the connection and its snapshot settle (counted in neither)
            before, begun = cpu_ns(served.pid), time.monotonic()
            time.sleep(seconds)
            after, wall = cpu_ns(served.pid), time.monotonic() - begun
            if page:
                page.close()
            intervals.append({
                "page_open": is_open, "wall_s": round(wall, 2),
                "stream_thread_cpu_s": round((after[served.pid] - before[served.pid]) / 1e9, 5),
                "other_threads_cpu_s": round(sum(after[tid] - before.get(tid, 0) for tid in after
                                                 if tid != served.pid) / 1e9, 5),
                "page_bytes": page.bytes if page else 0})
            print(f"interval {i + 1}: {json.dumps(intervals[-1])}", file=sys.stderr, flush=True)
    finally:
        served.send_signal(signal.SIGTERM)
        served.communicate(timeout=30)

    def cpu(interval: dict) -> float:
        return interval["stream_thread_cpu_s"] + interval["other_threads_cpu_s"]

    pairs_ = [sorted(intervals[k:k + 2], key=lambda v: not v["page_open"])
              for k in range(0, len(intervals), 2)]
    return {"seconds": seconds, "intervals": intervals,
            "extra_cpu_percent": _spread([100 * (cpu(o) / cpu(c) - 1) for o, c in pairs_]),
            "stream_thread_extra_percent": _spread(
                [100 * (o["stream_thread_cpu_s"] / c["stream_thread_cpu_s"] - 1) for o, c in pairs_]),
            "page_thread_percent_of_stream": _spread(
                [100 * o["other_threads_cpu_s"] / cpu(c) for o, c in pairs_])}


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


def summarise(rounds: list[dict], seconds: float, work: dict, within: dict) -> dict:
    """The page's cost, the control and the parts, in percent of the stream's CPU (A and B's mean)."""
    for r in rounds:
        r["plain_cpu_s"] = (r["a_cpu_s"] + r["b_cpu_s"]) / 2
        r["plain_stream_thread_cpu_s"] = (r["a_stream_thread_cpu_s"] + r["b_stream_thread_cpu_s"]) / 2
    plain = statistics.median(r["plain_cpu_s"] for r in rounds)
    return {
        "seconds": seconds, "rounds": rounds, "within_one_process": within, "page_work": work,
        "without_http_cpu_s": round(plain, 4),
        "without_http_percent_of_core": round(100 * plain / seconds, 2),
        "extra_cpu_percent": _spread([100 * (r["served_cpu_s"] / r["plain_cpu_s"] - 1) for r in rounds]),
        "http_without_page_extra_percent": _spread(
            [100 * (r["http_cpu_s"] / r["plain_cpu_s"] - 1) for r in rounds]),
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
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=6.0)
    parser.add_argument("--repeat", type=int, default=6)
    parser.add_argument("--pairs", type=int, default=5, help="page open/closed pairs in one process")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--out", type=Path, help="also write the JSON object here (atomically)")
    args = parser.parse_args()
    work = page_work(args.seconds)
    rounds = []
    for i in range(args.repeat):
        rounds.append(round_(args.seconds, args.warmup, shift=i))
        print(f"round {i + 1}: {json.dumps(rounds[-1])}", file=sys.stderr, flush=True)
    within = alternating(args.seconds, args.warmup, args.pairs)
    report = summarise(rounds, args.seconds, work, within)
    if args.out:
        from edgehar import atomic

        atomic.write_json(args.out, report)
    if args.json:
        print(json.dumps(report))
        return

    def spread(s: dict) -> str:
        return f"{s['median']:+.1f} % (quartiles {s['quartiles'][0]:+.1f} to {s['quartiles'][1]:+.1f}; " \
               f"each {', '.join(f'{v:+.1f}' for v in s['each_round'])})"

    print(f"stream --source demo --speed realtime, {args.seconds:g} s after {args.warmup:g} s, four side by "
          f"side, {args.repeat} rounds (load average {report['load_average_1min'][0]}–"
          f"{report['load_average_1min'][1]}):")
    print(f"  without --http: {report['without_http_cpu_s']:.3f} s CPU "
          f"({report['without_http_percent_of_core']:.2f} % of a core)")
    print(f"  with --http and a page open, extra CPU: {spread(report['extra_cpu_percent'])}")
    print(f"  with --http, no page: {spread(report['http_without_page_extra_percent'])}")
    print(f"  control, A against B (the same command): {spread(report['control_a_vs_b_percent'])}")
    print(f"  the page's thread, of the stream's CPU: {spread(report['page_thread_percent_of_stream'])}")
    print(f"  the stream's own thread, extra: {spread(report['stream_thread_extra_percent'])}")
    print(f"one process with --http, a page open against none, {args.pairs} pairs of {args.seconds:g} s:")
    print(f"  extra CPU: {spread(within['extra_cpu_percent'])}")
    print(f"  the stream's own thread, extra: {spread(within['stream_thread_extra_percent'])}")
    print(f"  the page's thread, of the stream's CPU: {spread(within['page_thread_percent_of_stream'])}")
    print(f"the page's own work, timed in this process: the stream's calls "
          f"{work['stream_calls_cpu_s'] * 1e3:.1f} ms, the page's turns "
          f"{work['page_turns_cpu_s'] * 1e3:.1f} ms per {args.seconds:g} s "
          f"({report['page_work_percent_of_stream']:.2f} % of the stream's CPU; "
          f"{work['bytes_per_window']} bytes an update)")


if __name__ == "__main__":
    main()
