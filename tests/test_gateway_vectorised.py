"""The gateway's pipeline vectorised across devices (edgehar/services/batch.py): many devices'
messages checked, held and filtered together give every device exactly what its own `Streamer`
gives, fed the same messages one by one - labels, probabilities, decoder, times and counts, bit
for bit - on the demo recording and real HAPT recordings, with faults on some devices that send
their messages through the per-device checks and back."""

from __future__ import annotations

import numpy as np
import pytest

from edgehar.bundle import Bundle
from edgehar.preprocess.pipeline import CausalFilter, Pipeline, Preprocessor, butterworth
from edgehar.runtime.interpreter import TFLiteClassifier
from edgehar.runtime.smoothing import make_smoother
from edgehar.runtime.sources import demo_path, iter_csv, iter_hapt
from edgehar.runtime.stream import Streamer
from edgehar.services.batch import DeviceStreamer, classify_batch
from edgehar.services.gateway import BATCH_MESSAGES, Gateway, decode_batch, decode_joined, pack_binary
from edgehar.services.mqtt import Connection, parse_url

ACC_SCALE, GYRO_SCALE = 1 / 4096, 1 / 1000
BATCH = 25
FAULTS = ("gap", "jitter", "duplicate", "out_of_order", "out_of_range", "restart", "text", "single",
          "held")


def counts(x: np.ndarray) -> np.ndarray:
    return np.rint(x / np.array([ACC_SCALE] * 3 + [GYRO_SCALE] * 3)).astype(np.int16)


@pytest.fixture(scope="module")
def demo() -> np.ndarray:
    return counts(np.concatenate([c.x for c in iter_csv(str(demo_path()))]))


def binary(t_us: np.ndarray, raw: np.ndarray, acc_scale: float = ACC_SCALE) -> bytes:
    return pack_binary(int(t_us[0]), t_us - t_us[0], raw, acc_scale, GYRO_SCALE)


def text(t_us: np.ndarray, raw: np.ndarray) -> bytes:
    x = raw * np.array([ACC_SCALE] * 3 + [GYRO_SCALE] * 3)
    lines = (",".join(repr(float(v)) for v in (t / 1e6, *row)) for t, row in zip(t_us, x, strict=True))
    return "\n".join(lines).encode()


def node(raw: np.ndarray, start_us: int, fault: str | None) -> list[bytes]:
    """A node's messages of ``BATCH`` samples from ``start_us`` (µs), with one ``fault`` midway."""
    t_us = start_us + np.arange(len(raw), dtype=np.int64) * 20_000
    cuts = list(range(0, len(raw), BATCH))
    messages = [binary(t_us[a:a + BATCH], raw[a:a + BATCH]) for a in cuts]
    k = len(messages) // 2
    a = cuts[k]
    part = slice(a, a + BATCH)
    if fault == "gap":  # 3 s missing: a new segment
        messages = messages[:k] + [binary(t_us[a:][i:i + BATCH] + 3_000_000, raw[a:][i:i + BATCH])
                                   for i in range(0, len(raw) - a, BATCH)]
    elif fault == "jitter":  # off the grid by 30 % of a period: resampled
        messages[k] = binary(t_us[part] + 6_000, raw[part])
    elif fault == "duplicate":
        messages.insert(k + 1, messages[k])
    elif fault == "out_of_order":
        messages[k], messages[k + 1] = messages[k + 1], messages[k]
    elif fault == "out_of_range":  # 4096x the scale: beyond what an IMU reports
        messages[k] = binary(t_us[part], raw[part], 1.0)
    elif fault == "restart":  # the clock starts again at 0
        messages = messages[:k] + [binary(t_us[a:][i:i + BATCH] - t_us[a], raw[a:][i:i + BATCH])
                                   for i in range(0, len(raw) - a, BATCH)]
    elif fault == "text":
        messages[k] = text(t_us[part], raw[part])
    elif fault == "single":  # the same samples one message each
        messages[k:k + 1] = [binary(t_us[i:i + 1], raw[i:i + 1]) for i in range(a, a + BATCH)]
    elif fault == "held":  # a lone sample 1 s ahead (held back until the next confirms it), then on
        ahead = t_us[a + BATCH - 1:a + BATCH] + 1_000_000
        messages = messages[:k] + [binary(ahead, raw[a:a + 1])] + [
            binary(t_us[a:][i:i + BATCH] + 1_020_000, raw[a:][i:i + BATCH])
            for i in range(BATCH, len(raw) - a, BATCH)]
    return messages


def fleet(recordings: list[np.ndarray], devices: int, samples: int) -> dict[str, list[bytes]]:
    """``devices`` nodes, each from its own offset into a recording and its own clock; every
    fourth has one of the faults."""
    nodes = {}
    for d in range(devices):
        raw = recordings[d % len(recordings)]
        offset = (d * 331) % (len(raw) - samples)
        fault = FAULTS[(d // 4) % len(FAULTS)] if d % 4 == 3 else None
        nodes[f"n{d}-{fault}"] = node(raw[offset:offset + samples], 10**9 + d * 37_117, fault)
    return nodes


def alone(bundle: Bundle, messages: list[bytes]) -> tuple[list[dict], dict]:
    """What the device's own streamer gives for its messages, fed one by one."""
    streamer = Streamer.from_bundle(bundle, "int8", smoother=make_smoother(bundle.smoothing, bundle))
    results = []
    for payload in messages:
        chunk = decode_batch(payload)
        streamer.note_skipped(chunk.skipped)
        results += streamer.feed(chunk.t, chunk.x, 0.0)
    return [without_latency(r) for r in results], streamer.summary("end")


def without_latency(result) -> dict:
    return {k: v for k, v in vars(result).items() if k != "latency_ms"}


def served(bundle: Bundle, nodes: dict[str, list[bytes]]) -> tuple[dict[str, list[dict]], Gateway]:
    conn = Connection(parse_url("mqtt://127.0.0.1:1/edgehar", default_topic="edgehar"), None)  # never opened
    gateway = Gateway(conn, bundle, "edgehar", smooth=bundle.smoothing)
    seen: dict[str, list[dict]] = {name: [] for name in nodes}

    class Observer:
        def results(self, device, chunk, results, streamer):
            seen[device] += [without_latency(r) for r in results]

        def offline(self, device):
            pass

    gateway.observers.append(Observer())
    for k in range(max(len(m) for m in nodes.values())):
        for name, messages in nodes.items():
            if k < len(messages):
                gateway.inbox.put(name, messages[k], 0.0)
        if k % 3 == 2:  # batches of several messages of each device waiting
            while batch := gateway.inbox.get_batch(BATCH_MESSAGES):
                gateway.handle(batch)
    while batch := gateway.inbox.get_batch(BATCH_MESSAGES):
        gateway.handle(batch)
    return seen, gateway


def assert_each_device_as_alone(bundle, nodes):
    seen, gateway = served(bundle, nodes)
    for name, messages in nodes.items():
        expected, summary = alone(bundle, messages)
        assert len(expected) >= 8, name
        assert seen[name] == expected, name  # labels, probabilities, confidence (unrounded), decoder, times
        assert gateway.inbox.devices[name].streamer.summary("end") == summary, name  # every count
    return gateway


def test_devices_served_together_get_what_each_streamer_gives_alone_on_the_demo(demo):
    bundle = Bundle.default()
    gateway = assert_each_device_as_alone(bundle, fleet([demo], 72, 1200))
    streamers = {name: d.streamer for name, d in gateway.inbox.devices.items()}
    assert streamers["n3-gap"].gaps == 1 and streamers["n23-restart"].resyncs == 1
    assert streamers["n19-out_of_range"].skipped == {"out_of_range": BATCH}
    assert streamers["n11-duplicate"].skipped == {"duplicate": 1, "out_of_order": BATCH - 1}
    assert streamers["n15-out_of_order"].resyncs == 1  # a whole message behind: the clock restarted
    assert streamers["n35-held"].gaps == 1

def test_devices_served_together_get_what_each_streamer_gives_alone_on_hapt_recordings(hapt_raw):
    bundle = Bundle.default()
    recordings = [counts(np.concatenate([c.x for c in iter_hapt(str(hapt_raw / f"acc_{name}.txt.gz"))]))
                  for name in ("exp02_user01", "exp06_user03", "exp22_user11")]
    assert_each_device_as_alone(bundle, fleet(recordings, 48, 1600))


class Counting(DeviceStreamer):
    """A device streamer that counts the messages that went through its own checks (``feed``)."""

    checked = 0

    def feed(self, *args, **kwargs):
        self.checked += 1
        return super().feed(*args, **kwargs)


def test_only_messages_off_the_usual_path_go_through_the_per_device_checks(demo):
    bundle = Bundle.default()
    nodes = fleet([demo], 40, 800)
    classifier = TFLiteClassifier.of_bundle(bundle, "int8")
    streamers = {name: Counting(classifier, bundle.pipeline, bundle.classes, window=bundle.window,
                                hop=bundle.hop, smoother=make_smoother(bundle.smoothing, bundle))
                 for name in nodes}
    for k in range(max(len(m) for m in nodes.values())):
        batch = [(name, m[k]) for name, m in nodes.items() if k < len(m)]
        joined = decode_joined([payload for _, payload in batch])
        classify_batch(classifier, [streamers[name] for name, _ in batch], joined, [0.0] * len(batch))
    for name, streamer in streamers.items():
        if name.endswith("None"):
            assert streamer.checked == 1, name  # the first message only: a new stream
        else:
            assert 2 <= streamer.checked <= 3 + BATCH, name
        assert streamer.windows > 0


@pytest.mark.parametrize("preset", ["causal9", "uci9"])
def test_many_streams_filtered_in_one_product_equal_each_filtered_alone(demo, preset):
    """Stacking streams side by side in one matrix product leaves each column's numbers as they
    are with this BLAS (OpenBLAS): the features are equal bit for bit, whatever the chunk sizes."""
    pipeline = Pipeline.preset(preset)
    x = demo * np.array([ACC_SCALE] * 3 + [GYRO_SCALE] * 3)
    rng = np.random.default_rng(7)
    streams = 29
    offsets = rng.integers(0, len(x) - 4000, streams)
    single, together = [pipeline.start() for _ in range(streams)], [pipeline.start() for _ in range(streams)]
    done = np.zeros(streams, int)
    for _ in range(40):
        sizes = rng.choice([0, 1, 25, 63, 64, 65, 150], streams)
        raws = [x[o + d:o + d + n] for o, d, n in zip(offsets, done, sizes, strict=True)]
        done += sizes
        expected = [p.push(raw) for p, raw in zip(single, raws, strict=True)]
        got = Preprocessor.push_many(together, raws)
        for e, g in zip(expected, got, strict=True):
            assert g.dtype == np.float32 and g.shape == e.shape
            np.testing.assert_array_equal(g, e)


def test_filter_states_of_many_streams_move_on_as_each_alone():
    sos, zi = butterworth(3, 0.3, 50.0)
    rng = np.random.default_rng(3)
    single, together = [CausalFilter(sos, zi) for _ in range(5)], [CausalFilter(sos, zi) for _ in range(5)]
    for n in ([70, 0, 3, 128, 64], [1, 200, 63, 0, 65]):
        xs = [rng.normal(size=(k, 3)) for k in n]
        got = CausalFilter.many(together, xs)
        for f, g, x, y in zip(single, together, xs, got, strict=True):
            np.testing.assert_array_equal(y, f(x) if len(x) else x)  # (a filter is not called for nothing)
            assert (f.state is None) == (g.state is None)
            if f.state is not None:
                np.testing.assert_array_equal(g.state, f.state)
                np.testing.assert_array_equal(g._pending, f._pending)


def test_several_messages_of_a_device_in_one_batch_go_in_turn(demo):
    bundle = Bundle.default()
    nodes = fleet([demo], 8, 600)  # one with a gap, one with a jittered message
    classifier = TFLiteClassifier.of_bundle(bundle, "int8")
    streamers = {name: DeviceStreamer(classifier, bundle.pipeline, bundle.classes, window=bundle.window,
                                      hop=bundle.hop, smoother=make_smoother(bundle.smoothing, bundle))
                 for name in nodes}
    seen: dict[str, list[dict]] = {name: [] for name in nodes}
    for k in range(0, max(len(m) for m in nodes.values()), 5):  # five messages of each device a batch
        batch = [(name, payload) for name, m in nodes.items() for payload in m[k:k + 5]]
        joined = decode_joined([payload for _, payload in batch])
        done = classify_batch(classifier, [streamers[name] for name, _ in batch], joined, [0.0] * len(batch))
        for (name, _), results in zip(batch, done, strict=True):
            seen[name] += [without_latency(r) for r in results]
    for name, messages in nodes.items():
        expected, summary = alone(bundle, messages)
        assert seen[name] == expected, name
        assert streamers[name].summary("end") == summary, name
