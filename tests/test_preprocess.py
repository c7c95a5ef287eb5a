"""The one preprocessing definition: chunk invariance, presets, stitching, normalization."""

import numpy as np
import pytest

from edgehar.data.segments import stitch
from edgehar.preprocess import Pipeline, sliding_windows
from edgehar.preprocess.prepare import model_inputs, pipeline_channels
from edgehar.spec import UCI_CHANNELS


@pytest.fixture(scope="module")
def segment(uci_test):
    return stitch(uci_test)[0]


@pytest.mark.parametrize("pipeline", [
    Pipeline.preset("causal9", noise_cutoff_hz=20.0),
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
