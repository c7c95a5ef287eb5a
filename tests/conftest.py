"""Shared fixtures: real data from ../shared/data (or $EDGEHAR_TEST_DATA)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("EDGEHAR_TEST_DATA", REPO.parent / "shared" / "data"))
HOW_TO = ("the tests need the real UCI HAR data: put the shared data folder beside the repo "
          "(../shared/data) or set EDGEHAR_TEST_DATA to a folder holding uci-har/ and hapt-raw/")


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
