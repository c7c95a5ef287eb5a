"""`edgehar export` end to end on a tiny real bundle and a small real data folder."""

from __future__ import annotations

import json
import shutil

from typer.testing import CliRunner

from edgehar.bundle import Bundle
from edgehar.cli import app
from edgehar.errors import ExportError
from edgehar.export.report import REPORT_FILE


def test_export_writes_variants_report_and_firmware(tiny_bundle, small_data, tmp_path):
    path = tmp_path / "tiny"
    shutil.copytree(tiny_bundle.path, path)
    (path / "model_float32.tflite").unlink()
    result = CliRunner().invoke(app, ["export", str(path), "--quant", "int8,float32", "--data",
                                      str(small_data), "--firmware", str(tmp_path / "fw")])
    assert result.exit_code == 0, result.output
    bundle = Bundle.load(path)
    assert {"float32", "int8"} <= set(bundle.metadata["exports"])
    assert bundle.tflite("float32").is_file()
    report = json.loads((path / REPORT_FILE).read_text())
    assert list(report["variants"]) == ["float32", "int8"]
    assert report["windows"] == len(range(0, 2947, 20))
    assert "int8_litert_tflm_agreement" in report["targets"]
    assert "int8" in result.output and "TFLM" in result.output
    assert (tmp_path / "fw" / "src" / "edgehar_params.h").is_file()
    arena = report["firmware"]["arena"]  # without TFLM sources only the reference is measured
    assert arena["reference"]["bytes"] > 0 and arena["cmsis-nn"]["estimated"]
    assert report["firmware"]["arena_size"] >= arena["cmsis-nn"]["bytes"] * 1.1 > arena["reference"]["bytes"]


def test_export_rejects_an_unknown_variant(tiny_bundle, small_data):
    result = CliRunner().invoke(app, ["export", str(tiny_bundle.path), "--quant", "int4",
                                      "--data", str(small_data)])
    assert isinstance(result.exception, ExportError)
    assert "int4" in str(result.exception)
