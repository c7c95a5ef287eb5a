"""The one preprocessing definition: chunk invariance, presets, stitching, normalization,
the numpy filter recursion and the stored filter designs."""

import json
import subprocess
import sys
import textwrap
from dataclasses import replace

import numpy as np
import pytest
from scipy import signal

from edgehar.data.segments import stitch
from edgehar.preprocess import Pipeline, sliding_windows
from edgehar.preprocess.pipeline import CausalFilter, CausalMedian
from edgehar.preprocess.prepare import model_inputs, pipeline_channels
from edgehar.spec import UCI_CHANNELS


@pytest.fixture(scope="module")
def segment(uci_test):
    return stitch(uci_test)[0]


@pytest.mark.parametrize("pipeline", [
    Pipeline.preset("causal9", noise_cutoff_hz=20.0),
    Pipeline.preset("uci9"),
    Pipeline.preset("raw6"),
    Pipeline.preset("dataset9"),
])
def test_chunked_and_sample_by_sample_equal_whole_bit_for_bit(pipeline, segment):
    whole = pipeline.transform(segment.raw)
    rng = np.random.default_rng(0)
    cuts = np.sort(rng.choice(np.arange(1, len(segment.raw)), 20, replace=False))
    pre = pipeline.start()
    chunked = np.concatenate([pre.push(part) for part in np.split(segment.raw, cuts)])
    pre = pipeline.start()
    one_by_one = np.concatenate([pre.push(row) for row in segment.raw[:300]])
    assert np.array_equal(whole, chunked)
    assert np.array_equal(whole[:300], one_by_one)


def test_test_split_stitches_into_257_segments_that_rebuild_every_window(uci_test):
    segments = stitch(uci_test)
    assert len(segments) == 257
    assert sum(len(s.rows) for s in segments) == len(uci_test)
    raw6 = Pipeline.preset("raw6")
    for s in segments[:20]:
        rebuilt = sliding_windows(raw6.transform(s.raw))
        assert np.array_equal(rebuilt, uci_test.X[s.rows][:, :, 3:])


def test_raw6_inputs_are_the_published_channels_exactly(uci_test):
    raw6 = Pipeline.preset("raw6")
    assert np.array_equal(pipeline_channels(uci_test, raw6), uci_test.X[:, :, 3:])


def test_causal9_gravity_separation_approaches_the_published_body_acc(uci_test):
    """The causal filter is not UCI's zero-phase one, but body_acc stays close to it."""
    causal = pipeline_channels(uci_test, Pipeline.preset("causal9"))
    err = np.abs(causal[:, :, :3] - uci_test.X[:, :, :3])
    assert np.array_equal(causal[:, :, 3:], uci_test.X[:, :, 3:])
    assert np.median(err) < 0.02
    assert err.max() > 0  # made causally, not copied


def test_normalization_is_fitted_stored_and_applied(uci_test):
    raw6 = Pipeline.preset("raw6")
    fitted = raw6.fit(pipeline_channels(uci_test, raw6))
    x = model_inputs(uci_test, fitted)
    assert np.allclose(x.reshape(-1, 6).mean(axis=0), 0, atol=1e-4)
    assert np.allclose(x.reshape(-1, 6).std(axis=0), 1, atol=1e-3)
    again = Pipeline.from_dict(fitted.to_dict())
    assert again == fitted


def test_bad_presets_and_channels_are_refused():
    with pytest.raises(ValueError, match="unknown pipeline"):
        Pipeline.preset("nope")
    with pytest.raises(ValueError, match="unknown channels"):
        Pipeline(name="x", channels=("body_acc_w",))
    with pytest.raises(ValueError, match="UCI HAR order"):
        Pipeline(name="x", channels=(UCI_CHANNELS[6], UCI_CHANNELS[0]))


def test_block_filter_equals_scipy_sosfilt_on_a_real_segment(segment):
    pipeline = Pipeline.preset("causal9", noise_cutoff_hz=20.0)
    raw = segment.raw.astype(np.float64)
    for (sos, zi), x in ((pipeline.noise_filter(), raw), (pipeline.gravity_filter(), raw[:, :3])):
        expected, _ = signal.sosfilt(sos, x, axis=0, zi=signal.sosfilt_zi(sos)[:, :, None] * x[0])
        causal = CausalFilter(sos, zi)
        np.testing.assert_allclose(np.concatenate([causal(part) for part in np.array_split(x, 7)]),
                                   expected, rtol=0, atol=1e-12)
        # The state carried to the next block is sosfilt's after that block's last sample.
        done = len(x) - len(x) % CausalFilter.BLOCK
        _, state = signal.sosfilt(sos, x[:done], axis=0, zi=signal.sosfilt_zi(sos)[:, :, None] * x[0])
        np.testing.assert_allclose(causal.state, state.reshape(causal.state.shape), rtol=0, atol=1e-12)


def test_streams_pushed_together_equal_each_pushed_alone(segment):
    pipeline = Pipeline.preset("causal9", noise_cutoff_hz=20.0)
    streams = [segment.raw[:500], segment.raw[100:600] * 1.5, segment.raw[200:700][:, ::-1]]
    together, pre = [], pipeline.start()
    for part in np.array_split(np.stack(streams, axis=1), 9):
        together.append(pre.push(part))
    together = np.concatenate(together)
    assert together.shape == (500, 3, 9)
    for k, raw in enumerate(streams):
        np.testing.assert_array_equal(together[:, k], pipeline.transform(raw))


def test_stored_design_is_scipys_and_survives_json(segment):
    pipeline = Pipeline.preset("causal9", noise_cutoff_hz=20.0)
    for (sos, zi), order, cutoff in ((pipeline.gravity_filter(), 3, 0.3),
                                     (pipeline.noise_filter(), 3, 20.0)):
        expected = signal.butter(order, cutoff, "lowpass", fs=50.0, output="sos")
        np.testing.assert_array_equal(sos, expected)
        np.testing.assert_array_equal(zi, signal.sosfilt_zi(expected))
    assert Pipeline.from_dict(json.loads(json.dumps(pipeline.to_dict()))) == pipeline

    # An older bundle's pipeline has no design: it designs when streaming, to the same numbers.
    older = Pipeline.from_dict({k: v for k, v in pipeline.to_dict().items() if not k.endswith("_design")})
    assert older.gravity_design is None and older.noise_design is None
    assert older.with_design() == pipeline
    np.testing.assert_array_equal(older.transform(segment.raw), pipeline.transform(segment.raw))


def test_a_design_that_does_not_match_the_parameters_is_refused():
    pipeline = Pipeline.preset("causal9", noise_cutoff_hz=20.0)
    with pytest.raises(ValueError, match="gravity_design is not an order-3 0.5 Hz low-pass"):
        replace(pipeline, gravity_cutoff_hz=0.5)
    with pytest.raises(ValueError, match="noise_design is not an order-4"):
        replace(pipeline, noise_order=4)
    with pytest.raises(ValueError, match="noise_design given without noise_cutoff_hz"):
        replace(pipeline, noise_cutoff_hz=None)
    assert replace(pipeline, gravity_cutoff_hz=0.5, gravity_design=None).with_design().gravity_sos() \
        .shape == (2, 6)


@pytest.mark.parametrize("noise_cutoff_hz", [None, 20.0])
def test_streaming_a_stored_design_never_loads_scipy(segment, tmp_path, noise_cutoff_hz):
    pipeline = Pipeline.preset("causal9", noise_cutoff_hz=noise_cutoff_hz)
    np.save(tmp_path / "raw.npy", segment.raw)
    (tmp_path / "pipeline.json").write_text(json.dumps(pipeline.to_dict()))
    script = textwrap.dedent(f"""
        import json, sys
        import numpy as np
        from edgehar.preprocess import Pipeline
        pipeline = Pipeline.from_dict(json.loads(open({str(tmp_path / "pipeline.json")!r}).read()))
        raw = np.load({str(tmp_path / "raw.npy")!r})
        pre = pipeline.start()
        out = np.concatenate([pre.push(raw[i:i + 25]) for i in range(0, len(raw), 25)])
        np.save({str(tmp_path / "out.npy")!r}, out)
        assert "scipy.signal" not in sys.modules, "streaming loaded scipy.signal"
    """)
    subprocess.run([sys.executable, "-c", script], check=True)
    np.testing.assert_array_equal(np.load(tmp_path / "out.npy"), pipeline.transform(segment.raw))


def test_causal_median_is_the_centred_median_one_sample_late_in_any_blocks(hapt_raw):
    raw = np.loadtxt(hapt_raw / "acc_exp01_user01.txt.gz", max_rows=2000)
    median = CausalMedian(3)
    blocks = np.split(raw, [1, 2, 7, 500, 1333])
    causal = np.concatenate([median(block) for block in blocks])
    centred = np.stack([signal.medfilt(column, 3) for column in raw.T], axis=1)
    np.testing.assert_array_equal(causal[2:], centred[1:-1])
    np.testing.assert_array_equal(causal[:2], raw[[0, 0]])  # history: the first sample repeated
    assert (causal != raw).any()


def test_uci9_makes_raw_recordings_look_like_the_published_windows(uci_train, hapt_raw):
    """UCI HAR filtered its signals (median, 20 Hz low-pass) before publishing them; raw samples
    carry more 10-25 Hz power until uci9 does the same (same subjects, same activities)."""
    from edgehar.data.recordings import hapt_windows

    def high_band_power(x):  # total_acc_x power above 10 Hz, per window
        spectrum = np.abs(np.fft.rfft(x[:, :, 6] - x[:, :, 6].mean(axis=1, keepdims=True), axis=1)) ** 2
        return spectrum[:, np.fft.rfftfreq(128, 1 / 50) >= 10].sum(axis=1).mean()

    subjects = [1, 3]
    published = high_band_power(pipeline_channels(uci_train.take(np.isin(uci_train.subject, subjects)),
                                                  Pipeline.preset("uci9")))
    causal9, uci9 = (high_band_power(hapt_windows(hapt_raw, Pipeline.preset(name), subjects=subjects).X)
                     for name in ("causal9", "uci9"))
    assert causal9 > 1.3 * published
    assert abs(uci9 / published - 1) < 0.15


def test_published_windows_skip_the_noise_stages_they_went_through():
    uci9 = Pipeline.preset("uci9")
    published = uci9.for_published()
    assert (published.median_length, published.noise_cutoff_hz, published.noise_design) == (None, None, None)
    assert published.gravity_design == uci9.gravity_design and published.channels == uci9.channels


def test_a_median_length_that_is_even_or_below_3_is_refused():
    for length in (1, 2, 4):
        with pytest.raises(ValueError, match="median_length must be odd and at least 3"):
            Pipeline.preset("uci9", median_length=length)
