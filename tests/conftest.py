"""Shared fixtures: real data from ../shared/data (or $EDGEHAR_TEST_DATA)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("EDGEHAR_TEST_DATA", REPO.parent / "shared" / "data"))
HOW_TO = ("the tests need the real UCI HAR data: put the shared data folder beside the repo "
          "(../shared/data) or set EDGEHAR_TEST_DATA to a folder holding uci-har/ and hapt-raw/; "
          "tools/make_test_data.py builds one from the official downloads (docs/data.md)")


def _need(path: Path) -> Path:
    if not path.exists():
        pytest.fail(f"{path} is missing: {HOW_TO}", pytrace=False)
    return path


@pytest.fixture(scope="session")
def uci_dir() -> Path:
    """Folder with uci_har_{train,test}.npz."""
    return _need(SHARED_DATA / "uci-har")


@pytest.fixture(scope="session")
def uci_original_sample() -> Path:
    """The first 40 windows of each split in the original text layout ('UCI HAR Dataset/')."""
    return _need(SHARED_DATA / "uci-har" / "original-sample" / "UCI HAR Dataset")


@pytest.fixture(scope="session")
def hapt_raw() -> Path:
    """HAPT RawData folder: acc_/gyro_expNN_userMM.txt.gz and labels.txt."""
    return _need(SHARED_DATA / "hapt-raw" / "RawData")


@pytest.fixture(scope="session")
def uci_train(uci_dir):
    from edgehar.data.uci import load_split

    return load_split(uci_dir, "train")


@pytest.fixture(scope="session")
def uci_test(uci_dir):
    from edgehar.data.uci import load_split

    return load_split(uci_dir, "test")


@pytest.fixture(scope="session")
def small_data(uci_train, uci_test, tmp_path_factory):
    """A data folder of uci_har_{train,test}.npz holding every 20th real window."""
    import numpy as np

    folder = tmp_path_factory.mktemp("data")
    for name, split in (("train", uci_train), ("test", uci_test)):
        part = split.take(slice(0, None, 20))
        np.savez(folder / f"uci_har_{name}.npz", X=part.X, y=part.y, subject=part.subject)
    return folder


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory, uci_train, uci_test):
    """A real, small bundle: LSTM(8) on the raw6 pipeline with fitted normalization,
    trained 2 epochs on a slice of the training split, exported to float32 and int8.

    Session-scoped and shared: tests must not modify it (copy it first if they must).
    """
    from edgehar.export.convert import export_variants
    from edgehar.model.train import TrainConfig, fit, write_bundle

    rows = slice(0, None, 8)  # every 8th window: all subjects and classes, ~900 windows
    train = uci_train.take(rows)
    config = TrainConfig("lstm", {"units": 8, "dense": 16}, epochs=2, pipeline="raw6", normalize=True)
    result = fit(config, train, uci_test.take(slice(0, None, 10)), progress=False)
    bundle = write_bundle(tmp_path_factory.mktemp("bundles") / "tiny", result, train)
    export_variants(bundle, train, ("float32", "int8"))
    from edgehar.bundle import Bundle

    return Bundle.load(bundle.path)


@pytest.fixture(scope="session")
def small_data(uci_train, uci_test, tmp_path_factory):
    """A data folder of uci_har_{train,test}.npz holding every 20th real window."""
    import numpy as np

    folder = tmp_path_factory.mktemp("data")
    for name, split in (("train", uci_train), ("test", uci_test)):
        part = split.take(slice(0, None, 20))
        np.savez(folder / f"uci_har_{name}.npz", X=part.X, y=part.y, subject=part.subject)
    return folder


@pytest.fixture(scope="module")
def own(tmp_path_factory, hapt_raw) -> Path:
    """One experiment of each of users 1, 3 and 5 as CSV recordings, one folder per user."""
    from edgehar.data.recordings import read_hapt_recordings, write_recording

    folder = tmp_path_factory.mktemp("own")
    for rec in read_hapt_recordings(hapt_raw, experiments=[1, 5, 9]):
        write_recording(rec, folder / f"user{rec.subject}" / f"exp{rec.session}.csv", device="HAPT phone")
    return folder


@pytest.fixture
def one_experiment(hapt_raw, tmp_path) -> Path:
    """A HAPT RawData folder holding experiment 1 (user 1) alone, with its labels."""
    import shutil

    raw = tmp_path / "raw"
    raw.mkdir()
    for path in hapt_raw.glob("*_exp01_user01.txt*"):
        shutil.copy(path, raw / path.name)
    rows = [line for line in (hapt_raw / "labels.txt").read_text().splitlines() if line.split()[0] == "1"]
    (raw / "labels.txt").write_text("\n".join(rows) + "\n")
    return raw
