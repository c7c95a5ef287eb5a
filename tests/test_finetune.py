"""`edgehar finetune` on real HAPT recordings: a tiny base bundle trained on two subjects,
fine-tuned on the first minute of a third; and the mistakes a user can make."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from test_cli_mistakes import edgehar, one_error_line

from edgehar.bundle import Bundle

BASE_EXPERIMENTS = (1, 5)  # subjects 1 and 3
WEARER_EXPERIMENT = 9  # subject 5


def _hapt_folder(folder: Path, hapt_raw: Path, experiments) -> Path:
    folder.mkdir(parents=True)
    for e in experiments:
        for path in hapt_raw.glob(f"*_exp{e:02d}_user*.txt.gz"):
            shutil.copy(path, folder)
    rows = [line for line in (hapt_raw / "labels.txt").read_text().splitlines()
            if int(line.split()[0]) in experiments]
    (folder / "labels.txt").write_text("\n".join(rows) + "\n")
    return folder


@pytest.fixture(scope="module")
def base_bundle(tmp_path_factory, hapt_raw) -> Bundle:
    """`edgehar train --recordings`: a dscnn (8-16 filters) trained 1 epoch on one experiment of
    subjects 1 and 3 (one held out for validation), streaming with vote:5."""
    root = tmp_path_factory.mktemp("finetune")
    data = _hapt_folder(root / "base-data", hapt_raw, BASE_EXPERIMENTS)
    run = edgehar("train", "--recordings", str(data), "--model", "dscnn", "--params",
                  '{"filters": [8, 16], "kernel": 5}', "--epochs", "1", "--out", str(root / "base"))
    assert run.returncode == 0, run.stderr
    return Bundle.load(root / "base").update_metadata(smoothing="vote:5")  # kept by finetune


@pytest.fixture(scope="module")
def wearer(tmp_path_factory, hapt_raw) -> Path:
    return _hapt_folder(tmp_path_factory.mktemp("wearer") / "RawData", hapt_raw, (WEARER_EXPERIMENT,))


def test_finetune_cli_adapts_a_bundle_to_one_minute_of_a_new_wearer_and_the_result_exports(
        base_bundle, wearer, tmp_path):
    out = tmp_path / "mine"
    run = edgehar("finetune", str(base_bundle.path), "--recordings", str(wearer), "--out", str(out),
                  "--minutes", "1", "--epochs", "2")
    assert run.returncode == 0, run.stderr
    assert "STAND_TO_SIT" in run.stdout and "ignored" in run.stdout  # HAPT's transitions are no class
    tuned = Bundle.load(out)
    assert tuned.classes == base_bundle.classes
    assert tuned.pipeline == base_bundle.pipeline
    assert tuned.smoothing == "vote:5"
    record = tuned.metadata["finetune"]
    assert record["base"] == base_bundle.name
    assert record["base_model_sha256"] == base_bundle.checksums["model.keras"]
    assert 0.9 <= record["minutes"] <= 1.01
    assert record["config"]["epochs"] == 2
    assert tuned.metadata["training"] == base_bundle.metadata["training"]
    assert sum(record["windows_per_class"].values()) == record["windows"] > 0
    # The wearer's first minute is postures only (HAPT's protocol starts standing, sitting, lying).
    assert set(record["windows_per_class"]) == set(base_bundle.classes)
    assert record["windows_per_class"]["WALKING"] == 0

    # No UCI HAR: int8 is calibrated (and checked) on the base's training recordings and, since the
    # wearer's mounting is what the device will see, on the wearer's recordings too.
    export = edgehar("export", str(out), "--quant", "int8", "--accept-failed-checks")
    assert export.returncode == 0, export.stderr
    exported = Bundle.load(out)
    assert exported.tflite("int8").is_file()
    calibration = exported.metadata["exports"]["int8"]["calibration"]
    assert calibration["data"].endswith(f" + {wearer.resolve()}") and calibration["windows"] > 100


def test_finetune_refuses_recordings_without_any_of_the_bundles_classes(base_bundle, tmp_path):
    folder = tmp_path / "cycling"
    folder.mkdir()
    rows = ["t,ax,ay,az,gx,gy,gz,label"] + [f"{i / 50:.2f},1,0,0,0,0,0,cycling" for i in range(400)]
    (folder / "ride.csv").write_text("\n".join(rows) + "\n")
    line = one_error_line(edgehar("finetune", str(base_bundle.path), "--recordings", str(folder),
                                  "--out", str(tmp_path / "new")))
    assert "no sample is labelled with one of" in line and "cycling" in line and "WALKING" in line
    assert not (tmp_path / "new").exists()


def test_finetune_never_writes_over_a_folder_that_is_not_a_bundle(base_bundle, wearer, tmp_path):
    precious = tmp_path / "notes"
    precious.mkdir()
    (precious / "todo.txt").write_text("keep me")
    line = one_error_line(edgehar("finetune", str(base_bundle.path), "--recordings", str(wearer),
                                  "--out", str(precious), "--force"))
    assert "is not a model bundle" in line
    assert (precious / "todo.txt").read_text() == "keep me"


def test_finetune_keeps_a_base_that_already_labels_the_recordings_well(base_bundle, wearer, tmp_path):
    out = tmp_path / "kept"
    run = edgehar("finetune", str(base_bundle.path), "--recordings", str(wearer), "--out", str(out),
                  "--minutes", "1", "--keep-below-loss", "1000")
    assert run.returncode == 0, run.stderr
    assert "kept as it is" in run.stdout
    record = Bundle.load(out).metadata["finetune"]
    assert record["adapted"] is False and record["alignment"] is None
