"""`edgehar serve` against a real Mosquitto broker (the route of docs/fleet.md): nodes' samples in,
the same labels as `stream` out."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import numpy as np
import pytest
from mqtt_broker import broker, mqtt, recorder  # noqa: F401  (fixtures)

from edgehar.bundle import Bundle
from edgehar.runtime.smoothing import make_smoother
from edgehar.runtime.sources import Chunk, demo_path, iter_csv
from edgehar.runtime.stream import Streamer, run
from edgehar.services.gateway import decode_batch, pack_binary

SAMPLES = 3000
ACC_SCALE, GYRO_SCALE = 1 / 4096, 1 / 1000  # a ±8 g accelerometer, a gyro in mrad/s


@pytest.fixture(scope="module")
def demo():
    """The demo's first samples: timestamps and raw rows."""
    chunks = list(iter_csv(str(demo_path())))
    return np.concatenate([c.t for c in chunks])[:SAMPLES], np.concatenate([c.x for c in chunks])[:SAMPLES]


def expected(t, x) -> list[dict]:
    results, bundle = [], Bundle.default()
    smoother = make_smoother(bundle.smoothing, bundle)  # serve smooths as the bundle says, like stream
    run(Streamer.from_bundle(bundle, "int8", smoother=smoother), [Chunk(t, x)], results.append)
    return [{k: r.__dict__[k] for k in ("start", "end", "label", "probs", "smoothed")} for r in results]


def counts_to_binary(t, x):
    raw = np.rint(x / np.array([ACC_SCALE] * 3 + [GYRO_SCALE] * 3)).astype(np.int16)
    return raw, raw * np.array([float(np.float32(ACC_SCALE))] * 3 + [float(np.float32(GYRO_SCALE))] * 3)


def node(broker):
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    return client


def test_binary_batches_decode_to_the_samples_they_carry(demo):
    t, x = demo
    raw, values = counts_to_binary(t, x)
    t0_us = 123_456_789_000
    chunk = decode_batch(pack_binary(t0_us, np.arange(25) * 20_000, raw[:25], ACC_SCALE, GYRO_SCALE))
    np.testing.assert_array_equal(chunk.t, (t0_us + np.arange(25) * 20_000) / 1e6)
    np.testing.assert_array_equal(chunk.x, values[:25])
    assert chunk.skipped == {}


def test_the_gateway_labels_each_node_as_stream_does_and_garbage_never_becomes_a_label(
        broker, recorder, demo):
    t, x = demo
    raw, values = counts_to_binary(t, x)
    gateway = subprocess.Popen([sys.executable, "-m", "edgehar", "serve", "--mqtt", f"{broker.url}/edgehar",
                                "--idle", "3", "--keep-retained"], stderr=subprocess.PIPE, text=True)
    try:
        while "serving" not in (line := gateway.stderr.readline()):
            assert line, "the gateway exited before serving"
        assert recorder.wait_for("edgehar/_gateway/availability", 1) == [b"online"]
        client = node(broker)
        garbage = [b"\xff\xfe\x00\x81 not text", b"hello world", b"1,2,3", b"EH\x01\x05short",
                   b"nan,1,2,3,4,5,6\n0.1,inf,0,0,0,0,0", b"1,2,3,4,5,6,7,8",
                   pack_binary(0, [0], [[1] * 6], float("nan"), 1.0)]
        for payload in garbage * 40:
            client.publish("edgehar/junk/imu", payload, qos=1)
        client.publish("edgehar/_gateway/imu", b"0,0,0,0,0,0,0", qos=1)
        lines = ["t,ax,ay,az,gx,gy,gz"] + [",".join(repr(float(v)) for v in row) for row in np.c_[t, x]]
        for i in range(0, len(lines), 25):
            client.publish("edgehar/text-node/imu", "\n".join(lines[i:i + 25]), qos=1)
        for i in range(0, SAMPLES, 50):
            t0_us = int(round(t[i] * 1e6)) + 10**9
            dt_us = np.rint(t[i:i + 50] * 1e6).astype(np.int64) + 10**9 - t0_us
            client.publish("edgehar/bin-node/imu", pack_binary(t0_us, dt_us, raw[i:i + 50], ACC_SCALE,
                                                                GYRO_SCALE), qos=1).wait_for_publish(5)
        client.loop_stop()
        client.disconnect()

        want = expected(t, x)
        got = [json.loads(p) for p in recorder.wait_for("edgehar/text-node/window", len(want))]
        assert [{k: g[k] for k in want[0]} for g in got] == want
        want_bin = expected(t + 1000.0, values)
        got_bin = [json.loads(p) for p in recorder.wait_for("edgehar/bin-node/window", len(want_bin))]
        assert [{k: g[k] for k in ("label", "probs")} for g in got_bin] == \
            [{k: w[k] for k in ("label", "probs")} for w in want_bin]
        for name in ("junk", "text-node", "bin-node"):  # forgotten after 3 s of silence
            assert recorder.wait_for(f"edgehar/{name}/availability", 2, timeout=10) == [b"online", b"offline"]
        (config,) = recorder.json_on("homeassistant/sensor/edgehar_text-node/activity/config")
        assert config["availability"] == [{"topic": "edgehar/text-node/availability"},
                                          {"topic": "edgehar/_gateway/availability"}]
    finally:
        gateway.send_signal(signal.SIGTERM)
        _, err = gateway.communicate(timeout=30)
    assert gateway.returncode == 143, err  # SIGTERM, as for stream
    events = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    summary = events[-1]
    forgotten = {e["device"]: e for e in events if e.get("event") == "forgotten"}
    assert set(forgotten) == {"junk", "text-node", "bin-node"} and summary["forgotten"] == 3
    junk = forgotten["junk"]
    assert recorder.on("edgehar/junk/window") == [] and junk["windows"] == 0 and junk["labels"] == {}
    assert junk["samples"] == 0
    assert junk["skipped"] == {"bad_binary": 80, "malformed": 80, "non_finite": 80, "short": 80}
    assert forgotten["text-node"]["samples"] == forgotten["bin-node"]["samples"] == SAMPLES
    assert summary["rejected"] == {"bad_device_id": 1}
    assert summary["mqtt"]["dropped"] == summary["mqtt"]["undelivered"] == 0
