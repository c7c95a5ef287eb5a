"""Two `edgehar serve --partition K/2` on a 3-node NATS cluster (MQTT + JetStream, devices split by
the broker's subject mapping): each device is served by one gateway with the labels `stream`
gives; killing one gateway costs only its devices' windows in progress, and they resume when it
restarts (the scale-out route of docs/fleet.md)."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import REPO
from mqtt_broker import Recorder, mqtt
from test_gateway import ACC_SCALE, GYRO_SCALE, counts_to_binary, expected

from edgehar.runtime.sources import demo_path, iter_csv
from edgehar.services.gateway import pack_binary

DEVICES = ["a", "b", "c", "dev1", "dev2", "kitchen"]  # NATS's partition(2) puts three in each
HALF = 1500


@pytest.fixture
def cluster(tmp_path):
    if not shutil.which("nats-server"):
        pytest.skip("nats-server is not installed (apt-get install -y nats-server)")
    sys.path.insert(0, str(REPO / "tools"))
    from nats_cluster import NatsCluster

    nats = NatsCluster(tmp_path, nodes=3, partitions=2)
    yield nats
    nats.stop()


def gateway(url: str, partition: str) -> subprocess.Popen:
    """`serve --partition K/N` with the results as docs/fleet.md has them on NATS."""
    process = subprocess.Popen([sys.executable, "-m", "edgehar", "serve", "--mqtt", f"{url}/edgehar",
                                "--partition", partition, "--idle", "600", "--result-qos", "0",
                                "--retain-state", "change"], stderr=subprocess.PIPE, text=True)
    while "serving" not in (line := process.stderr.readline()):
        assert line, "the gateway exited before serving"
    return process


def send(client, device: str, t, raw, start: int, stop: int) -> None:
    for i in range(start, stop, 50):
        t0_us = int(round(t[i] * 1e6))
        dt_us = np.rint(t[i:i + 50] * 1e6).astype(np.int64) - t0_us
        batch = pack_binary(t0_us, dt_us, raw[i:i + 50], ACC_SCALE, GYRO_SCALE)
        client.publish(f"edgehar/{device}/imu", batch, qos=1).wait_for_publish(10)


def labels(results) -> list[tuple]:
    return [(r["end"], r["label"], r["probs"]) for r in results]


def test_two_partitioned_gateways_on_a_nats_cluster_serve_every_device_and_survive_a_kill(cluster):
    chunks = list(iter_csv(str(demo_path())))
    t_all, x_all = np.concatenate([c.t for c in chunks]), np.concatenate([c.x for c in chunks])
    streams = {d: (t_all[:2 * HALF], x_all[k * 700:k * 700 + 2 * HALF]) for k, d in enumerate(DEVICES)}
    windows = Recorder(SimpleNamespace(port=cluster.mqtt_ports[2]), "edgehar/+/window")
    gateways = [gateway(cluster.url(0), "0/2"), gateway(cluster.url(1), "1/2")]
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    client.connect("127.0.0.1", cluster.mqtt_ports[2])
    client.loop_start()
    try:
        time.sleep(1.0)  # the gateways' subscriptions reach every node
        for device, (t, x) in streams.items():
            send(client, device, t, counts_to_binary(t, x)[0], 0, HALF)
        first = {d: labels(expected(t[:HALF], counts_to_binary(t, x)[1][:HALF]))
                 for d, (t, x) in streams.items()}
        for device in DEVICES:
            got = [json.loads(p) for p in windows.wait_for(f"edgehar/{device}/window", len(first[device]))]
            assert labels(got) == first[device], device

        gateways[0].send_signal(signal.SIGKILL)  # partition 0's gateway dies; a supervisor restarts it
        gateways[0].wait()
        gateways[0] = gateway(cluster.url(0), "0/2")
        time.sleep(1.0)
        for device, (t, x) in streams.items():
            send(client, device, t, counts_to_binary(t, x)[0], HALF, 2 * HALF)
    finally:
        client.loop_stop()
        client.disconnect()
        for process in gateways:
            process.send_signal(signal.SIGTERM)
        errs = [process.communicate(timeout=60)[1] for process in gateways]
        windows.close()
    summaries = [json.loads(err.strip().splitlines()[-1]) for err in errs]
    restarted, survivor = (set(s["devices"]) for s in summaries)
    assert restarted | survivor == set(DEVICES) and not restarted & survivor and restarted and survivor
    for device, (t, x) in streams.items():
        values = counts_to_binary(t, x)[1]
        if device in survivor:  # untouched: every window, as one gateway (and stream) gives them
            want = labels(expected(t, values))
        else:  # the window in progress at the kill is lost; a new stream (counting from 0) at the restart
            want = first[device] + labels(expected(t[HALF:], values[HALF:]))
        got = [json.loads(p) for p in windows.wait_for(f"edgehar/{device}/window", len(want))]
        assert labels(got) == want, device
