"""CPU per message of the gateway's pipeline alone: `Gateway.handle` without a broker.

    python tools/bench_gateway_pipeline.py [--devices 1000] [--batch 16,64] [--seconds 10]
                                           [--code DIR] [--repeats 2]

N devices each send the demo recording (each from its own offset, on its own clock) in binary
messages of 25 samples at 50 Hz; batches of ``--batch`` messages (one of each device in turn, as
the inbox gives them) go through `Gateway.handle` on a connection never opened, so the figure is
the decoding, the streamers, the interpreter and the results, with their publication only queued
(no network: that is tools/bench_gateway.py's). The first two messages of each device (a new
stream each) are not timed. Pinned to CPU 0 (taken with ``flock /tmp/bench.lock``: see the team's
benchmark rule). ``--code DIR``: import edgehar from another checkout (main's), for an A/B in one
run with the same load.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import time

import numpy as np


def handle_cpu_us(devices: int, batch: int, seconds: float) -> float:
    """CPU µs per message of Gateway.handle, after the first two messages of every device."""
    from bench_gateway import ACC_SCALE, GYRO_SCALE, demo_counts  # (after --code: its edgehar)

    from edgehar.bundle import Bundle
    from edgehar.services.gateway import Gateway, pack_binary
    from edgehar.services.mqtt import Connection, parse_url

    raw = demo_counts()
    bundle = Bundle.default()
    conn = Connection(parse_url("mqtt://127.0.0.1:1/bench", default_topic="bench"), None)  # never opened
    gateway = Gateway(conn, bundle, "bench", smooth=bundle.smoothing)
    messages = []
    for k in range(int(seconds * 2)):
        for d in range(devices):
            start = (d * 331 + 25 * k) % (len(raw) - 25)
            messages.append((f"n{d}", pack_binary(10**9 + d * 37_117 + k * 500_000, np.arange(25) * 20_000,
                                                  raw[start:start + 25], ACC_SCALE, GYRO_SCALE)))

    def run(part) -> float:
        spent = 0.0
        for i in range(0, len(part), batch):
            for name, payload in part[i:i + batch]:
                gateway.inbox.put(name, payload, time.perf_counter())
            taken = gateway.inbox.get_batch(len(part))
            before = time.process_time()
            gateway.handle(taken)
            spent += time.process_time() - before
        return spent

    with contextlib.redirect_stderr(io.StringIO()):  # the gateway's log of each new device
        run(messages[:2 * devices])
        return 1e6 * run(messages[2 * devices:]) / (len(messages) - 2 * devices)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--batch", default="16,64", help="messages per batch, comma-separated")
    parser.add_argument("--seconds", type=float, default=10.0, help="of the devices' samples, per batch size")
    parser.add_argument("--code", default=None, help="the checkout whose edgehar to time (default: this one)")
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    if args.code:
        sys.path.insert(0, os.path.abspath(args.code))
    os.sched_setaffinity(0, {0})
    import edgehar

    code = os.path.dirname(os.path.dirname(edgehar.__file__))
    for _ in range(args.repeats):
        for batch in map(int, args.batch.split(",")):
            us = handle_cpu_us(args.devices, batch, args.seconds)
            print(json.dumps({"code": code, "devices": args.devices,
                              "batch": batch, "handle_cpu_us_per_message": round(us, 1),
                              "load_average": round(os.getloadavg()[0], 2)}), flush=True)


if __name__ == "__main__":
    main()
