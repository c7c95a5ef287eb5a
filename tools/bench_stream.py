"""Benchmark the streaming runtime: replay throughput, latency, CPU at live 50 Hz, peak memory.

    python tools/bench_stream.py [--model BUNDLE] [--variant int8] [--source demo] [--seconds 20] [--json]

- throughput: the whole recording replayed as fast as possible in 64-sample chunks
  (samples/s and multiples of real time);
- live: the first ``--seconds`` replayed in real time one sample at a time, as an IMU
  delivers them: latency from the last sample of a window in to its label out (p50/p99),
  and the process CPU time over wall time (percent of one core);
- peak RSS of the process.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

import numpy as np

from edgehar.bundle import Bundle
from edgehar.runtime.sources import iter_array, open_source, paced
from edgehar.runtime.stream import Streamer


def load_recording(spec: str) -> tuple[np.ndarray, np.ndarray]:
    """All samples of a replayable source as (t, x)."""
    chunks = list(open_source(spec))
    return np.concatenate([c.t for c in chunks]), np.concatenate([c.x for c in chunks])


def replay(streamer: Streamer, chunks) -> list[float]:
    """Feed every chunk; the latencies (ms) of the results."""
    return [r.latency_ms for chunk in chunks for r in streamer.feed(chunk.t, chunk.x)]


def bench(bundle: Bundle, variant: str, source: str, seconds: float) -> dict:
    t, x = load_recording(source)
    rate = bundle.pipeline.sample_rate_hz
    streamer = Streamer.from_bundle(bundle, variant)
    start = time.perf_counter()
    fast_latency = replay(streamer, iter_array(x, rate))
    elapsed = time.perf_counter() - start

    live = x[:max(int(seconds * rate), bundle.window)]  # at least one window
    streamer = Streamer.from_bundle(bundle, variant)
    wall0, cpu0 = time.perf_counter(), time.process_time()
    live_latency = replay(streamer, paced(iter_array(live, rate), "realtime"))
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    return {
        "model": bundle.name, "variant": variant, "source": source,
        "replay": {"samples": len(x), "windows": len(fast_latency), "seconds": round(elapsed, 3),
                   "samples_per_s": round(len(x) / elapsed), "x_realtime": round(len(x) / rate / elapsed, 1)},
        "live": {"samples": len(live), "windows": len(live_latency), "seconds": round(wall, 2),
                 "cpu_percent_of_one_core": round(100 * cpu / wall, 2),
                 "latency_ms_p50": round(float(np.percentile(live_latency, 50)), 3),
                 "latency_ms_p99": round(float(np.percentile(live_latency, 99)), 3)},
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="bundle folder (default: models/DEFAULT)")
    parser.add_argument("--variant", default="float32")
    parser.add_argument("--source", default="demo", help="a replayable source: demo, csv:PATH, hapt:ACC_FILE")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the real-time replay")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    bundle = Bundle.load(args.model) if args.model else Bundle.default()
    report = bench(bundle, args.variant, args.source, args.seconds)
    if args.json:
        print(json.dumps(report))
        return
    r, live = report["replay"], report["live"]
    print(f"{report['model']} ({report['variant']}) on {report['source']}")
    print(f"  replay   {r['samples_per_s']:,} samples/s = {r['x_realtime']}x real time "
          f"({r['samples']} samples, {r['windows']} windows)")
    print(f"  live     CPU {live['cpu_percent_of_one_core']}% of one core at 50 Hz over {live['seconds']} s; "
          f"latency p50 {live['latency_ms_p50']} ms, p99 {live['latency_ms_p99']} ms")
    print(f"  peak RSS {report['peak_rss_mb']} MB")


if __name__ == "__main__":
    main()
