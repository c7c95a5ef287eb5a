"""`edgehar serve`'s one thread does the network I/O (no paho thread): through a broker restart it
must reconnect, subscribe again and go on with every device's stream by itself; over TLS too."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import numpy as np
from mqtt_broker import Mosquitto, broker, mqtt, recorder  # noqa: F401  (fixtures)
from test_gateway import ACC_SCALE, GYRO_SCALE, SAMPLES, counts_to_binary, demo, expected, node  # noqa: F401
from test_mqtt_publish import _certificates

from edgehar.services.gateway import pack_binary


def publish(client, t, raw, start: int, stop: int) -> None:
    for i in range(start, stop, 50):
        t0_us = int(round(t[i] * 1e6))
        dt_us = np.rint(t[i:i + 50] * 1e6).astype(np.int64) - t0_us
        client.publish("edgehar/node/imu", pack_binary(t0_us, dt_us, raw[i:i + 50], ACC_SCALE, GYRO_SCALE),
                       qos=1).wait_for_publish(5)


def test_a_broker_restart_loses_no_window_and_the_gateway_serves_on_by_itself(broker, recorder, demo):
    t, x = demo
    raw, values = counts_to_binary(t, x)
    gateway = subprocess.Popen([sys.executable, "-m", "edgehar", "serve", "--mqtt", f"{broker.url}/edgehar"],
                               stderr=subprocess.PIPE, text=True)
    try:
        while "serving" not in (line := gateway.stderr.readline()):
            assert line, "the gateway exited before serving"
        client = node(broker)
        publish(client, t, raw, 0, SAMPLES // 2)
        assert len(recorder.wait_for("edgehar/node/window", 20)) >= 20
        broker.stop()
        time.sleep(2.5)  # the gateway has noticed and tried again, in vain
        broker.start()
        for _ in range(2):  # both connections (results, devices' own subscriptions) are back
            while "connected again" not in (line := gateway.stderr.readline()):
                assert line, "the gateway exited"
        time.sleep(0.5)  # their subscriptions are made
        deadline = time.monotonic() + 20
        while not client.is_connected():
            assert time.monotonic() < deadline, "the node did not reconnect"
            time.sleep(0.05)
        publish(client, t, raw, SAMPLES // 2, SAMPLES)
        client.loop_stop()
        client.disconnect()
        want = expected(t, values)
        got = [json.loads(p) for p in recorder.wait_for("edgehar/node/window", len(want))]
        first_seen = list({g["start"]: g for g in got}.values())  # QoS 1: a resent window may repeat
        assert [{k: g[k] for k in ("start", "label", "probs")} for g in first_seen] == \
            [{k: w[k] for k in ("start", "label", "probs")} for w in want]
    finally:
        gateway.send_signal(signal.SIGTERM)
        _, err = gateway.communicate(timeout=30)
    assert gateway.returncode == 143, err
    summary = json.loads(err.splitlines()[-1])
    assert summary["devices"]["node"]["samples"] == SAMPLES and summary["devices"]["node"]["gaps"] == 0
    assert summary["mqtt"]["connections"] == 2 and summary["mqtt"]["undelivered"] == 0


def tls_client(port: int, ca: str, received: list | None = None):
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    client.tls_set(ca_certs=ca)
    if received is not None:
        client.on_connect = lambda c, u, f, rc, p: c.subscribe("edgehar/node/window", qos=1)
        client.on_message = lambda c, u, msg: received.append(json.loads(msg.payload))
    client.connect("127.0.0.1", port)
    client.loop_start()
    return client


def test_over_tls_the_gateway_polls_its_connections_and_gives_every_window(tmp_path, demo):
    t, x = demo
    raw, values = counts_to_binary(t, x)
    _certificates(tmp_path)
    broker = Mosquitto(tmp_path, tls=True)
    ca, received = str(tmp_path / "ca.pem"), []
    gateway = subprocess.Popen([sys.executable, "-m", "edgehar", "serve", "--mqtt-ca", ca, "--mqtt",
                                f"mqtts://127.0.0.1:{broker.port}/edgehar"],
                               stderr=subprocess.PIPE, text=True)
    try:
        while "serving" not in (line := gateway.stderr.readline()):
            assert line, "the gateway exited before serving"
        listener = tls_client(broker.port, ca, received)
        node = tls_client(broker.port, ca)
        time.sleep(0.5)  # the listener has subscribed
        publish(node, t, raw, 0, SAMPLES)
        want = expected(t, values)
        deadline = time.monotonic() + 20
        while len(received) < len(want) and time.monotonic() < deadline:
            time.sleep(0.05)
        for client in (node, listener):
            client.loop_stop()
            client.disconnect()
        assert [{k: g[k] for k in ("start", "label", "probs")} for g in received] == \
            [{k: w[k] for k in ("start", "label", "probs")} for w in want]
    finally:
        gateway.send_signal(signal.SIGTERM)
        _, err = gateway.communicate(timeout=30)
        broker.stop()
    assert gateway.returncode == 143, err
    assert json.loads(err.splitlines()[-1])["mqtt"]["undelivered"] == 0
