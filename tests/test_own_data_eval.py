"""Everything after training, for a class set that is not UCI HAR's, with no UCI HAR on the machine.

Real HAPT experiments become recordings (CSV ``t,ax,ay,az,gx,gy,gz,label`` + sidecar) in a
temporary folder; a tiny LSTM is trained on three of them (users 1, 3, 5; one held out for
validation) with the classes active / static / LAYING, then exported, evaluated, validated and
streamed on a fourth (user 6) through the command line, with ``EDGEHAR_DATA`` an empty folder
(any read of UCI HAR fails).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from edgehar.bundle import Bundle
from edgehar.cli import app
from edgehar.data.recordings import bundle_class_map, read_hapt_recordings, read_recording, write_recording
from edgehar.export.report import REPORT_FILE

CLASSES = "active=WALKING+WALKING_UPSTAIRS+WALKING_DOWNSTAIRS,static=SITTING+STANDING,LAYING"
TRAIN_EXPERIMENTS = (1, 5, 9)  # users 1, 3, 5
EVAL_EXPERIMENT = 11  # user 6


@pytest.fixture(scope="module")
def no_uci(tmp_path_factory, monkeypatch_module):
    """EDGEHAR_DATA pointing at an empty folder: any read of UCI HAR fails."""
    empty = tmp_path_factory.mktemp("no-uci")
    monkeypatch_module.setenv("EDGEHAR_DATA", str(empty))
    return empty


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as mp:
        yield mp


@pytest.fixture(scope="module")
def folders(tmp_path_factory, hapt_raw):
    """'train' (3 recordings) and 'eval' (1 recording) folders of CSV recordings."""
    root = tmp_path_factory.mktemp("recordings")
    for name, experiments in (("train", TRAIN_EXPERIMENTS), ("eval", (EVAL_EXPERIMENT,))):
        (root / name).mkdir()
        for rec in read_hapt_recordings(hapt_raw, experiments=experiments):
            write_recording(rec, root / name / f"exp{int(rec.session):02d}_user{int(rec.subject):02d}.csv")
    return root


def edgehar(*args: str) -> subprocess.CompletedProcess:
    """The real command, as a user runs it (its error line comes from the entry point)."""
    return subprocess.run([sys.executable, "-m", "edgehar", *map(str, args)], capture_output=True, text=True,
                          timeout=600, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})


def one_error_line(run: subprocess.CompletedProcess) -> str:
    assert run.returncode == 2, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), run.stderr
    return lines[0]


def invoke(*args) -> str:
    result = CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def bundle(no_uci, folders, tmp_path_factory) -> Bundle:
    """The 3-class bundle trained on 'train' (user 5 held out) and exported (float32, int8) with the
    firmware package, all from the command line without UCI HAR."""
    out = tmp_path_factory.mktemp("bundles") / "own3"
    invoke("train", "--recordings", folders / "train", "--classes", CLASSES, "--val-groups", "1",
           "--model", "lstm", "--units", "8", "--epochs", "3", "--out", out)
    invoke("export", out, "--quant", "float32,int8", "--firmware", out / "firmware", "--accept-failed-checks")
    return Bundle.load(out)


def test_export_calibrates_on_the_training_recordings_and_validates_on_the_held_out_group(bundle, folders):
    assert bundle.classes == ("active", "static", "LAYING")
    held = bundle.metadata["training"]["recordings"]["validation"]
    calibration = bundle.metadata["exports"]["int8"]["calibration"]
    assert calibration["data"] == str(folders / "train") and calibration["windows"] > 100
    report = json.loads((bundle.path / REPORT_FILE).read_text())
    assert report["data"] == f"{folders / 'train'} (held-out subjects {', '.join(held)})"
    assert 50 < report["windows"] < calibration["windows"]
    assert set(report["variants"]) == {"float32", "int8"}
    assert report["variants"]["float32"]["agreement_vs_keras"] == 1.0
    assert {"int8_accuracy_drop_points", "int8_bytes", "int8_litert_tflm_agreement"} <= set(report["targets"])
    firmware = bundle.path / "firmware"
    assert "#define EDGEHAR_NUM_CLASSES 3" in (firmware / "src" / "edgehar_params.h").read_text()
    subprocess.run(["make", "-C", str(firmware), "CC=gcc", "check"], check=True, capture_output=True)
    params = subprocess.run([str(firmware / "host_test"), "--params"], capture_output=True, text=True,
                            check=True).stdout.splitlines()
    assert "classes active static LAYING" in params


def test_export_without_the_training_recordings_says_so_and_takes_recordings(bundle, folders, tmp_path):
    moved = tmp_path / "own3"
    shutil.copytree(bundle.path, moved, ignore=shutil.ignore_patterns("firmware"))
    Bundle.load(moved).update_metadata(training={**bundle.metadata["training"],
                                                 "recordings": {**bundle.metadata["training"]["recordings"],
                                                                "folder": str(tmp_path / "gone")},
                                                 "data_source": str(tmp_path / "gone")})
    line = one_error_line(edgehar("export", moved, "--quant", "int8"))
    assert "gone" in line and "not on this machine" in line and "--recordings" in line

    output = invoke("export", moved, "--quant", "int8", "--recordings", folders / "eval",
                    "--accept-failed-checks")
    assert "is not on this machine: calibrating and validating on" in output
    exported = Bundle.load(moved)
    assert exported.metadata["exports"]["int8"]["calibration"]["data"] == str(folders / "eval")
    assert json.loads((moved / REPORT_FILE).read_text())["data"] == str(folders / "eval")


def test_evaluate_recordings_scores_per_class_and_per_subject(bundle, folders, tmp_path):
    report = json.loads(invoke("evaluate", bundle.path, "--recordings", folders / "eval", "--variant", "int8",
                               "--json"))
    assert report["data"] == str(folders / "eval") and report["windows"] > 100
    assert list(report["per_class"]) == list(bundle.classes)
    assert list(report["per_subject"]) == ["6"]
    assert sum(map(sum, report["confusion_matrix"])) == report["windows"]
    assert 0 <= report["accuracy"] <= 1


def test_validate_recordings_streams_live_and_agrees_with_the_offline_batch(bundle, folders):
    report = json.loads(invoke("validate", "--model", bundle.path, "--recordings", folders / "eval",
                               "--json"))
    assert report["recordings"] == 1 and report["subjects"] == ["6"]
    assert report["agreement"] == 1.0 and report["compared_windows"] == report["windows"] > 200
    assert 0 < report["scored_windows"] < report["windows"] and report["transition_windows"] > 0
    assert {"none", "vote:5", "ema:0.3", "hysteresis:3:0.9"} == set(report["smoothing"])
    none = report["smoothing"]["none"]
    assert set(none["recall"]) == set(bundle.classes) and 0 <= none["macro_f1"] <= 1
    assert none["true_changes_per_minute"] > 0 and none["label_changes_per_minute"] >= 0
    assert report["smoothing"]["vote:5"]["label_changes_per_minute"] <= none["label_changes_per_minute"]

    # edgehar stream on the same file scores its labels (HAPT names) through the class map
    # and, relabelled with the class names themselves, the same
    recording = next((folders / "eval").glob("*.csv"))
    original = read_recording(recording)
    renamed = write_recording(replace(original, labels=bundle_class_map(bundle).codes(original),
                                      label_names=bundle.classes), recording.parent.parent / "by_class.csv")
    assert set(pd.read_csv(renamed, keep_default_na=False)["label"]) == {"", *bundle.classes}
    summaries = []
    for path in (recording, renamed):
        done = edgehar("stream", "--model", bundle.path, "--source", f"csv:{path}", "--smooth", "none")
        assert done.returncode == 0, done.stderr
        summaries.append(json.loads(done.stderr.strip().splitlines()[-1]))
    assert summaries[0]["scored"] == summaries[1]["scored"] == report["scored_windows"]
    assert summaries[0]["accuracy"] == summaries[1]["accuracy"] == round(none["accuracy"], 4)


@pytest.mark.parametrize("command", ["validate", "evaluate", "export"])
def test_recordings_of_no_class_of_the_bundle_are_one_error_line(bundle, tmp_path, command):
    folder = tmp_path / "cycling"
    folder.mkdir()
    raw = np.random.default_rng(0).normal(0, 0.1, (400, 6))
    pd.DataFrame({"t": np.arange(400) / 50, **dict(zip(["ax", "ay", "az", "gx", "gy", "gz"], raw.T,
                                                     strict=True)),
                  "label": "cycling"}).to_csv(folder / "ride.csv", index=False)
    args = {"validate": ("validate", "--model", bundle.path), "evaluate": ("evaluate", bundle.path),
            "export": ("export", bundle.path, "--quant", "int8")}[command]
    line = one_error_line(edgehar(*args, "--recordings", folder))
    assert "no sample is labelled with one of" in line and "labels found: cycling" in line
    assert "active=WALKING" in line


@pytest.mark.parametrize("what", ["empty", "missing"])
def test_a_folder_without_recordings_is_one_error_line(bundle, tmp_path, what):
    folder = tmp_path / what
    if what == "empty":
        folder.mkdir()
    line = one_error_line(edgehar("validate", "--model", bundle.path, "--recordings", folder))
    assert str(folder) in line and ("no recordings" in line or "no such folder" in line)


def test_stretches_of_the_classes_shorter_than_a_window_are_one_error_line(bundle, folders, tmp_path):
    folder = tmp_path / "short"
    folder.mkdir()
    recording = next((folders / "eval").glob("*.csv"))
    table = pd.read_csv(recording, dtype={"label": str}, keep_default_na=False).iloc[:1000]
    table["label"] = np.where(np.arange(len(table)) % 100 < 50, "WALKING", "SITTING")
    table.to_csv(folder / "choppy.csv", index=False)
    line = one_error_line(edgehar("evaluate", bundle.path, "--recordings", folder))
    assert "no stretch of one of" in line and "lasts a whole window (128 samples" in line
    line = one_error_line(edgehar("validate", "--model", bundle.path, "--recordings", folder))
    assert "no streamed window lies wholly inside one of the classes" in line and "128 samples" in line


@pytest.mark.parametrize("args", [("validate", "--hapt", "RawData"), ("validate", "--data", "uci"),
                                  ("evaluate", "BUNDLE", "--data", "uci")])
def test_recordings_with_another_data_source_is_one_error_line(bundle, folders, args):
    args = [str(bundle.path) if a == "BUNDLE" else a for a in args]
    line = one_error_line(edgehar(*args, "--recordings", folders / "eval"))
    assert "--recordings" in line and ("exclusive" in line or "alone" in line)


def test_decoder_from_recordings_is_scored_by_validate_and_goes_into_the_firmware(bundle, folders, tmp_path):
    path = tmp_path / "own3"
    shutil.copytree(bundle.path, path, ignore=shutil.ignore_patterns("firmware"))
    output = invoke("decoder", path, "--recordings", folders / "train", "--default-smooth", "hmm:1")
    assert "decoder with 3 states" in output
    report = json.loads(invoke("validate", "--model", path, "--recordings", folders / "eval", "--json"))
    assert {"hmm", "hmm:2", "hmm:1"} <= set(report["smoothing"])
    hmm = report["smoothing"]["hmm:1"]
    assert 0 <= hmm["accuracy"] <= 1
    assert hmm["label_changes_per_minute"] <= report["smoothing"]["none"]["label_changes_per_minute"]
    invoke("export", path, "--quant", "int8", "--firmware", tmp_path / "fw", "--accept-failed-checks")
    header = (tmp_path / "fw" / "src" / "edgehar_hmm_params.h").read_text()
    assert "#define EDGEHAR_HMM_FROM_BUNDLE 1" in header and "#define EDGEHAR_HMM_STATES 3" in header
    subprocess.run(["make", "-C", str(tmp_path / "fw"), "CC=gcc", "check"], check=True, capture_output=True)
