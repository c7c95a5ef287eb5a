"""`edgehar export` reuses the choices recorded in the bundle, fails visibly, and talks plainly."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from edgehar.bundle import Bundle
from edgehar.cli.export import CHECKS_FAILED_EXIT

SHIPPED = Path(__file__).resolve().parent.parent / "models" / "dscnn9-mcu"


@pytest.fixture
def default_copy(tmp_path) -> Path:
    """The shipped per-tensor default as training left it plus its recorded exports."""
    copy = tmp_path / "dscnn9-mcu"
    copy.mkdir()
    for name in ("model.keras", "metadata.json"):
        shutil.copy2(SHIPPED / name, copy / name)
    return copy


def export(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edgehar", "export", *args], capture_output=True, text=True,
                          timeout=600)


def test_reexporting_the_default_reproduces_its_int8_file_and_exits_3_on_failed_checks(default_copy, uci_dir):
    assert Bundle.load(SHIPPED).metadata["exports"]["int8"]["per_channel"] is False
    run = export(str(default_copy), "--quant", "int8", "--data", str(uci_dir))
    # Its shipped seed fails two reference checks (README): the files are written, the exit says so.
    assert run.returncode == CHECKS_FAILED_EXIT, run.stdout + run.stderr
    # Per tensor again, as recorded: the shipped size (per channel it would be 25,392 B).
    assert (default_copy / "model_int8.tflite").stat().st_size == 18_072
    assert Bundle.load(default_copy).metadata["exports"]["int8"]["per_channel"] is False
    report = json.loads((default_copy / "export_report.json").read_text())
    failed = [name for name, target in report["targets"].items() if not target["pass"]]
    assert failed and all(name in run.stdout for name in failed)
    assert "FAIL" in run.stdout and "--accept-failed-checks" in run.stdout
    assert "…" not in run.stdout  # the report table is whole, though piped
    assert run.stderr == "", run.stderr  # no TensorFlow log lines

    accepted = export(str(default_copy), "--quant", "int8", "--data", str(uci_dir), "--accept-failed-checks")
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    assert "FAIL" in accepted.stdout
