"""Training, bundles and the train/evaluate commands, on small slices of the real data."""

import json
import re

import numpy as np
import pytest
from typer.testing import CliRunner

from edgehar import atomic
from edgehar.bundle import SCHEMA, Bundle
from edgehar.cli import app
from edgehar.errors import BundleError, OptionError
from edgehar.model.train import TrainConfig, fit, write_bundle

TINY = dict(family="lstm", params={"units": 8, "dense": 16}, epochs=1, batch_size=64)


@pytest.fixture(scope="module")
def small(uci_train, uci_test):
    return uci_train.take(slice(0, None, 20)), uci_test.take(slice(0, None, 20))


@pytest.fixture
def small_data_dir(tmp_path, small):
    """A data folder in the npz layout holding the small slices."""
    for name, w in zip(("train", "test"), small, strict=True):
        np.savez(tmp_path / f"uci_har_{name}.npz", X=w.X, y=w.y, subject=w.subject)
    return tmp_path


def test_same_seed_same_model(small):
    train, _ = small
    a = fit(TrainConfig(**TINY, seed=3), train, progress=False).model.get_weights()
    b = fit(TrainConfig(**TINY, seed=3), train, progress=False).model.get_weights()
    c = fit(TrainConfig(**TINY, seed=4), train, progress=False).model.get_weights()
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c, strict=True))


def test_bundle_round_trip_records_everything_later_stages_need(tmp_path, small):
    train, test = small
    result = fit(TrainConfig(**TINY, pipeline="raw6", normalize=True, val_subjects=3), train, test,
                 progress=False)
    bundle = write_bundle(tmp_path / "b", result, train)
    meta = Bundle.load(bundle.path).metadata
    assert meta["schema"] == SCHEMA
    assert meta["classes"][1] == "WALKING_UPSTAIRS"
    assert (meta["window"], meta["hop"], meta["sample_rate_hz"]) == (128, 64, 50.0)
    assert bundle.pipeline.channels == bundle.pipeline.preset("raw6").channels
    assert bundle.pipeline.mean is not None and len(bundle.pipeline.std) == 6
    assert meta["training"]["seed"] == 1 and meta["training"]["data_sha256"]
    assert meta["model"]["parameters"] > 0 and meta["model"]["macs_per_window"] > 0
    assert 0 <= meta["metrics"]["test"]["accuracy"] <= 1
    assert {"tensorflow", "keras", "numpy"} <= set(meta["versions"])
    history = json.loads((bundle.path / "history.json").read_text())
    assert {"loss", "accuracy", "val_accuracy"} <= set(history)


def test_a_crash_while_writing_leaves_the_old_bundle_untouched(tmp_path):
    target = tmp_path / "bundle"
    target.mkdir()
    (target / "metadata.json").write_text("old")
    with pytest.raises(KeyboardInterrupt), atomic.folder(target) as tmp:
        (tmp / "metadata.json").write_text("new, half written")
        raise KeyboardInterrupt
    assert (target / "metadata.json").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["bundle"]


def test_bundle_errors_name_the_problem(tmp_path):
    with pytest.raises(BundleError, match="no metadata.json"):
        Bundle.load(tmp_path)
    (tmp_path / "metadata.json").write_text('{"schema": \n nope}')
    with pytest.raises(BundleError, match="line 2"):
        Bundle.load(tmp_path)
    (tmp_path / "metadata.json").write_text('{"schema": "other/9"}')
    with pytest.raises(BundleError, match="schema"):
        Bundle.load(tmp_path)


def test_train_and_evaluate_commands(tmp_path, small_data_dir):
    runner = CliRunner()
    out = tmp_path / "m"
    res = runner.invoke(app, ["train", "--model", "lstm", "--units", "8", "--epochs", "1", "--repeats", "2",
                              "--data", str(small_data_dir), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert re.search(r">#1: \d+\.\d{3} \(test accuracy, %\)", res.output), res.output
    assert ">#2: " in res.output
    assert "Accuracy: " in res.output and "% (+/-" in res.output
    assert Bundle.load(out).metadata["repeats"]["runs"]

    bundle_files = sorted(p.name for p in out.iterdir())
    res = runner.invoke(app, ["evaluate", str(out), "--data", str(small_data_dir), "--json"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert 0 <= report["accuracy"] <= 1 and 0 <= report["macro_f1"] <= 1
    assert len(report["confusion_matrix"]) == 6 and report["per_subject"]

    # Piped, at 80 columns: every table whole, class names never cut.
    res = runner.invoke(app, ["evaluate", str(out), "--data", str(small_data_dir)])
    assert res.exit_code == 0 and "confusion matrix" in res.output and "per subject" in res.output
    assert "…" not in res.output and res.output.count("WALKING_DOWNSTAIRS") == 2
    assert sorted(p.name for p in out.iterdir()) == bundle_files, "evaluate wrote into the bundle"

    png = tmp_path / "plots" / "cm.png"
    res = runner.invoke(app, ["evaluate", str(out), "--data", str(small_data_dir), "--png", str(png)])
    assert res.exit_code == 0 and png.read_bytes()[:4] == b"\x89PNG"
    assert sorted(p.name for p in out.iterdir()) == bundle_files


def test_train_command_takes_family_params_as_json(tmp_path, small_data_dir):
    runner = CliRunner()
    out = tmp_path / "d"
    res = runner.invoke(app, ["train", "--model", "dscnn", "--epochs", "1", "--params",
                              '{"filters": [8, 12], "kernel": [5, 3], "full_convs": 2}',
                              "--data", str(small_data_dir), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert Bundle.load(out).metadata["model"]["params"] == {"filters": [8, 12], "kernel": [5, 3],
                                                            "full_convs": 2}
    res = runner.invoke(app, ["train", "--model", "dscnn", "--params", "[8]", "--data", str(small_data_dir)])
    assert isinstance(res.exception, OptionError) and "a JSON object is needed" in str(res.exception)


def test_early_stopping_waits_for_min_epochs(small):
    train, _ = small
    frozen = dict(TINY, epochs=4, learning_rate=0.0, val_subjects=2, patience=0)  # val never improves
    assert len(fit(TrainConfig(**frozen), train, progress=False).history["loss"]) == 2
    assert len(fit(TrainConfig(**frozen, min_epochs=3), train, progress=False).history["loss"]) == 4


def test_early_stopping_prefers_the_lower_loss_of_equally_accurate_epochs_but_never_a_less_accurate_one():
    from edgehar.model.train import AccuracyThenLoss

    def selection(accuracy, loss, windows=1000):
        logs = {"val_accuracy": accuracy, "val_loss": loss}
        AccuracyThenLoss(windows).on_epoch_end(0, logs)
        return logs[AccuracyThenLoss.KEY]

    assert selection(0.9, 0.01) > selection(0.9, 0.7)
    assert selection(0.901, 1e9) > selection(0.9, 0.0)
