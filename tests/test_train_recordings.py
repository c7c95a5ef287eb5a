"""Training on own recordings for any class set, from the library and from `edgehar train
--recordings`, on real HAPT experiments written in the recording format; no UCI HAR involved."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from edgehar.bundle import Bundle
from edgehar.cli import app
from edgehar.data.recordings import (
    ClassMap,
    bundle_class_map,
    read_recordings,
    recording_windows,
    write_recording,
)
from edgehar.errors import DataError, OptionError
from edgehar.model.train import TrainConfig, fit, write_bundle
from edgehar.preprocess.pipeline import Pipeline

SEVEN = ("WALKING,WALKING_UPSTAIRS,WALKING_DOWNSTAIRS,SITTING,STANDING,LAYING,"
         "TRANSITION=STAND_TO_SIT+SIT_TO_STAND+SIT_TO_LIE+LIE_TO_SIT+STAND_TO_LIE+LIE_TO_STAND")
THREE = "active=WALKING+WALKING_UPSTAIRS+WALKING_DOWNSTAIRS,static=SITTING+STANDING,lying=LAYING"
TINY = ["--model", "dscnn", "--params", '{"filters": [8, 8], "kernel": 3}', "--epochs", "1"]


@pytest.fixture
def no_uci(tmp_path, monkeypatch) -> Path:
    """$EDGEHAR_DATA pointing at an empty folder: any use of UCI HAR would fail."""
    empty = tmp_path / "no-uci"
    empty.mkdir()
    monkeypatch.setenv("EDGEHAR_DATA", str(empty))
    return empty


def test_a_model_for_any_class_set_holds_out_whole_subjects(own, tmp_path):
    classes = ClassMap.parse(THREE)
    windows = recording_windows(read_recordings(own), Pipeline.preset("raw6"), classes, hop=32)
    config = TrainConfig("dscnn", {"filters": [8, 8], "kernel": 3}, epochs=1, val_subjects=1, val_seed=0)
    result = fit(config, windows, progress=False)
    assert result.model.output_shape == (None, 3)
    (held,) = result.validation["groups"]
    assert result.validation["by"] == "subject" and held in {"1", "3", "5"}
    assert result.validation["report"]["windows"] == int((windows.subject == held).sum())
    assert set(result.validation["report"]["per_subject"]) == {held}
    bundle = write_bundle(tmp_path / "b", result, windows)
    assert bundle.classes == ("active", "static", "lying")
    assert bundle.metadata["metrics"]["validation"]["groups"] == [held]
    assert bundle_class_map(bundle) == classes  # what export/validate label recordings by
    assert bundle.metadata["training"]["recordings"]["folder"] == str(own.resolve())
    assert bundle.metadata["training"]["recordings"]["validation"] == [held]


def test_recordings_without_subjects_are_held_out_by_session(own, tmp_path):
    for rec in read_recordings(own):
        write_recording(replace(rec, subject=""), tmp_path / Path(rec.name).name)
    windows = recording_windows(read_recordings(tmp_path), Pipeline.preset("raw6"), ClassMap.parse(THREE))
    config = TrainConfig("dscnn", {"filters": [8, 8], "kernel": 3}, epochs=1, val_subjects=1)
    result = fit(config, windows, progress=False)
    assert result.validation["by"] == "session" and result.validation["groups"][0] in {"1", "5", "9"}


def test_train_command_on_recordings_needs_no_uci_har(own, no_uci, tmp_path):
    out = tmp_path / "seven"
    res = CliRunner().invoke(app, ["train", "--recordings", str(own), "--classes", SEVEN, *TINY,
                                   "--hop", "32", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "3 recordings" in res.output and "3 subjects" in res.output and "TRANSITION " in res.output
    assert "validation: 1 of 3 subjects held out" in res.output
    assert ">#1: " in res.output and "(validation accuracy on held-out subjects " in res.output
    assert not any(no_uci.iterdir())
    bundle = Bundle.load(out)
    meta = bundle.metadata
    assert meta["classes"][-1] == "TRANSITION" and len(meta["classes"]) == 7
    assert meta["pipeline"]["name"] == "raw6" and meta["pipeline"]["mean"] is not None
    rec = meta["training"]["recordings"]
    assert rec["folder"] == str(own.resolve()) == meta["training"]["data_source"]
    assert (rec["files"], rec["subjects"], rec["hop"]) == (3, ["1", "3", "5"], 32)
    assert rec["validation_by"] == "subject"
    assert len(rec["validation"]) == 1 and rec["windows"]["TRANSITION"] > 0
    assert bundle_class_map(bundle) == ClassMap.parse(SEVEN)
    assert meta["metrics"]["test"] is None and meta["metrics"]["validation"]["windows"] > 0


def test_train_command_defaults_to_every_label_and_an_lstm_trains_causally(own, no_uci, tmp_path):
    single = tmp_path / "one"
    for rec in read_recordings(own)[:2]:
        write_recording(rec, single / Path(rec.name).name)
    out = tmp_path / "lstm"
    res = CliRunner().invoke(app, ["train", "--recordings", str(single), "--model", "lstm", "--units", "4",
                                   "--epochs", "1", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "validation: none held out (2 subjects" in res.output and "no accuracy to report" in res.output
    meta = Bundle.load(out).metadata
    assert meta["pipeline"]["name"] == "causal9"  # lstm's dataset9 needs UCI HAR's published channels
    assert len(meta["classes"]) == 12 and "SIT_TO_LIE" in meta["classes"]  # CSV: every label found
    assert meta["training"]["recordings"]["validation"] == []


@pytest.mark.parametrize("args, error, message", [
    (["--classes", "WALKING,JUMPING"], DataError, "no recording holds label JUMPING"),
    (["--classes", "WALKING,WALKING"], OptionError, "class WALKING is named twice"),
    (["--val-groups", "3"], OptionError, "--val-groups 3: the windows come from 3 subjects; hold out 0..2"),
    (["--val-subjects", "1"], OptionError, "with --recordings, hold out validation groups with --val-groups"),
    (["--data", "somewhere"], OptionError, "--data and --recordings are exclusive"),
    (["--hop", "0"], OptionError, "--hop 0: must be a whole number at least 1"),
])
def test_train_command_refuses_bad_recording_options(own, no_uci, tmp_path, args, error, message):
    res = CliRunner().invoke(app, ["train", "--recordings", str(own), *TINY, "--out", str(tmp_path / "m"),
                                   *args])
    assert isinstance(res.exception, error) and message in str(res.exception), res.output
    assert not (tmp_path / "m").exists()


def test_a_class_too_short_to_fill_a_window_is_refused(own, tmp_path):
    rec = read_recordings(own)[0]
    labels = rec.labels.copy()
    labels[:100] = len(rec.label_names) + 1  # exp 1 starts with 249 unlabelled samples
    write_recording(replace(rec, labels=labels, label_names=(*rec.label_names, "blip")), tmp_path / "r.csv")
    res = CliRunner().invoke(app, ["train", "--recordings", str(tmp_path / "r.csv"), "--classes",
                                   "blip,WALKING", *TINY, "--out", str(tmp_path / "m")])
    assert isinstance(res.exception, DataError), res.output
    assert "r.csv: no 128-sample stretch of class blip (--hop 64)" in str(res.exception)


def test_recording_options_need_recordings(tmp_path):
    res = CliRunner().invoke(app, ["train", "--classes", "A,B", "--out", str(tmp_path / "m")])
    assert isinstance(res.exception, OptionError) and "go with --recordings" in str(res.exception)


def test_training_windows_are_recorded_per_class(own, tmp_path):
    res = CliRunner().invoke(app, ["train", "--recordings", str(own), "--classes", THREE, *TINY,
                                   "--val-groups", "0", "--out", str(tmp_path / "m")])
    assert res.exit_code == 0, res.output
    meta = json.loads((tmp_path / "m" / "metadata.json").read_text())
    windows = meta["training"]["recordings"]["windows"]
    assert list(windows) == ["active", "static", "lying"] and sum(windows.values()) == meta["training"][
        "train_windows"]
    assert np.all(np.array(list(windows.values())) > 0)


def test_train_says_when_the_held_out_people_lack_a_class(own, no_uci, tmp_path):
    from edgehar.model.train import split_validation

    recordings = read_recordings(own)
    windows = recording_windows(recordings, Pipeline.preset("raw6"), ClassMap.parse(THREE))
    held = split_validation(windows, 1, 1)[2]["groups"]  # whom `train --seed 1` holds out
    folder = tmp_path / "lying-only-in-training"
    for rec in recordings:
        if rec.subject in held:  # the held-out person never lies down
            lying = rec.label_names.index("LAYING") + 1
            rec = replace(rec, labels=np.where(rec.labels == lying, 0, rec.labels))
        write_recording(rec, folder / f"user{rec.subject}.csv")
    res = CliRunner().invoke(app, ["train", "--recordings", str(folder), "--classes", THREE, *TINY,
                                   "--out", str(tmp_path / "m")])
    assert res.exit_code == 0, res.output
    assert f"held-out subjects {held[0]}" in res.output
    assert "note: the held-out subjects have no windows of lying" in " ".join(res.output.split())
