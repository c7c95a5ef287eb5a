"""`edgehar serve` under attack for 60 s: RSS, survival, and a calm device's windows.

    python tools/attack_gateway.py [--seconds 60] [--ids 20000] [--big-mb 60]
                                   [--out models/gateway-attack.json]

A fresh Mosquitto on 127.0.0.1 (its default queue limits); the gateway (`edgehar serve`,
default model and limits, pinned to CPU 0, stderr to a file); a calm device streaming the demo
recording at its real 50 Hz pace in 25-sample batches, and 8 s later at once: a node publishing
valid 255-sample batches as fast as it can, one message of ``--big-mb`` MB, ``--ids`` made-up
device ids (one message each) and 50 Home Assistant ``online``s. Reported: the gateway's peak
RSS (sampled every 0.2 s), whether it was still running at the end, the calm device's windows
received / expected and whether their labels and probabilities equal `edgehar stream`'s on the
same samples, and the gateway's drop counts. Passes with RSS <= 300 MB, no exit, every calm
window, same labels.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
from bench_gateway import (
    ACC_SCALE,
    GYRO_SCALE,
    RATE_HZ,
    ROOT,
    client,
    demo_counts,
    proc_stat,
    start_broker,
    start_gateways,
    stop_gateways,
)

from edgehar.atomic import write_json
from edgehar.bundle import Bundle
from edgehar.runtime.smoothing import make_smoother
from edgehar.runtime.sources import Chunk
from edgehar.runtime.stream import Streamer, run
from edgehar.services.gateway import pack_binary


def flood(port: int) -> None:
    c = client(port)
    message = pack_binary(0, np.arange(255) * 20_000, np.ones((255, 6), np.int16), ACC_SCALE, GYRO_SCALE)
    while True:
        c.publish(f"{ROOT}/flood/imu", message, qos=0)


def attack(port: int, ids: int, big_mb: int) -> None:
    c = client(port)
    c.publish(f"{ROOT}/big/imu", b"0,0,0,0,0,0,0\n" * (big_mb * 2**20 // 14), qos=0)
    for k in range(ids):
        c.publish(f"{ROOT}/id{k}/imu", b"0,0,0,0,0,0,0", qos=0)
        if k % (ids // 50 or 1) == 0:
            c.publish("homeassistant/status", b"online", qos=0)
    time.sleep(5)
    c.loop_stop()


def calm(port: int, seconds: float, batch: int = 25) -> np.ndarray:
    """Stream the demo at 50 Hz as device `calm`; return the raw counts sent."""
    raw, c = demo_counts(), client(port)
    n = int(seconds * RATE_HZ) // batch * batch
    start = time.perf_counter()
    for i in range(0, n, batch):
        if (wait := start + i / RATE_HZ - time.perf_counter()) > 0:
            time.sleep(wait)
        rows = raw[np.arange(i, i + batch) % len(raw)]
        c.publish(f"{ROOT}/calm/imu", pack_binary(i * 20_000, np.arange(batch) * 20_000, rows, ACC_SCALE,
                                                  GYRO_SCALE), qos=1)
    time.sleep(0.5)
    c.loop_stop()
    return raw[np.arange(n) % len(raw)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--ids", type=int, default=20_000)
    parser.add_argument("--big-mb", type=int, default=60)
    parser.add_argument("--no-flood", action="store_true", help="without the flooding node (the made-up "
                        "ids then all reach the gateway: its device cap is what bounds it)")
    parser.add_argument("--out", type=Path, default=Path("models/gateway-attack.json"))
    args = parser.parse_args()
    import paho.mqtt.client as mqtt

    with tempfile.TemporaryDirectory() as tmp:
        broker, port = start_broker(Path(tmp), queue=1000)
        windows = []
        listener = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
        listener.on_message = lambda c, u, m: windows.append(json.loads(m.payload))
        listener.connect("127.0.0.1", port)
        listener.subscribe(f"{ROOT}/calm/window", qos=1)
        listener.loop_start()
        attackers, gateways = [], []
        try:
            gateways = start_gateways([port], False, Path(tmp))
            gateway = gateways[0]
            _, rss0 = proc_stat(gateway.pid)
            sender = mp.Pool(1)
            sent = sender.apply_async(calm, (port, args.seconds))
            time.sleep(8)  # the calm device is known and has its own subscription; then the attack
            attackers = [mp.Process(target=attack, args=(port, args.ids, args.big_mb))]
            if not args.no_flood:
                attackers.append(mp.Process(target=flood, args=(port,)))
            for p in attackers:
                p.start()
            peak = rss0
            while not sent.ready():
                peak = max(peak, proc_stat(gateway.pid)[1]) if gateway.poll() is None else peak
                time.sleep(0.2)
            samples = sent.get()
            sender.close()
            for p in attackers:
                p.terminate()
            time.sleep(5)
            alive = gateway.poll() is None
        finally:
            for p in attackers:
                p.terminate()
            (summary,) = stop_gateways(gateways, Path(tmp))
            listener.loop_stop()
            broker.terminate()
            broker.wait(10)
    bundle = Bundle.default()
    want = []
    values = samples * np.array([float(np.float32(ACC_SCALE))] * 3 + [float(np.float32(GYRO_SCALE))] * 3)
    run(Streamer.from_bundle(bundle, "int8", smoother=make_smoother(bundle.smoothing, bundle)),
        [Chunk(np.arange(len(samples)) / RATE_HZ, values)], want.append)
    same = [(w["label"], w["probs"]) for w in windows] == [(w.label, w.probs) for w in want]
    devices = summary["devices"]
    result = {
        "conditions": {"machine": f"{platform.machine()}, {os.cpu_count()} cores shared with other users",
                       "load_average": os.getloadavg()[0], "seconds": args.seconds,
                       "made_up_ids": args.ids, "big_message_mb": args.big_mb, "flood": not args.no_flood,
                       "broker": "mosquitto, max_queued_messages 1000"},
        "gateway_rss_mb": {"idle": round(rss0, 1), "peak": round(peak, 1)}, "gateway_alive": alive,
        "calm_windows": {"received": len(windows), "expected": len(want), "labels_identical": same},
        "devices_known_at_end": len(devices), "rejected": summary["rejected"],
        "calm": devices.get("calm"), "flood": devices.get("flood", {}).get("dropped"),
        "big": devices.get("big", {}).get("dropped"),
        "calm_window_ends_received": [w["end"] for w in windows], "gateway_mqtt": summary["mqtt"],
        "passed": bool(peak <= 300 and alive and same and len(windows) == len(want)),
    }
    print(json.dumps(result, indent=1))
    write_json(args.out, result)


if __name__ == "__main__":
    main()
