"""A firmware package never silently keeps an old model: `edgehar export B --firmware B/firmware`,
then `edgehar export B --per-tensor` (a new int8 model) regenerates the package, says so, and
export_report.json keeps a firmware section about the model there is now."""

from __future__ import annotations

import json
import re
import shutil

from typer.testing import CliRunner

from edgehar.bundle import Bundle
from edgehar.checksum import sha256_of
from edgehar.cli import app
from edgehar.export.firmware import record_firmware, write_firmware
from edgehar.export.report import REPORT_FILE


def model_array(package) -> bytes:
    source = (package / "src" / "model_data.cpp").read_text()
    body = source[source.index("g_model_data[] = {"):source.index("};")]
    return bytes(int(b, 16) for b in re.findall(r"0x([0-9a-f]{2})", body))


def export(*args: str):
    result = CliRunner().invoke(app, ["export", *args, "--quant", "int8", "--accept-failed-checks"])
    assert result.exit_code == 0, result.output
    return result


def test_a_new_int8_model_regenerates_the_package_an_earlier_export_wrote(tiny_bundle, small_data, tmp_path):
    path = tmp_path / "tiny"
    shutil.copytree(tiny_bundle.path, path)
    export(str(path), "--data", str(small_data), "--firmware", str(path / "firmware"), "--per-channel")
    first = (path / "model_int8.tflite").read_bytes()
    assert model_array(path / "firmware") == first
    record_firmware(Bundle.load(path), {"cortex_m4": {"flash_bytes": 1}})  # as tools/cortex_m4_qemu.py does

    result = export(str(path), "--data", str(small_data), "--per-tensor")
    second = (path / "model_int8.tflite").read_bytes()
    assert second != first and model_array(path / "firmware") == second
    assert f"wrote firmware package {path / 'firmware'} (regenerated" in "".join(result.output.splitlines())
    firmware = json.loads((path / REPORT_FILE).read_text())["firmware"]
    assert firmware["folder"] == "firmware"
    assert firmware["model_sha256"] == sha256_of(path / "model_int8.tflite")
    assert "cortex_m4" not in firmware  # measured on the old model: gone, not kept as if it held

    record_firmware(Bundle.load(path), {"cortex_m4": {"flash_bytes": 2}})
    write_firmware(Bundle.load(path), path / "firmware")  # the same model again: its figures hold
    firmware = json.loads((path / REPORT_FILE).read_text())["firmware"]
    assert firmware["cortex_m4"] == {"flash_bytes": 2} and model_array(path / "firmware") == second
