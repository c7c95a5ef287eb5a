"""`edgehar data info` in-process and as a real subprocess; where data is looked for."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from edgehar.cli import app
from edgehar.data.locate import ARCHIVE_NAME, resolve_data
from edgehar.errors import DataError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """A private cache and an empty user data folder; no EDGEHAR_DATA from the caller."""
    monkeypatch.setenv("EDGEHAR_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("EDGEHAR_DATA", raising=False)
    monkeypatch.setenv("COLUMNS", "200")  # rich tables at full width


def test_info_shows_shapes_and_counts(uci_original_sample):
    result = CliRunner().invoke(app, ["data", "info", "--data", str(uci_original_sample)])
    assert result.exit_code == 0, result.output
    assert result.output.count("(40, 128, 9) float32") == 2
    assert "Windows per subject" in result.output
    assert "│ 1       │ train │ 40      │" in result.output


def test_info_reads_edgehar_data(uci_dir, monkeypatch):
    monkeypatch.setenv("EDGEHAR_DATA", str(uci_dir))
    result = CliRunner().invoke(app, ["data", "info"])
    assert result.exit_code == 0, result.output
    assert "(7352, 128, 9)" in result.output and "(2947, 128, 9)" in result.output


def test_bad_data_exits_2_with_one_line(tmp_path, uci_original_sample):
    bad = shutil.copytree(uci_original_sample, tmp_path / "UCI HAR Dataset")
    (bad / "test" / "subject_test.txt").write_text("2\n" * 39 + "0\n")
    result = subprocess.run([sys.executable, "-m", "edgehar", "data", "info", "--data", str(bad)],
                            cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr == (f"error: {bad}/test/subject_test.txt, line 40: "
                             "subject 0 is not an integer in 1..30\n")


def test_resolve_data_order(tmp_path, monkeypatch, uci_dir):
    with pytest.raises(DataError, match="--data PATH .* set EDGEHAR_DATA, or run `edgehar data fetch`"):
        resolve_data(None)
    fetched = tmp_path / "xdg" / "edgehar" / ARCHIVE_NAME
    fetched.parent.mkdir(parents=True)
    fetched.write_bytes(b"")
    assert resolve_data(None) == fetched
    monkeypatch.setenv("EDGEHAR_DATA", str(uci_dir))
    assert resolve_data(None) == uci_dir
    assert resolve_data(tmp_path) == tmp_path
    with pytest.raises(DataError, match="does not exist"):
        resolve_data(tmp_path / "nowhere")
