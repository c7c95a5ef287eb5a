"""The Streamer: chunk invariance, equality with the offline path, and every robustness case."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import signal

from edgehar.bundle import Bundle
from edgehar.data.recordings import read_hapt_experiment
from edgehar.errors import BundleError, EdgeharError
from edgehar.preprocess.windows import sliding_windows
from edgehar.runtime.interpreter import TFLiteClassifier
from edgehar.runtime.limits import SampleLimits
from edgehar.runtime.smoothing import Ema, Hysteresis, Vote, make_smoother
from edgehar.runtime.sources import Chunk, SourceStopped, iter_udp, open_source
from edgehar.runtime.stream import Rounded, Streamer, WakePlan, run

N = 600


@pytest.fixture(scope="module")
def raw(hapt_raw) -> np.ndarray:
    """A real stretch of walking and more (exp01 from sample 7400)."""
    return read_hapt_experiment(hapt_raw / "acc_exp01_user01.txt.gz")[7400:7400 + N]


def stream(bundle, t, x, sizes=None, labels=None, **kw):
    """Results of one Streamer fed ``t, x`` in chunks cycling through ``sizes`` (default: whole)."""
    streamer = Streamer.from_bundle(bundle, **kw)
    sizes = sizes or [len(t)]
    results, i, j = [], 0, 0
    while i < len(t):
        size = sizes[j % len(sizes)]
        results += streamer.feed(t[i:i + size], x[i:i + size],
                                 labels=None if labels is None else labels[i:i + size])
        i, j = i + size, j + 1
    return results + streamer.flush(), streamer


def table(results):
    return [(r.start, r.end, r.t_start, r.t_end, r.label, r.probs) for r in results]


def test_sample_by_sample_chunks_and_whole_give_identical_windows(tiny_bundle, raw):
    t = np.arange(N) / 50
    whole, _ = stream(tiny_bundle, t, raw)
    ones, _ = stream(tiny_bundle, t, raw, sizes=[1])
    odd, _ = stream(tiny_bundle, t, raw, sizes=[7, 64, 1, 200, 3])
    assert table(whole) == table(ones) == table(odd)
    assert [(r.start, r.end) for r in whole] == [(s, s + 128) for s in range(0, N - 127, 64)]


def test_windows_equal_the_offline_pipeline_on_the_same_tflite(tiny_bundle, raw):
    results, _ = stream(tiny_bundle, np.arange(N) / 50, raw, sizes=[1])
    offline = TFLiteClassifier(tiny_bundle.tflite("float32")).predict(
        sliding_windows(tiny_bundle.pipeline.transform(raw), 128, 64))
    np.testing.assert_allclose([r.probs for r in results], offline, atol=1e-6)
    assert [r.label for r in results] == [tiny_bundle.classes[k] for k in offline.argmax(axis=1)]


def test_hop_is_configurable(tiny_bundle, raw):
    results, _ = stream(tiny_bundle, np.arange(N) / 50, raw, hop=32)
    assert [r.start for r in results] == list(range(0, N - 127, 32))


def test_non_finite_samples_are_dropped_counted_and_never_classified(tiny_bundle, raw):
    t, x = np.arange(N) / 50, raw.copy()
    x[[100, 300]] = np.nan
    x[200, 4] = np.inf
    t_bad = t.copy()
    t_bad[400] = np.nan
    results, streamer = stream(tiny_bundle, t_bad, x, sizes=[1])
    assert streamer.skipped == Counter(non_finite=4)
    assert all(np.isfinite(r.probs).all() for r in results)
    # A one-sample hole is bridged on the 50 Hz grid by its neighbours, not by the bad value.
    keep = np.ones(N, bool)
    keep[[100, 200, 300, 400]] = False
    clean, _ = stream(tiny_bundle, t[keep], raw[keep])
    assert table(results) == table(clean)


def test_duplicate_and_out_of_order_timestamps_are_dropped_and_counted(tiny_bundle, raw):
    t = np.arange(N) / 50
    order = list(range(N))
    order.insert(50, 49)            # duplicate of 49
    order.insert(120, 10)           # far out of order
    results, streamer = stream(tiny_bundle, t[order], raw[order], sizes=[5])
    assert streamer.skipped == Counter(duplicate=1, out_of_order=1)
    assert table(results) == table(stream(tiny_bundle, t, raw)[0])


def test_a_gap_restarts_window_preprocessor_and_smoother(tiny_bundle, raw):
    t = np.arange(N) / 50
    t[300:] += 3.0  # a 3 s dropout after sample 300
    results, streamer = stream(tiny_bundle, t, raw, sizes=[1], smoother=make_smoother("vote:5"))
    assert streamer.gaps == 1
    before, after = stream(tiny_bundle, t[:300], raw[:300])[0], stream(tiny_bundle, t[300:], raw[300:])[0]
    assert all(r.end <= 300 for r in results[:len(before)])
    assert table(results[:len(before)]) == table(before)
    # After the gap: a fresh stream, placed 3 s (150 samples) later on the stream's sample axis.
    assert [r.probs for r in results[len(before):]] == [r.probs for r in after]
    assert [r.start for r in results[len(before):]] == [300 + 150 + r.start for r in after]
    assert results[len(before)].t_start == pytest.approx(t[300])


@pytest.mark.parametrize("sizes", [[1], [600]])
def test_a_restarted_source_clock_resyncs_instead_of_dropping_everything(tiny_bundle, raw, sizes):
    t = np.concatenate([np.arange(300), np.arange(300)]) / 50  # the device rebooted at sample 300
    results, streamer = stream(tiny_bundle, t, raw, sizes=sizes)
    assert streamer.resyncs == 1 and streamer.gaps == 0
    lost = 24 if sizes == [1] else 0  # fed one by one, the run behind the clock is dropped
    assert streamer.skipped == Counter(out_of_order=lost) and streamer.samples == 600 - lost
    before, after = stream(tiny_bundle, t[:300], raw[:300])[0], stream(tiny_bundle, t[300 + lost:],
                                                                       raw[300 + lost:])[0]
    assert table(results) == table(before) + [
        (300 + r.start, 300 + r.end, r.t_start, r.t_end, r.label, r.probs) for r in after]


@pytest.mark.parametrize("stray", [1e6, 1e12, 1.7e308])
@pytest.mark.parametrize("sizes", [[1], [7, 64], [600]])
def test_one_stray_future_timestamp_is_dropped_alone(tiny_bundle, raw, stray, sizes):
    """Neither a gap nor a resync: the samples after it continue the stream as if it never came."""
    t = np.arange(N) / 50
    t[200] = stray
    results, streamer = stream(tiny_bundle, t, raw, sizes=sizes)
    assert streamer.skipped == Counter(stray_timestamp=1) and streamer.gaps == streamer.resyncs == 0
    assert streamer.samples == N - 1 and streamer.lost == 1  # the 50 Hz sample at t = 4 s never came
    keep = np.arange(N) != 200
    assert table(results) == table(stream(tiny_bundle, t[keep], raw[keep])[0])


def test_samples_at_100_hz_are_resampled_onto_the_50_hz_grid(tiny_bundle, raw):
    t50 = np.arange(N) / 50
    t100 = np.arange(2 * N - 1) / 100
    x100 = np.stack([np.interp(t100, t50, raw[:, c]) for c in range(6)], axis=1)
    results, streamer = stream(tiny_bundle, t100, x100, sizes=[3])
    assert table(results) == table(stream(tiny_bundle, t50, raw)[0])
    assert streamer.samples == 2 * N - 1


def test_samples_at_25_hz_are_interpolated(tiny_bundle, raw):
    t25 = np.arange(N // 2) / 25
    results, _ = stream(tiny_bundle, t25, raw[::2], sizes=[1])
    expected = np.stack([np.interp(np.arange(N - 1) / 50, t25, raw[::2, c]) for c in range(6)], axis=1)
    assert table(results) == table(stream(tiny_bundle, np.arange(N - 1) / 50, expected)[0])


def test_jittery_timestamps_still_give_a_window_every_hop(tiny_bundle, raw):
    rng = np.random.default_rng(1)
    t = np.arange(N) / 50 + rng.uniform(-0.004, 0.004, N)
    results, streamer = stream(tiny_bundle, t, raw, sizes=[1])
    assert streamer.gaps == 0 and len(results) == len(range(0, N - 128, 64))


def test_remembered_roundings_are_those_of_round_to_the_sign_of_zero():
    rounded, values = Rounded(), [0.0, -0.0, 1 / 3, -1e-9, 0.99609375, 2.5e-7, 1 / 3, -0.0, 0.0, float("nan")]
    for _ in range(2):  # computed, then remembered
        got = [rounded[p] for p in values]
        assert [repr(v) for v in got] == [repr(round(p, 6)) for p in values]
    assert len(rounded) == 4  # neither zero nor NaN


def test_result_json_carries_every_field(tiny_bundle, raw):
    (first, *_), _ = stream(tiny_bundle, np.arange(200) / 50 + 10.0, raw[:200])
    record = json.loads(first.to_json())
    assert set(record) == {"start", "end", "t_start", "t_end", "label", "confidence", "probs",
                           "smoothed", "latency_ms", "label_activity", "smoothed_activity"}
    assert record["label_activity"] == record["label"]  # a model without transition outputs
    assert (record["start"], record["end"]) == (0, 128)
    assert record["t_start"] == 10.0 and record["t_end"] == pytest.approx(12.56)
    assert record["label"] in tiny_bundle.classes and len(record["probs"]) == len(tiny_bundle.classes)
    assert record["latency_ms"] > 0


def test_run_reports_why_it_stopped_with_counts(tiny_bundle, raw):
    def source():
        yield Chunk(np.arange(300) / 50, raw[:300], Counter(malformed=2))
        raise SourceStopped("timeout", "silent")

    emitted = []
    summary = run(Streamer.from_bundle(tiny_bundle), source(), emitted.append)
    assert summary["end"] == "timeout" and summary["samples"] == 300
    assert summary["windows"] == len(emitted) == 3 and summary["skipped"] == {"malformed": 2}
    assert sum(summary["labels"].values()) == 3


def p(k, confidence=0.6):
    probs = np.full(6, (1 - confidence) / 5)
    probs[k] = confidence
    return probs


def test_vote_takes_the_majority_of_the_last_k_ties_to_newest():
    vote = Vote(3)
    assert [vote.update(p(k)) for k in (0, 1, 1, 0, 2, 2)] == [0, 1, 1, 1, 2, 2]


def test_ema_averages_probabilities():
    ema = Ema(0.5)
    assert [ema.update(p(k, 0.9)) for k in (0, 1, 1)] == [0, 0, 1]


def test_hysteresis_switches_after_n_windows_or_at_once_when_clear():
    h = Hysteresis(n=3, clear=0.9)
    assert [h.update(p(k)) for k in (0, 1, 1, 0, 1, 1, 1)] == [0, 0, 0, 0, 0, 0, 1]
    assert h.update(p(2, 0.95)) == 2


@pytest.mark.parametrize("spec", ["vote:0", "ema:2", "ema", "hysteresis:x", "median:3", "none:1"])
def test_bad_smoothing_specs_are_clear_errors(spec):
    with pytest.raises(EdgeharError, match="--smooth"):
        make_smoother(spec)


@settings(max_examples=25, deadline=None)
@given(steps=st.lists(st.one_of(st.just(0.02), st.floats(-1, 1), st.sampled_from(
    [0.0, 0.5, 30.0, -30.0, 1e12, -1e12, 1.7e308, -1.7e308])), min_size=1, max_size=400),
       nan_every=st.integers(0, 50), chunk=st.integers(1, 97))
def test_any_timing_mess_never_raises_and_every_sample_is_accounted_for(tiny_bundle, raw, steps, nan_every,
                                                                        chunk):
    with np.errstate(over="ignore"):
        t = np.cumsum(steps)
    x = raw[:len(t)].copy()
    if nan_every:
        x[::nan_every, 2] = np.nan
    results, streamer = stream(tiny_bundle, t, x, sizes=[chunk])
    assert streamer.samples + sum(streamer.skipped.values()) == len(t)
    assert all(r.end - r.start == 128 and np.isfinite(r.probs).all() for r in results)
    assert all(a.end < b.end for a, b in zip(results, results[1:], strict=False))
    assert all(r.end <= len(t) * 1501 for r in results)  # gaps of 30 s at most; clock jumps add no hole


IMPOSSIBLE = [1e300, -1e300, 1e39, 1e6, -25.0, 1.7e308, np.nan, np.inf, -np.inf]


@settings(max_examples=20, deadline=None)
@given(bad=st.dictionaries(st.integers(0, N - 1), st.tuples(st.integers(0, 5), st.sampled_from(IMPOSSIBLE)),
                           min_size=1, max_size=12),
       chunk=st.sampled_from([1, 5, 64, N]))
def test_an_impossible_sample_is_treated_exactly_as_if_it_had_never_arrived(tiny_bundle, raw, bad, chunk):
    """Beyond ±24 g or ±3000 °/s (or not finite) a sample reaches no filter: every window equals
    the stream without it, the windows around it and all the later ones."""
    t, x = np.arange(N) / 50, raw.copy()
    for row, (column, value) in bad.items():
        x[row, column] = value if column < 3 else value * 3  # -25 g, -75 rad/s: beyond what IMUs report
    results, streamer = stream(tiny_bundle, t, x, sizes=[chunk])
    keep = np.ones(N, bool)
    keep[list(bad)] = False
    assert table(results) == table(stream(tiny_bundle, t[keep], raw[keep])[0])
    assert sum(streamer.skipped.values()) == len(bad) and streamer.samples == keep.sum()
    assert set(streamer.skipped) <= {"out_of_range", "non_finite"}


def test_sample_limits_come_from_the_caller_else_the_bundle_else_24_g_3000_dps(tiny_bundle, raw, tmp_path):
    t, x = np.arange(N) / 50, raw.copy()
    x[100, 0] = 20.0   # a hard knock: real, and within the default limits
    x[200, 4] = np.radians(2500)
    for sizes in (None, [64]):  # (in chunks: above the lower limit, 24, yet within its own)
        assert stream(tiny_bundle, t, x, sizes)[1].skipped == Counter()
    assert stream(tiny_bundle, t, x, limits=SampleLimits(acc_g=16, gyro_dps=2000))[1].skipped == \
        Counter(out_of_range=2)
    copy = tmp_path / "bundle"
    copy.mkdir()
    for f in tiny_bundle.path.iterdir():
        if f.is_file():
            (copy / f.name).write_bytes(f.read_bytes())
    strict = Bundle.load(copy).update_metadata(sample_limits={"acc_g": 16})
    assert SampleLimits.of_bundle(strict) == SampleLimits(16, 3000)
    assert SampleLimits.of_bundle(strict, gyro_dps=2000) == SampleLimits(16, 2000)
    assert Streamer.from_bundle(strict).limits == SampleLimits(16, 3000)
    for bad in ({"acc_g": 0}, {"acc_g": "16"}, {"gyro": 2000}, [16, 2000], {"gyro_dps": float("nan")}):
        with pytest.raises(BundleError, match="metadata.json: (field )?sample_limits"):
            SampleLimits.of_bundle(Bundle.load(copy).update_metadata(sample_limits=bad))


def test_a_forward_clock_jump_resyncs_without_a_hole_in_the_sample_axis(tiny_bundle, raw):
    t = np.arange(N) / 50
    t[300:] += 1e9  # e.g. the device's clock was set to the epoch
    results, streamer = stream(tiny_bundle, t, raw, sizes=[1])
    assert streamer.resyncs == 1 and streamer.gaps == 0 and streamer.lost == 0 and not streamer.skipped
    before, after = stream(tiny_bundle, t[:300], raw[:300])[0], stream(tiny_bundle, t[300:], raw[300:])[0]
    assert table(results) == table(before) + [
        (300 + r.start, 300 + r.end, r.t_start, r.t_end, r.label, r.probs) for r in after]


def test_lost_samples_are_counted_from_the_timestamps(tiny_bundle, raw):
    """Holes up to --max-gap are bridged by interpolation, longer ones are gaps: both are lost."""
    holes = {50: 1, 120: 3, 260: 20, 400: 60}
    keep = np.ones(N, bool)
    for start, length in holes.items():
        keep[start:start + length] = False
    t = (np.arange(N) / 50)[keep]
    for sizes in ([1], [N]):
        _, streamer = stream(tiny_bundle, t, raw[keep], sizes=sizes)
        summary = streamer.summary("eof")
        assert summary["lost"] == sum(holes.values()) and summary["gaps"] == 2
        assert summary["samples"] + summary["lost"] == N


def test_labelled_input_scores_each_window_lying_inside_one_class(tiny_bundle, raw):
    labels = np.array(["WALKING"] * 200 + [""] * 10 + ["LAYING"] * 250 + ["6"] * 140, dtype=object)
    results, streamer = stream(tiny_bundle, np.arange(N) / 50, raw, sizes=[1, 63], labels=labels)
    inside = {0: "WALKING", 64: "WALKING", 128: None, 192: None, 256: "LAYING", 320: "LAYING",
              384: "LAYING", 448: "LAYING"}  # "6" is LAYING too
    assert {r.start: r.true for r in results} == inside
    scored = [r for r in results if r.true]
    summary = streamer.summary("eof")
    assert summary["scored"] == len(scored) == 6
    assert summary["accuracy"] == round(np.mean([r.label == r.true for r in scored]), 4)
    assert json.loads(results[0].to_json())["true"] == "WALKING" and "true" not in json.loads(
        results[2].to_json())
    assert "scored" not in stream(tiny_bundle, np.arange(N) / 50, raw)[1].summary("eof")


def test_a_queued_live_source_is_read_a_block_at_a_time_with_labels_on_time(tiny_bundle, raw):
    """50 Hz over UDP, read with ``queued``: samples wait in the socket until a window is nearly
    due, so the stream wakes a few times per window, yet each label comes out right after the
    sample that completes its window, and the results are those of the same samples in memory."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    n, sent = 260, {}
    lines = [f"{i / 50},{','.join(repr(v) for v in row)}" for i, row in enumerate(raw[:n].tolist())]

    def send():
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            start = time.monotonic()
            for i, line in enumerate(lines):
                time.sleep(max(0.0, start + i / 50 - time.monotonic()))
                sent[i] = time.monotonic()
                sender.sendto(line.encode(), ("127.0.0.1", port))

    reads, emitted = [], []

    def counted(chunks):
        for chunk in chunks:
            reads.append(len(chunk))
            yield chunk

    chunks = iter_udp("127.0.0.1", port, timeout=1.0)
    threading.Thread(target=send, daemon=True).start()
    summary = run(Streamer.from_bundle(tiny_bundle), counted(chunks),
                  lambda r: emitted.append((r, time.monotonic())), queued=True)
    assert summary["end"] == "timeout" and summary["samples"] == n and summary["lost"] == 0
    assert len(reads) < n / 4
    expected, _ = stream(tiny_bundle, np.arange(n) / 50, raw[:n])
    assert table([r for r, _ in emitted]) == table(expected)
    for result, at in emitted:  # out with the sample completing the window, not a wait later
        assert at - sent[result.end - 1] < 0.5


@pytest.mark.parametrize("clock, burst, late", [(1.04, 1, 0.0), (1.0, 4, 0.2)],
                         ids=["clock-4%-fast", "late-packets-of-4"])
def test_a_queued_source_that_runs_fast_or_comes_in_bursts_still_gets_each_label_with_its_sample(
        tiny_bundle, raw, clock, burst, late):
    """A sensor whose clock runs fast (its 50 Hz are 52 Hz of ours), or one whose samples come in
    packets (4 per datagram, as from BLE or USB) sent once their last sample is taken, every third
    200 ms late (holding up the next two): the stream learns the source's rate and schedule, so
    it never sleeps past the sample that completes a window: each label comes out of the read that
    brought that sample (with its packet, and any packet sent with it), not of a later one that
    found it queued; and it still waits between reads. (A fixed one-sample margin at 50 Hz fails
    the fast clock.)"""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    n = 128 + 3 * 64
    lines = [f"{i / 50},{','.join(repr(v) for v in row)}" for i, row in enumerate(raw[:n].tolist())]
    starts = range(0, n, burst)
    due = [(i + burst - 1) / (50 * clock) + (late if i // burst % 3 == 1 else 0.0) for i in starts]
    sent = np.maximum.accumulate(due)  # a late packet holds up those due before it is sent

    def send():
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            start = time.monotonic()
            for i, at in zip(starts, due, strict=True):
                time.sleep(max(0.0, start + at - time.monotonic()))
                sender.sendto("\n".join(lines[i:i + burst]).encode(), ("127.0.0.1", port))

    last_read, out_with, reads = [-1], [], []

    def counted(chunks):
        for chunk in chunks:
            reads.append(len(chunk))
            if len(chunk):
                last_read[0] = round(chunk.t[-1] * 50)
            yield chunk

    chunks = iter_udp("127.0.0.1", port, timeout=1.0)
    threading.Thread(target=send, daemon=True).start()
    emitted = []
    summary = run(Streamer.from_bundle(tiny_bundle), counted(chunks),
                  lambda r: (emitted.append(r), out_with.append(last_read[0])), queued=True)
    assert summary["end"] == "timeout" and summary["samples"] == n and summary["lost"] == 0
    expected, _ = stream(tiny_bundle, np.arange(n) / 50, raw[:n])
    assert table(emitted) == table(expected)
    for result, last in zip(emitted, out_with, strict=True):
        packet = (result.end - 1) // burst
        sent_with = max(j for j in range(len(sent)) if sent[j] == sent[packet])
        assert starts[packet] + burst - 1 <= last <= starts[sent_with] + burst - 1
    assert len(reads) <= n / 10


def queued_reads(arrival, n: int, window: int = 128, hop: int = 64):
    """What ``run`` reads from a queued source whose sample k arrives at ``arrival(k)`` (s), its
    :class:`WakePlan` deciding the waits: the samples each read returns, and for each window the
    last sample of the read that completed it."""
    plan, now, read, reads, completed = WakePlan(50.0), 0.0, 0, [], []
    while read < n:
        now = max(now, arrival(read))  # a read blocks until a sample is there
        got = read
        while got < n and arrival(got) <= now:
            got += 1
        reads.append(got - read)
        completed += [got - 1 for end in range(window, got + 1, hop) if end > read]
        due = window - got if got < window else hop - (got - window) % hop
        wake = plan.wake_at(now, got - read, (got, due))
        now, read = max(now, wake or now), got
    return reads, completed


@pytest.mark.parametrize("arrival, reads", [
    (lambda k: k / 50, 3),  # a steady 50 Hz sensor
    (lambda k: k / 50 / 1.02, 4), (lambda k: k / 50 / 1.05, 4),  # its clock 2 % or 5 % fast
    (lambda k: k / 50 / 0.98, 4), (lambda k: k / 50 / 0.95, 4),  # or slow (believed after 16 trickles)
    (lambda k: k / 50 + 0.15 * (k % 7 == 3), 4),  # every seventh sample 150 ms late, holding up those behind
    (lambda k: k / 50 / 1.04 + 0.15 * (k % 7 == 3), 4),  # and its clock 4 % fast
    (lambda k: (k // 6 * 6 + 5) / 50, 4),  # packets of 6, sent once their last sample is taken
], ids=["steady", "2%-fast", "5%-fast", "2%-slow", "5%-slow", "late-samples", "late-and-fast",
        "packets-of-6"])
def test_the_wake_up_plan_never_leaves_a_window_completing_sample_queued(arrival, reads):
    """Each window's label comes out of the read that brought its last sample (or that sample's
    packet), whatever the source's rate or lateness; and the stream still waits: at most four reads
    per window, three for a steady 50 Hz sensor (a block, the sample before the window's last, and
    that one)."""
    n = 128 + 28 * 64
    arrivals = np.maximum.accumulate([arrival(k) for k in range(n)]).tolist()  # a source delivers in order
    got, completed = queued_reads(arrivals.__getitem__, n)
    assert completed == [max(k for k in range(n) if arrivals[k] == arrivals[end - 1])
                         for end in range(128, n + 1, 64)]
    assert len(got) <= reads * len(completed)


@pytest.mark.parametrize("recording", ["demo", "hapt"])
def test_block_processing_gives_the_labels_of_the_sample_by_sample_filter(recording, hapt_raw):
    """The streamed windows against the recursion run sample after sample (scipy's sosfilt, as
    the filter ran before it worked in blocks): the same labels, probabilities within 1e-6."""
    bundle = Bundle.default()
    if recording == "demo":
        raw = np.concatenate([c.x for c in open_source("demo")])
    else:
        raw = read_hapt_experiment(hapt_raw / "acc_exp05_user03.txt.gz")
    pipeline = bundle.pipeline
    sos, zi = pipeline.gravity_filter()
    gravity, _ = signal.sosfilt(sos, raw[:, :3], axis=0, zi=zi[:, :, None] * raw[0, :3])
    expected = pipeline.normalize(np.concatenate([raw[:, :3] - gravity, raw[:, 3:], raw[:, :3]], axis=1))
    classifier = TFLiteClassifier(bundle.tflite("int8"))
    offline = classifier.predict(sliding_windows(expected, bundle.window, bundle.hop))
    results, _ = stream(bundle, np.arange(len(raw)) / 50, raw, sizes=[1, 64, 7, 300], variant="int8")
    assert len(results) == len(offline) > 200
    assert [r.label for r in results] == [bundle.classes[k] for k in offline.argmax(axis=1)]
    np.testing.assert_allclose([r.probs for r in results], offline, atol=1e-6)
    assert [r.end for r in results] == [bundle.window + k * bundle.hop for k in range(len(results))]


def test_streaming_a_bundle_and_a_csv_file_loads_no_pydantic_pandas_scipy_or_numpy_ma(tmp_path):
    """The runtime's peak RSS: pydantic (18 MB), pandas, scipy.signal and numpy.ma stay out of a
    process that loads the default bundle and streams a CSV file with a gap through hmm:1."""
    path = tmp_path / "gap.csv"
    path.write_text("t,ax,ay,az,gx,gy,gz\n" + "".join(
        f"{i / 50 + (i >= 300):.2f},1,0,0,0,0,0\n" for i in range(600)))
    code = (
        "import sys\n"
        "from edgehar.bundle import Bundle\n"
        "from edgehar.runtime.smoothing import make_smoother\n"
        "from edgehar.runtime.sources import open_source\n"
        "from edgehar.runtime.stream import Rounded, Streamer, WakePlan, run\n"
        "bundle = Bundle.default()\n"
        "streamer = Streamer.from_bundle(bundle, 'int8', smoother=make_smoother('hmm:1', bundle))\n"
        f"summary = run(streamer, open_source('csv:{path}'), lambda result: None)\n"
        "assert summary['windows'] > 0 and summary['gaps'] == 1, summary\n"
        "heavy = ('pydantic', 'pandas', 'scipy.signal', 'numpy.ma', 'tensorflow')\n"
        "loaded = [m for m in heavy if m in sys.modules]\n"
        "assert not loaded, loaded\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
