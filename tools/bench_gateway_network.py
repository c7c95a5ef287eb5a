"""The CPU of the gateway's network side alone: receiving node messages and publishing results
through :class:`edgehar.services.mqtt.Connection`, as `edgehar serve` polls it.

    python tools/bench_gateway_network.py [--messages 20000] [--windows 4000] [--repeats 3]

A fresh Mosquitto on 127.0.0.1, pinned to CPU 1; this process on CPU 0. Receiving: a node
publishes ``--messages`` 420-byte messages (a 25-sample binary batch) over 1,000 device topics
while the gateway's connection does not read; then the connection reads them all (paho's parsing,
the connection's dispatch to the wildcard subscription's callback): CPU µs per message, this
process only. Publishing: ``--windows`` windows' results (the window's JSON and the state, QoS 1),
20 a turn, each turn sent by :func:`~edgehar.services.mqtt.flush`, until the broker has
acknowledged them all: CPU µs per window. Each for an MQTT 5 session (what `serve` opens: it
announces the largest message it takes) and an MQTT 3.1.1 one, alternating; the median of
``--repeats`` is printed as one JSON line, with the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from bench_gateway import GATEWAY_CPU, start_broker

from edgehar.runtime.stream import Result
from edgehar.services.mqtt import Connection, ResultPublisher, flush, parse_url, poll

RESULT = Result(0, 128, 0.0, 2.56, "WALKING", 0.98765, [0.01, 0.98765, 0.0, 0.0, 0.0, 0.00235], "WALKING",
                1.234, "WALKING", "WALKING")


def receive(port: int, messages: int, max_packet: int | None) -> float:
    """CPU µs per node message read by a polled connection (MQTT 5 when ``max_packet``)."""
    import paho.mqtt.client as mqtt

    conn = Connection(parse_url(f"mqtt://127.0.0.1:{port}/bench", "bench"), None, max_packet=max_packet)
    got = [0]
    conn.subscribe("bench/+/imu", lambda client, userdata, msg: got.__setitem__(0, got[0] + 1))
    conn.open(polled=True)
    node = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    node.connect("127.0.0.1", port)
    node.loop_start()
    for i in range(messages):
        node.publish(f"bench/node{i % 1000:05d}/imu", bytes(420), qos=0)
    while node.want_write():
        time.sleep(0.01)
    time.sleep(1.0)  # all at the broker or in the socket
    node.loop_stop()
    node.disconnect()
    cpu, deadline = time.process_time(), time.monotonic() + 60
    while got[0] < messages and time.monotonic() < deadline:
        poll([conn], 0.05)
        flush([conn])
    cpu = time.process_time() - cpu
    conn.close(drain_s=1)
    if got[0] < messages:
        raise SystemExit(f"received {got[0]} of {messages} messages")
    return 1e6 * cpu / messages


def publish(port: int, windows: int, max_packet: int | None) -> float:
    """CPU µs per window's results published (QoS 1) and acknowledged, 20 windows a turn."""
    conn = Connection(parse_url(f"mqtt://127.0.0.1:{port}/bench", "bench"), None, max_packet=max_packet)
    conn.open(polled=True)
    publishers = [ResultPublisher(conn, f"bench/node{d:05d}", ["WALKING"], "bench", discovery_prefix="")
                  for d in range(200)]
    cpu, deadline = time.process_time(), time.monotonic() + 60
    for k in range(windows):
        publishers[k % len(publishers)].publish(RESULT)
        if k % 20 == 19:
            poll([conn], 0)
            flush([conn])
    while conn.pending and time.monotonic() < deadline:
        poll([conn], 0.01)
        flush([conn])
    cpu = time.process_time() - cpu
    if conn.pending:
        raise SystemExit(f"{conn.pending} results not acknowledged")
    conn.close(drain_s=1)
    return 1e6 * cpu / windows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--windows", type=int, default=4_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    os.sched_setaffinity(0, {GATEWAY_CPU})
    runs: dict[str, dict[str, list[float]]] = {"mqtt5": {"receive": [], "publish": []},
                                               "mqtt311": {"receive": [], "publish": []}}
    load0 = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        broker, port = start_broker(Path(tmp))
        try:
            for _ in range(args.repeats):
                for protocol, max_packet in (("mqtt5", 65_536 + 1024), ("mqtt311", None)):
                    runs[protocol]["receive"].append(receive(port, args.messages, max_packet))
                    runs[protocol]["publish"].append(publish(port, args.windows, max_packet))
        finally:
            broker.terminate()
            broker.wait(10)
    print(json.dumps({
        **{f"{protocol}_{part}_us": round(statistics.median(values), 1)
           for protocol, parts in runs.items() for part, values in parts.items()},
        "runs": {protocol: {part: [round(v, 1) for v in values] for part, values in parts.items()}
                 for protocol, parts in runs.items()},
        "messages": args.messages, "windows": args.windows,
        "load_average_before_after": [round(load0, 2), round(os.getloadavg()[0], 2)]}))


if __name__ == "__main__":
    main()
