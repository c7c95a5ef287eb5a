"""Bounded, regular-file-only reads: a FIFO, a /dev/zero symlink, a decompression bomb, a
deeply nested or huge-integer JSON, or wrong types in a bundle or recording folder are one
clear error, never a hang, a traceback or exhausted memory."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
import zlib

import pytest

from edgehar.bundle import Bundle
from edgehar.data.recordings import read_recordings
from edgehar.data.text import read_bytes
from edgehar.errors import BundleError, DataError
from edgehar.metadata import seal

DEFAULT = "models/dscnn9"
GOOD = "t,ax,ay,az,gx,gy,gz,label\n" + "".join(f"{i / 50!r},1,0,0,0,0,0,WALKING\n" for i in range(300))


def edgehar(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edgehar", *args], capture_output=True, text=True,
                          timeout=120)


def one_error_line(run: subprocess.CompletedProcess, says: str) -> None:
    lines = run.stderr.strip().splitlines()
    assert run.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: "), run.stderr[-2000:]
    assert says in lines[0], lines[0]


@pytest.mark.parametrize("kind", ["fifo", "dev_zero", "fifo_sidecar"])
def test_a_fifo_or_a_device_in_a_recordings_folder_is_refused_at_once(tmp_path, kind):
    (tmp_path / "good.csv").write_text(GOOD)
    bad = tmp_path / ("x.json" if kind == "fifo_sidecar" else "x.csv")
    if kind == "fifo_sidecar":
        (tmp_path / "x.csv").write_text(GOOD)
    if kind == "dev_zero":
        bad.symlink_to("/dev/zero")
    else:
        os.mkfifo(bad)
    with pytest.raises(DataError, match=rf"{bad}: (a FIFO|a device), not a regular file"):
        read_recordings(tmp_path)
    one_error_line(edgehar("evaluate", DEFAULT, "--recordings", str(tmp_path)), "not a regular file")


def test_a_decompression_bomb_is_read_no_further_than_the_cap(tmp_path):
    bomb = tmp_path / "bomb.csv.gz"
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    with open(bomb, "wb") as f:
        f.write(packer.compress(b"0,0,0,0,0,0,0\n" * (1 << 20)))  # 14 MiB of rows, 15 KiB packed
        f.write(packer.flush())
    assert bomb.stat().st_size < 100_000
    with pytest.raises(DataError, match=r"bomb\.csv\.gz: larger than 1,048,576 bytes decompressed"):
        read_bytes(bomb, limit=1 << 20)
    assert len(read_bytes(bomb, limit=20 << 20)) == 14 << 20
    (tmp_path / "torn.csv.gz").write_bytes(gzip.compress(GOOD.encode())[:-30])
    with pytest.raises(DataError, match="torn.csv.gz: not a readable gzip file"):
        read_bytes(tmp_path / "torn.csv.gz")


@pytest.mark.parametrize(("content", "says"), [
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ('{"subject": ' + "9" * 5000 + "}", "invalid JSON"),
    ("{" + " " * (2 << 20) + "}", "larger than 1,048,576 bytes"),
], ids=["deep", "huge_int", "too_big"])
def test_a_hostile_sidecar_is_one_error_line(tmp_path, content, says):
    (tmp_path / "r.csv").write_text(GOOD)
    (tmp_path / "r.json").write_text(content)
    with pytest.raises(DataError, match=says):
        read_recordings(tmp_path)
    one_error_line(edgehar("evaluate", DEFAULT, "--recordings", str(tmp_path)), says)


def bundle_with(tmp_path, **changes):
    path = tmp_path / "b"
    shutil.copytree(DEFAULT, path)
    text = json.dumps(seal({**json.loads((path / "metadata.json").read_text()), **changes}))
    (path / "metadata.json").write_text(text)
    return path


@pytest.mark.parametrize(("changes", "says"), [
    ({"smoothing": 5}, r"field smoothing: Expected `str \| null`, got `int` \(found 5\)"),
    ({"sample_limits": {"acc_g": "x"}}, "field sample_limits.acc_g"),
    ({"sample_limits": {"acc_g": 1e300}}, "field sample_limits.acc_g: Expected `float` <= 1000"),
    ({"decoder": [1]}, r"field decoder: Expected `object \| null`, got `array` \(found \[1\]\)"),
    ({"decoder": {"emission_weight": float("inf"), "floor": 1e-4}}, "field decoder.emission_weight"),
    ({"decoder": {"emission_weight": 1e-320, "floor": 1e-4}}, "field decoder.emission_weight"),
])
def test_wrong_types_and_absurd_values_in_metadata_are_one_bundle_error(tmp_path, changes, says):
    with pytest.raises(BundleError, match=says):
        Bundle.load(bundle_with(tmp_path, **changes))


def test_a_5000_digit_integer_in_metadata_is_one_error_line(tmp_path):
    path = bundle_with(tmp_path)
    text = (path / "metadata.json").read_text().replace('"window": 128', '"window": ' + "9" * 5000)
    (path / "metadata.json").write_text(text)
    with pytest.raises(BundleError, match="metadata.json: invalid JSON"):
        Bundle.load(path)
    one_error_line(edgehar("stream", "--model", str(path), "--source", "demo"), "invalid JSON")


@pytest.mark.parametrize("kind", ["fifo", "dev_zero"])
def test_a_fifo_or_a_device_in_a_bundle_is_refused_at_once(tmp_path, kind):
    path = bundle_with(tmp_path)
    (path / "model_int8.tflite").unlink()
    if kind == "fifo":
        os.mkfifo(path / "model_int8.tflite")
    else:
        (path / "model_int8.tflite").symlink_to("/dev/zero")
    with pytest.raises(BundleError, match=r"model_int8\.tflite: (a FIFO|a device), not a regular file"):
        Bundle.load(path)
