"""`serve --result-qos 0 --retain-state change` (the results as docs/fleet.md has them on a NATS
cluster) on a real Mosquitto: the same labels, every state still reaches a subscriber, but only the
states whose activity changed are retained; and a QoS 0 result made while the broker is away is
dropped and counted, never held."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time

import numpy as np
from mqtt_broker import broker, mqtt  # noqa: F401  (fixture)
from test_gateway import ACC_SCALE, GYRO_SCALE, SAMPLES, counts_to_binary, demo, expected, node  # noqa: F401

from edgehar.services.gateway import pack_binary
from edgehar.services.mqtt import Connection, parse_url


class AsPublished:
    """An MQTT 5 subscriber that sees each message's retain flag as it was published."""

    def __init__(self, port: int, *topics: str):
        from paho.mqtt.subscribeoptions import SubscribeOptions

        self.messages: list[tuple[str, dict, bool, int]] = []
        self._lock, subscribed = threading.Lock(), threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(
            [(topic, SubscribeOptions(qos=1, retainAsPublished=True)) for topic in topics])
        self.client.on_subscribe = lambda *args: subscribed.set()
        self.client.on_message = self._message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert subscribed.wait(10), "could not subscribe"

    def _message(self, client, userdata, message) -> None:
        with self._lock:
            self.messages.append((message.topic, json.loads(message.payload), bool(message.retain),
                                  message.qos))

    def on(self, topic: str, count: int, timeout: float = 20.0) -> list[tuple[dict, bool, int]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                got = [(payload, retain, qos) for t, payload, retain, qos in self.messages if t == topic]
            if len(got) >= count:
                return got
            time.sleep(0.02)
        return got

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def test_states_are_retained_only_when_the_activity_changes_and_results_go_at_qos_0(broker, demo):
    t, x = demo
    raw, values = counts_to_binary(t, x)
    want = expected(t, values)
    live = AsPublished(broker.port, "edgehar/dev/window", "edgehar/dev/state")
    gateway = subprocess.Popen([sys.executable, "-m", "edgehar", "serve", "--mqtt", f"{broker.url}/edgehar",
                                "--idle", "600", "--result-qos", "0", "--retain-state", "change"],
                               stderr=subprocess.PIPE, text=True)
    try:
        while "serving" not in (line := gateway.stderr.readline()):
            assert line, "the gateway exited before serving"
        client = node(broker)
        for i in range(0, SAMPLES, 50):
            t0_us = int(round(t[i] * 1e6))
            dt_us = np.rint(t[i:i + 50] * 1e6).astype(np.int64) - t0_us
            client.publish("edgehar/dev/imu", pack_binary(t0_us, dt_us, raw[i:i + 50], ACC_SCALE, GYRO_SCALE),
                           qos=1).wait_for_publish(5)
        client.loop_stop()
        client.disconnect()
        windows = live.on("edgehar/dev/window", len(want))
        states = live.on("edgehar/dev/state", len(want))
        late = AsPublished(broker.port, "edgehar/dev/state")  # subscribes now: gets the retained state
        (retained,) = late.on("edgehar/dev/state", 1)
        late.close()
    finally:
        live.close()
        gateway.send_signal(signal.SIGTERM)
        _, err = gateway.communicate(timeout=30)
    assert [{k: w[k] for k in want[0]} for w, _, _ in windows] == want
    assert {qos for _, _, qos in windows + states} == {0}
    activities = [s["activity"] for s, _, _ in states]
    changed = [i == 0 or a != activities[i - 1] for i, a in enumerate(activities)]
    assert [retain for _, retain, _ in states] == changed and 1 < sum(changed) < len(changed)
    last_change = max(i for i, c in enumerate(changed) if c)
    assert retained == (states[last_change][0], True, 0)
    assert retained[0]["activity"] == activities[-1]  # the sensor's value is today's; only the attributes lag
    summary = json.loads(err.strip().splitlines()[-1])
    assert summary["mqtt"]["dropped"] == summary["mqtt"]["undelivered"] == 0


def test_a_qos_0_result_while_the_broker_is_away_is_dropped_and_counted_not_held(broker):
    conn = Connection(parse_url(f"{broker.url}/edgehar/dev", "edgehar"), None).open()
    broker.stop()
    deadline = time.monotonic() + 10
    while conn.client.is_connected() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not conn.publish("edgehar/dev/window", "{}", qos=0)
    assert conn.publish("edgehar/dev/window", "{}", qos=1)  # held until the broker is back
    counts = conn.close(drain_s=0.1)
    assert (counts["messages"], counts["dropped"], counts["undelivered"]) == (1, 1, 1)
