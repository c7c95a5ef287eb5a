"""A user's mistakes on the command line: one `error:` line (exit 2) saying what would work,
and never a lost bundle or folder."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from edgehar.bundle import Bundle
from edgehar.cli import app
from edgehar.errors import BundleError, OptionError
from edgehar.model.recipes import FAMILIES

TRAIN_TINY = ["--model", "lstm", "--units", "4", "--epochs", "1"]


def edgehar(*args: str, cwd=None) -> subprocess.CompletedProcess:
    """The real command, as a user runs it (the error line comes from its entry point)."""
    return subprocess.run([sys.executable, "-m", "edgehar", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


def one_error_line(run: subprocess.CompletedProcess) -> str:
    assert run.returncode == 2, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), run.stderr
    return lines[0]


def test_unknown_model_family_lists_the_families(small_data):
    line = one_error_line(edgehar("train", "--model", "foo", "--data", str(small_data)))
    assert "'foo'" in line and all(family in line for family in FAMILIES)


def test_train_help_lists_the_families():
    help_text = CliRunner().invoke(app, ["train", "--help"], terminal_width=200).output
    assert all(family in help_text for family in FAMILIES)


@pytest.mark.parametrize(("params", "expected"), [
    ('{"filters": 5}', "dscnn cannot be built with them"),
    ('{"filterz": [8, 16]}', "--params filterz: dscnn takes filters, kernel, strides, full_convs, dropout"),
    ('{"filters": ', "--params is not JSON"),
])
def test_bad_family_params_name_the_problem(small_data, tmp_path, params, expected):
    result = CliRunner().invoke(app, ["train", "--model", "dscnn", "--params", params,
                                      "--data", str(small_data), "--out", str(tmp_path / "new")])
    assert isinstance(result.exception, OptionError), result.output
    assert expected in str(result.exception)


def test_evaluate_names_the_variants_that_exist(tiny_bundle, small_data):
    result = CliRunner().invoke(app, ["evaluate", str(tiny_bundle.path), "--variant", "int4",
                                      "--data", str(small_data)])
    assert isinstance(result.exception, OptionError)
    message = str(result.exception)
    assert "'int4'" in message and "keras, float32, float16, dynamic, int8" in message


def test_train_never_replaces_a_folder_that_is_not_a_bundle(tmp_path, small_data):
    work = tmp_path / "my-work"
    work.mkdir()
    (work / "notes.txt").write_text("precious")
    for force in ([], ["--force"]):
        result = CliRunner().invoke(app, ["train", *TRAIN_TINY, "--data", str(small_data), "--out", str(work),
                                          *force])
        assert isinstance(result.exception, BundleError) and "not a model bundle" in str(result.exception)
        assert [p.name for p in work.iterdir()] == ["notes.txt"]


def test_train_replaces_a_bundle_only_with_force(tmp_path, small_data, tiny_bundle, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shipped = tmp_path / "models" / "lstm4"  # where `train` writes by default, from this folder
    shutil.copytree(tiny_bundle.path, shipped)
    before = sorted(p.name for p in shipped.iterdir())
    result = CliRunner().invoke(app, ["train", *TRAIN_TINY, "--data", str(small_data)])
    assert isinstance(result.exception, BundleError)
    assert "--force" in str(result.exception) and "models/lstm4" in str(result.exception)
    assert sorted(p.name for p in shipped.iterdir()) == before

    result = CliRunner().invoke(app, ["train", *TRAIN_TINY, "--data", str(small_data), "--force"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in shipped.iterdir()) == ["history.json", "metadata.json", "model.keras"]
    assert Bundle.load(shipped).metadata["model"]["params"]["units"] == 4
