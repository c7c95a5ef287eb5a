"""A diverged or degenerate model is never passed: training refuses to write NaN weights, and
export's checks fail on non-finite outputs and on an int8 model that disagrees with Keras."""

from __future__ import annotations

import re
import shutil

import numpy as np
import pytest

from edgehar.bundle import Bundle
from edgehar.errors import BundleError
from edgehar.export.report import _targets, failed_checks, validate
from edgehar.model.train import write_bundle
from tools.record_checksums import record_checksums


def poisoned(model):
    model.set_weights([np.full_like(w, np.nan) for w in model.get_weights()])
    return model


def test_a_model_whose_training_diverged_is_never_written(tiny_bundle, uci_train, tmp_path):
    import keras

    from edgehar.model.train import TrainConfig, TrainResult

    model = poisoned(keras.models.load_model(tiny_bundle.file("model.keras"), compile=False))
    config = TrainConfig("lstm", {"units": 8, "dense": 16}, epochs=1)
    result = TrainResult(model, tiny_bundle.pipeline, config, {}, None)
    with pytest.raises(BundleError, match="training diverged: .* NaN or infinite .* nothing was written"):
        write_bundle(tmp_path / "nan", result, uci_train.take(slice(0, 50)))
    assert not (tmp_path / "nan").exists()


def test_export_checks_fail_on_outputs_that_are_not_finite(tiny_bundle, uci_test, tmp_path):
    import keras

    path = tmp_path / "nan"
    shutil.copytree(tiny_bundle.path, path)
    model = poisoned(keras.models.load_model(path / "model.keras", compile=False))
    model.save(path / "model.keras")
    record_checksums(path)
    bundle = Bundle.load(path)
    report = validate(bundle, uci_test.take(slice(0, None, 50)), variants=("float32",))
    assert report["keras"]["non_finite_outputs"] > 0
    assert report["variants"]["float32"]["max_abs_prob_diff_vs_keras"] is None
    assert "finite_outputs" in failed_checks(report)


def test_export_checks_fail_when_int8_agrees_with_keras_on_too_few_windows(tiny_bundle, uci_test):
    report = validate(tiny_bundle, uci_test.take(slice(0, None, 50)), variants=("int8",))
    assert "int8_agreement_with_keras" not in failed_checks(report)
    degenerate = {**report, "variants": {"int8": {**report["variants"]["int8"], "agreement_vs_keras": 0.0}}}
    degenerate["targets"] = _targets(degenerate)
    assert failed_checks(degenerate) == ["int8_agreement_with_keras"]


@pytest.mark.parametrize(("field", "value"), [("learning_rate", float("nan")), ("learning_rate", 1e30),
                                              ("distill", float("nan")), ("keep_below_loss", float("inf")),
                                              ("guard", -0.1), ("rehearsal", float("nan"))])
def test_finetune_refuses_from_python_what_the_cli_refuses(field, value):
    from edgehar.errors import OptionError
    from edgehar.model.finetune import FinetuneConfig

    says = re.escape(f"--{field.replace('_', '-')} {value}: must be a finite")
    with pytest.raises(OptionError, match=says):
        FinetuneConfig(**{field: value}).check()
