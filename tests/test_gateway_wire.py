"""What `edgehar serve` puts on the wire, message for message, now that a turn's results are queued
and sent together (corked): on a real Mosquitto, every message of several devices streaming at
once has the topic, payload bytes, QoS and retain flag the results always had."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from mqtt_broker import broker, mqtt  # noqa: F401  (fixture)
from test_gateway import ACC_SCALE, GYRO_SCALE, SAMPLES, counts_to_binary, demo, node  # noqa: F401
from test_gateway_retain_state import AsPublished

import edgehar
from edgehar.bundle import Bundle
from edgehar.runtime.smoothing import make_smoother
from edgehar.runtime.sources import Chunk
from edgehar.runtime.stream import Streamer, run
from edgehar.services.gateway import pack_binary
from edgehar.services.mqtt import Connection, discovery_config, flush, parse_url, poll

DEVICES = ("dev-a", "dev-b", "dev-c")


class Raw(AsPublished):
    """:class:`AsPublished` keeping each payload's bytes."""

    def _message(self, client, userdata, message) -> None:
        with self._lock:
            self.messages.append((message.topic, bytes(message.payload), bool(message.retain), message.qos))


def stream_results(t, x) -> list:
    bundle = Bundle.default()
    results = []
    run(Streamer.from_bundle(bundle, "int8", smoother=make_smoother(bundle.smoothing, bundle)),
        [Chunk(t, x)], results.append)
    return results


def serving(url: str) -> subprocess.Popen:
    """`edgehar serve` with its defaults under ``url``, once it serves."""
    gateway = subprocess.Popen([sys.executable, "-m", "edgehar", "serve", "--mqtt", url, "--idle", "600"],
                               stderr=subprocess.PIPE, text=True)
    while "serving" not in (line := gateway.stderr.readline()):
        assert line, "the gateway exited before serving"
    return gateway


def test_several_devices_results_keep_their_topics_payload_bytes_qos_and_retain_flags(broker, demo):
    raw, values = counts_to_binary(*demo)
    t, want = demo[0], stream_results(demo[0], values)
    live = Raw(broker.port, "edgehar/#", "homeassistant/#")
    gateway = serving(f"{broker.url}/edgehar")
    try:
        client = node(broker)
        for i in range(0, SAMPLES, 50):  # the devices' batches interleaved: one turn holds several
            t0_us = int(round(t[i] * 1e6))
            batch = pack_binary(t0_us, np.rint(t[i:i + 50] * 1e6).astype(np.int64) - t0_us, raw[i:i + 50],
                                ACC_SCALE, GYRO_SCALE)
            for name in DEVICES:
                info = client.publish(f"edgehar/{name}/imu", batch, qos=1)
            info.wait_for_publish(5)
        client.loop_stop()
        client.disconnect()
        got = {name: [live.on(f"edgehar/{name}/{kind}", len(want)) for kind in ("window", "state")]
               for name in DEVICES}
    finally:
        live.close()
        gateway.send_signal(signal.SIGTERM)
        _, err = gateway.communicate(timeout=30)

    def on(topic: str) -> list[tuple[bytes, bool, int]]:
        return [m[1:] for m in live.messages if m[0] == topic]

    bundle = Bundle.default()
    for name in DEVICES:
        windows, states = got[name]
        assert len(windows) == len(states) == len(want)
        assert {(retain, qos) for _, retain, qos in windows} == {(False, 1)}
        assert {(retain, qos) for _, retain, qos in states} == {(True, 1)}
        for (payload, _, _), result in zip(windows, want, strict=True):
            record = json.loads(payload)
            assert payload == json.dumps(record).encode()  # json.dumps's own form, the fields in order
            fields = {k: v for k, v in vars(result).items() if k != "true" or v is not None}
            assert {**record, "latency_ms": 0} == {**fields, "latency_ms": 0}
        assert [payload for payload, _, _ in states] == [json.dumps(
            {"activity": r.smoothed_activity, "smoothed": r.smoothed, "label": r.label,
             "label_activity": r.label_activity, "confidence": round(r.confidence, 4),
             "t_end": r.t_end}).encode() for r in want]
        availability = [f"edgehar/{name}/availability", "edgehar/_gateway/availability"]
        config = json.dumps(discovery_config(f"edgehar/{name}", bundle.classes, bundle.name, availability))
        assert (config.encode(), True, 1) in on(f"homeassistant/sensor/edgehar_{name}/activity/config")
        assert on(availability[0])[0] == (b"online", True, 1)
    assert on("edgehar/_gateway/availability")[0] == (b"online", True, 1)
    assert edgehar.__version__ in config
    summary = json.loads(err.strip().splitlines()[-1])
    assert summary["mqtt"]["dropped"] == summary["mqtt"]["undelivered"] == 0


def test_a_polled_connection_sends_a_turns_messages_only_when_flushed_in_order(broker):
    from mqtt_broker import Recorder

    recorder = Recorder(broker, "edgehar/batch/#")
    conn = Connection(parse_url(f"{broker.url}/edgehar/batch", "edgehar"), None).open(polled=True)
    try:
        assert conn.client._thread is None  # paho's network thread never started
        for i in range(50):
            assert conn.publish(f"edgehar/batch/{i % 5}", str(i))
        time.sleep(0.3)
        assert recorder.on("edgehar/batch/0") == [] and conn.client.want_write()  # queued, not sent
        flush([conn])
        assert not conn.client.want_write()
        for k in range(5):
            assert recorder.wait_for(f"edgehar/batch/{k}", 10) == [str(i).encode() for i in range(k, 50, 5)]
    finally:
        recorder.close()
        counts = conn.close()
    assert counts["messages"] == 50 and counts["undelivered"] == counts["dropped"] == 0


def test_a_connection_routes_exact_topics_to_theirs_and_the_rest_to_its_one_wildcard(broker):
    conn = Connection(parse_url(f"{broker.url}/edgehar", "edgehar"), None)
    got = []
    conn.subscribe("edgehar/+/imu", lambda client, userdata, msg: got.append(("nodes", msg.topic)))
    conn.subscribe("homeassistant/status", lambda client, userdata, msg: got.append(("status", msg.topic)))
    with pytest.raises(ValueError, match="one wildcard"):
        conn.subscribe("other/#", lambda *args: None)
    conn.open(polled=True)
    try:
        sender = node(broker)
        for topic in ("edgehar/a/imu", "homeassistant/status", "edgehar/b/imu"):
            sender.publish(topic, b"x", qos=1).wait_for_publish(5)
        sender.loop_stop()
        sender.disconnect()
        deadline = time.monotonic() + 10
        while len(got) < 3 and time.monotonic() < deadline:
            poll([conn], 0.05)
            flush([conn])
    finally:
        conn.close()
    assert got == [("nodes", "edgehar/a/imu"), ("status", "homeassistant/status"), ("nodes", "edgehar/b/imu")]
