"""Metrics, MACs and augmentation (plain numpy and Keras layer shapes)."""

import numpy as np
import pytest

from edgehar.errors import OptionError
from edgehar.model.architectures import build
from edgehar.model.augment import augment_batch, triplets
from edgehar.model.complexity import macs
from edgehar.model.metrics import classification_report
from edgehar.spec import UCI_CHANNELS


def test_report_counts_and_scores():
    y_true = np.array([0, 0, 1, 1, 2, 2])
    y_pred = np.array([0, 1, 1, 1, 2, 0])
    r = classification_report(y_true, y_pred, ("a", "b", "c"), subjects=[1, 1, 1, 2, 2, 2])
    assert r["confusion_matrix"] == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    assert r["accuracy"] == 4 / 6
    assert r["per_class"]["b"] == {"precision": 2 / 3, "recall": 1.0, "f1": 0.8, "support": 2}
    assert np.isclose(r["macro_f1"], np.mean([0.5, 0.8, 2 / 3]))
    assert r["per_subject"] == {"1": 2 / 3, "2": 2 / 3}


def test_lstm_macs_follow_the_gate_formula():
    model = build("lstm", (128, 9), 6, units=100)
    assert macs(model) == 128 * 4 * 100 * (9 + 100) + 100 * 100 + 100 * 6


def test_separable_conv_macs():
    model = build("dscnn", (128, 6), 6, filters=(8, 16), kernel=5)
    assert macs(model) == 64 * 5 * 6 * 8 + 32 * (5 * 8 + 8 * 16) + 16 * 6


def test_leading_full_convs_then_separable_with_a_kernel_per_block():
    model = build("dscnn", (128, 6), 6, filters=(8, 16, 16), kernel=(7, 5, 3), full_convs=2)
    assert macs(model) == 64 * 7 * 6 * 8 + 32 * 5 * 8 * 16 + 16 * (3 * 16 + 16 * 16) + 16 * 6
    with pytest.raises(OptionError, match="2 kernel sizes for 3 blocks"):
        build("dscnn", (128, 6), 6, filters=(8, 16, 16), kernel=(7, 5))


def test_rotation_turns_each_sensor_triplet_rigidly():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 128, 9)).astype(np.float32)
    out = augment_batch(x, UCI_CHANNELS, rng, scale_sigma=0, jitter_sigma=0, warp_sigma=0)
    assert triplets(UCI_CHANNELS) == [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
    for idx in triplets(UCI_CHANNELS):
        assert np.allclose(np.linalg.norm(out[:, :, idx], axis=2), np.linalg.norm(x[:, :, idx], axis=2),
                           rtol=1e-5)
    assert not np.allclose(out, x)
