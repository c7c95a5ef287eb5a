"""The batched gateway: many devices' windows classified in one interpreter call give each device
the labels and numbers of one window at a time (`stream`'s), bit for bit, on real recordings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgehar.bundle import Bundle
from edgehar.preprocess.windows import sliding_windows
from edgehar.runtime.interpreter import TFLiteClassifier, batched_model
from edgehar.runtime.smoothing import make_smoother
from edgehar.runtime.sources import iter_hapt
from edgehar.runtime.stream import Streamer
from edgehar.services.gateway import (
    BATCH_MESSAGES,
    Gateway,
    Inbox,
    Limits,
    decode_batch,
    decode_batches,
    pack_binary,
)
from edgehar.services.mqtt import Connection, parse_url

ACC_SCALE, GYRO_SCALE = 1 / 4096, 1 / 1000
SAMPLES, BATCH = 2400, 25
EXPERIMENTS = ("exp01_user01", "exp05_user03", "exp09_user05", "exp13_user07")


@pytest.fixture(scope="module")
def recordings(hapt_raw) -> list[np.ndarray]:
    """The first 48 s of four HAPT experiments (four people), as raw sensor counts."""
    out = []
    for name in EXPERIMENTS:
        x = np.concatenate([c.x for c in iter_hapt(str(hapt_raw / f"acc_{name}.txt.gz"))])[:SAMPLES]
        out.append(np.rint(x / np.array([ACC_SCALE] * 3 + [GYRO_SCALE] * 3)).astype(np.int16))
    return out


def node_messages(raw: np.ndarray, keep: np.ndarray, t0_us: np.ndarray, batch: int = BATCH) -> list[bytes]:
    """A node's binary messages of ``batch`` samples: the samples ``keep`` says, at times ``t0_us`` (µs)."""
    raw, t_us = raw[keep], t0_us[keep]
    return [pack_binary(int(t_us[i]), t_us[i:i + batch] - t_us[i], raw[i:i + batch], ACC_SCALE, GYRO_SCALE)
            for i in range(0, len(raw), batch)]


def fleet(recordings) -> dict[str, list[bytes]]:
    """48 devices: each recording from 12 offsets; one has a 2 s gap, another reboots (its clock
    starts again at 0), each inside a message that completes a window before it."""
    everything, t_us = np.ones(SAMPLES, bool), np.arange(SAMPLES, dtype=np.int64) * 20_000
    devices = {}
    for r, raw in enumerate(recordings):
        for k in range(12):
            devices[f"node-{r}-{k}"] = node_messages(np.roll(raw, -97 * k, axis=0), everything, t_us + 10**9)
    gap = everything.copy()
    gap[1090:1190] = False  # in the message of samples 1075-1089 (1087 completes a window) and 1190-1199
    devices["node-0-1"] = node_messages(recordings[0], gap, t_us + 10**9)
    reboot = np.where(np.arange(SAMPLES) < 1220, t_us + 10**9, t_us - 1220 * 20_000)
    devices["node-1-1"] = node_messages(recordings[1], everything, reboot, 50)  # 1215 completes a window
    return devices


def one_at_a_time(bundle: Bundle, messages: list[bytes], hop: int | None, smooth: str
                  ) -> tuple[list[dict], dict]:
    """What `stream` gives for the node's messages fed one by one (one interpreter call per window)."""
    streamer = Streamer.from_bundle(bundle, "int8", hop=hop, smoother=make_smoother(smooth, bundle))
    results = []
    for payload in messages:
        chunk = decode_batch(payload)
        results += streamer.feed(chunk.t, chunk.x, 0.0)
    return [without_latency(r) for r in results], counts(streamer)


def without_latency(result) -> dict:
    return {k: v for k, v in vars(result).items() if k != "latency_ms"}


def counts(streamer: Streamer) -> dict:
    return {"samples": streamer.samples, "windows": streamer.windows, "gaps": streamer.gaps,
            "resyncs": streamer.resyncs, "labels": dict(streamer.labels)}


@pytest.mark.parametrize("hop, smooth", [(None, "bundle"), (16, "vote:5")])
def test_a_batch_of_many_devices_gives_each_the_labels_of_one_window_at_a_time(recordings, hop, smooth):
    bundle = Bundle.default()
    smooth = bundle.smoothing if smooth == "bundle" else smooth
    devices = fleet(recordings)
    conn = Connection(parse_url("mqtt://127.0.0.1:1/edgehar", default_topic="edgehar"), None)  # never opened
    gateway = Gateway(conn, bundle, "edgehar", hop=hop, smooth=smooth)
    seen: dict[str, list[dict]] = {}

    class Observer:
        def results(self, device, chunk, results, streamer):
            seen.setdefault(device, []).extend(without_latency(r) for r in results)

        def offline(self, device):
            pass

    gateway.observers.append(Observer())
    for k in range(max(len(m) for m in devices.values())):  # as they come: one message of each in turn
        for name, messages in devices.items():
            if k < len(messages):
                gateway.inbox.put(name, messages[k], 0.0)
    batches = []
    while batch := gateway.inbox.get_batch(BATCH_MESSAGES):
        batches.append(len(batch))
        gateway.handle(batch)
    assert max(batches) == len(devices)  # one message of every device per batch
    assert max(gateway.classifier._batches) >= 16  # windows went in batches
    for name, messages in devices.items():
        expected, expected_counts = one_at_a_time(bundle, messages, hop, smooth)
        assert len(expected) > 25
        assert seen[name] == expected, name  # probabilities, confidence (unrounded), labels, decoder
        assert counts(gateway.inbox.devices[name].streamer) == expected_counts
    assert counts(gateway.inbox.devices["node-0-1"].streamer)["gaps"] == 1
    assert counts(gateway.inbox.devices["node-1-1"].streamer)["resyncs"] == 1


@pytest.mark.parametrize("bundle_name, variant", [("dscnn-pi-live", "int8"), ("dscnn-pi-live", "float32"),
                                                  ("cnn", "int8"), ("lstm100", "int8")])
def test_one_invocation_per_batch_gives_the_outputs_of_one_window_at_a_time(recordings, bundle_name, variant):
    bundle = Bundle.load(Path("models") / bundle_name)
    features = bundle.pipeline.start().push(recordings[2] * np.array([ACC_SCALE] * 3 + [GYRO_SCALE] * 3))
    windows = sliding_windows(features.astype(np.float32), bundle.window, 16)[:101]  # 64 + 32 + 4 + 1
    classifier = TFLiteClassifier.of_bundle(bundle, variant)
    alone = np.stack([classifier.predict_window(w) for w in windows])
    assert np.array_equal(classifier.predict(windows), alone)  # bit for bit
    stateful = bundle_name.startswith("lstm")  # the fused LSTM keeps state: one window at a time
    assert (batched_model(bundle.tflite(variant).read_bytes()) is None) == stateful
    assert classifier.predict(windows[:0]).shape == (0, len(bundle.classes))


def test_messages_decoded_together_give_what_each_gives_alone(recordings):
    raw = recordings[3][:200]
    payloads = [pack_binary(10**9 + 500_000 * k, np.arange(25) * 20_000, raw[25 * k:25 * k + 25],
                            ACC_SCALE, GYRO_SCALE) for k in range(8)]
    payloads[2] = b"0.5,0.1,0.2,0.3,0,0,0\n0.52,0.1,0.2,0.3,0,0,0"  # text among binary
    payloads[4] = payloads[4][:-3]  # cut short
    payloads[5] = pack_binary(0, [0], [[1] * 6], float("nan"), 1.0)
    together = decode_batches(payloads)
    for payload, chunk in zip(payloads, together, strict=True):
        alone = decode_batch(payload)
        assert np.array_equal(chunk.t, alone.t) and np.array_equal(chunk.x, alone.x)
        assert chunk.skipped == alone.skipped
    assert [len(c) for c in together] == [25, 25, 2, 25, 0, 0, 25, 25]
    assert together[4].skipped == together[5].skipped == {"bad_binary": 1}


def test_a_batch_takes_one_message_of_every_waiting_device_and_new_ones_too():
    inbox = Inbox(Limits())
    message = pack_binary(0, np.arange(25) * 20_000, np.zeros((25, 6), np.int16), ACC_SCALE, GYRO_SCALE)
    for name in ("a", "b"):
        inbox.put(name, message, 0.0)
    assert [m[0] for m in inbox.get_batch(10)] == ["a", "b"]  # both known now
    for name in ("a", "a", "a", "b", "b", "new"):
        inbox.put(name, message, 0.0)
    assert sorted(m[0] for m in inbox.get_batch(10)) == ["a", "b", "new"]  # the backlog waits its turn
    assert sorted(m[0] for m in inbox.get_batch(10)) == ["a", "b"]
    assert [m[0] for m in inbox.get_batch(10)] == ["a"]
    assert inbox.get_batch(10) == [] and [m[0] for m in inbox.get_batch(1)] == []
