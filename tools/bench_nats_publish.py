"""How fast one MQTT connection gets a gateway's results through a 3-node NATS cluster on loopback,
for each way of publishing them (docs/fleet.md, *Results on NATS*).

    python tools/bench_nats_publish.py [--windows 600] [--replicas 0,1]

Per MQTT ``stream_replicas`` (0: NATS's default, the cluster's size) and per publish style: a fresh
cluster (tools/nats_cluster.py), one paho client on node 0 publishing ``--windows`` windows as fast
as it can, each a ``window`` message (300 bytes) and a ``state`` message (120 bytes) of one of 200
devices, and (after ``WARMUP`` windows) the time until a subscriber on node 2 has them all and the
broker has acknowledged every QoS 1 one. Prints one JSON line per point with the load average: on a
shared machine the other jobs' share of the cores moves the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
from nats_cluster import NatsCluster

DEVICES, WARMUP = 200, 200
"""Devices the windows are spread over; windows published untimed first (MQTT's streams are made,
and each device has a retained state, which a retained message then replaces)."""
STYLES = {  # name: (window QoS, state QoS, state retained)
    "window QoS 1, state QoS 1 retained (serve's default)": (1, 1, True),
    "window QoS 0, state QoS 1 retained": (0, 1, True),
    "window QoS 1, state QoS 1 not retained": (1, 1, False),
    "both QoS 0, not retained (--result-qos 0, a state between changes)": (0, 0, False),
}


def counter(port: int, total: int, done: threading.Event):
    """A client that sets ``done`` when it has ``total`` messages, or when paho calls its callback
    ``total`` times; the callback counts one."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    client.max_inflight_messages_set(1000)  # as edgehar's Connection
    client.max_queued_messages_set(0)
    count, lock = [0], threading.Lock()

    def one(*args) -> None:
        with lock:
            count[0] += 1
            if count[0] == total:
                done.set()

    client.connect("127.0.0.1", port)
    client.loop_start()
    while not client.is_connected():
        time.sleep(0.05)
    return client, one, count


def windows_per_second(cluster: NatsCluster, windows: int, window_qos: int, state_qos: int,
                       retain: bool) -> float:
    """Publish on node 0; the clock stops when a subscriber on node 2 has every message and node 0
    has acknowledged every QoS 1 one."""
    received, taken = threading.Event(), threading.Event()
    listener, on_message, got = counter(cluster.mqtt_ports[2], 2 * (WARMUP + windows), received)
    listener.on_message = on_message
    listener.subscribe([("edgehar/+/window", 0), ("edgehar/+/state", 0)])
    publisher, on_publish, acked = counter(cluster.mqtt_ports[0], 2 * (WARMUP + windows), taken)
    publisher.on_publish = on_publish
    try:
        time.sleep(1.0)  # the subscription reaches every node
        for i in range(-WARMUP, windows):
            if i == 0:
                while got[0] < 2 * WARMUP or acked[0] < 2 * WARMUP:
                    time.sleep(0.01)
                start = time.perf_counter()
            device = f"edgehar/dev{i % DEVICES}"
            publisher.publish(f"{device}/window", "w" * 300, qos=window_qos)
            publisher.publish(f"{device}/state", "s" * 120, qos=state_qos, retain=retain)
        if not (received.wait(120) and taken.wait(1)):
            raise TimeoutError(f"in 120 s {got[0]} of {2 * (WARMUP + windows)} messages arrived, "
                               f"{acked[0]} were taken")
        return windows / (time.perf_counter() - start)
    finally:
        for client in (publisher, listener):
            client.loop_stop()
            client.disconnect()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--windows", type=int, default=600)
    parser.add_argument("--replicas", default="0,1", help="MQTT stream_replicas values, comma-separated")
    args = parser.parse_args()
    for replicas in map(int, args.replicas.split(",")):
        for style, (window_qos, state_qos, retain) in STYLES.items():
            with tempfile.TemporaryDirectory() as tmp:
                cluster = NatsCluster(Path(tmp), nodes=3, partitions=1, stream_replicas=replicas)
                load0 = os.getloadavg()[0]
                try:
                    outcome = {"windows_per_s": round(windows_per_second(cluster, args.windows, window_qos,
                                                                         state_qos, retain))}
                except TimeoutError as err:  # a broker that loses messages under this load
                    outcome = {"failed": str(err)}
                finally:
                    cluster.stop()
            print(json.dumps({"stream_replicas": replicas or "default (3)", "style": style,
                              "windows": args.windows, **outcome,
                              "load_average_before_after": [round(load0, 2), round(os.getloadavg()[0], 2)]}),
                  flush=True)


if __name__ == "__main__":
    main()
