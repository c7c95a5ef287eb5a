"""int8 calibration data is found from the bundle, wherever `edgehar export` runs, and a missing
one is named."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from edgehar.bundle import Bundle
from edgehar.cli import app
from edgehar.data.recordings import hapt_windows
from edgehar.export.convert import calibration_windows, trained_hapt_folder
from edgehar.preprocess.pipeline import Pipeline

MODELS = Path(__file__).resolve().parent.parent / "models"
SHIPPED = (MODELS / "DEFAULT_MCU").read_text().strip()  # trained on HAPT recordings
RELATIVE = "../shared/data/hapt-raw/RawData"


def _clone_with_bundle(root: Path) -> Path:
    """root/clone/models/<the MCU default>, its training data recorded as the relative path older
    bundles hold (made in a clone beside ../shared)."""
    bundle = root / "clone" / "models" / SHIPPED
    shutil.copytree(MODELS / SHIPPED, bundle)
    meta = json.loads((bundle / "metadata.json").read_text())
    meta["training"]["data_source"] = RELATIVE
    (bundle / "metadata.json").write_text(json.dumps(meta))
    return bundle


def test_a_relative_source_is_found_from_the_bundle_not_the_current_folder(tmp_path, monkeypatch,
                                                                          hapt_raw, uci_train):
    path = _clone_with_bundle(tmp_path)
    (tmp_path / "shared").symlink_to(hapt_raw.parent.parent.parent)  # root/shared beside the clone
    elsewhere = tmp_path / "elsewhere" / "deeper"
    elsewhere.mkdir(parents=True)
    monkeypatch.chdir(elsewhere)
    bundle = Bundle.load(path)
    assert trained_hapt_folder(bundle) == (RELATIVE, (tmp_path / "shared/data/hapt-raw/RawData").resolve())
    windows = calibration_windows(bundle, uci_train)
    assert windows is not uci_train and windows.source == str(hapt_raw.resolve())


def test_a_missing_source_is_named_and_uci_har_used(tmp_path, monkeypatch, small_data):
    bundle = Bundle.load(_clone_with_bundle(tmp_path))
    recorded, found = trained_hapt_folder(bundle)
    assert recorded and found is None
    monkeypatch.chdir(MODELS.parent)  # where ../shared/data/hapt-raw/RawData does exist: not used
    run = CliRunner().invoke(app, ["export", str(bundle.path), "--quant", "int8", "--data", str(small_data),
                                   "--accept-failed-checks"])
    assert run.exit_code == 0, run.output
    assert (f"{recorded} (the HAPT recordings {bundle.name} was trained on, metadata.json "
            "training.data_source) is not on this machine: calibrating int8 on the UCI HAR training split "
            "instead") in " ".join(run.output.split())


def test_hapt_windows_record_their_folder_absolute(hapt_raw, monkeypatch):
    monkeypatch.chdir(hapt_raw.parent)
    windows = hapt_windows(Path("RawData"), Pipeline.preset("causal9"), experiments=[1])
    assert windows.source == str(hapt_raw.resolve())
