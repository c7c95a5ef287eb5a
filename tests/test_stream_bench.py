"""tools/bench_stream.py reports throughput, live CPU, latency and memory as JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "tools" / "bench_stream.py"


def test_bench_reports_every_figure(tiny_bundle):
    done = subprocess.run([sys.executable, str(BENCH), "--model", str(tiny_bundle.path), "--seconds", "3",
                           "--json"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    replay, live = report["replay"], report["live"]
    assert replay["samples"] == 14450 and replay["windows"] == 224 and replay["x_realtime"] > 1
    assert live["samples"] == 150 and live["windows"] == 1 and 2.9 < live["seconds"] < 10
    assert 0 < live["cpu_percent_of_one_core"] < 100
    assert 0 < live["latency_ms_p50"] <= live["latency_ms_p99"]
    assert report["peak_rss_mb"] > 10
