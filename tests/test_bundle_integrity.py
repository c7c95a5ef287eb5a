"""Tampered or damaged bundles end in one clear BundleError naming the file and field, never a
traceback or silent nonsense: the metadata schema, the artifacts' SHA-256, the CLI's exit 2."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgehar.bundle import Bundle, models_dir, sha256_of
from edgehar.errors import BundleError
from edgehar.runtime.interpreter import TFLiteClassifier
from edgehar.runtime.stream import Streamer

SHIPPED = "dscnn9-mcu"


@pytest.fixture(scope="module")
def shipped_copy(tmp_path_factory):
    """A copy of a shipped bundle's metadata and artifacts (not its firmware or reports)."""
    path = tmp_path_factory.mktemp("bundles") / SHIPPED
    path.mkdir()
    source = models_dir() / SHIPPED
    for name in ("metadata.json", "model.keras", "model_int8.tflite", "model_float32.tflite"):
        shutil.copy(source / name, path / name)
    return path


@pytest.fixture
def bundle(shipped_copy, tmp_path):
    path = tmp_path / SHIPPED
    shutil.copytree(shipped_copy, path)
    return path


def metadata(path) -> dict:
    return json.loads((path / "metadata.json").read_text())


def write_metadata(path, meta) -> None:
    (path / "metadata.json").write_text(json.dumps(meta))


def test_every_shipped_bundle_passes_the_schema_and_its_checksums():
    for name in ("cnn", "dscnn", "dscnn9", "dscnn9-mcu", "lstm100"):
        bundle = Bundle.load(models_dir() / name)
        assert set(bundle.checksums) == {"model.keras", "model_float32.tflite", "model_float16.tflite",
                                         "model_dynamic.tflite", "model_int8.tflite"}


def _set(meta, dotted, value):
    *parents, last = dotted.split(".")
    node = meta
    for key in parents:
        node = node[key]
    if value is _DELETE:
        del node[last]
    else:
        node[last] = value


_DELETE = object()
NAN = float("nan")


@pytest.mark.parametrize(("field", "value", "message"), [
    ("window", 64, "field model.input_shape"),
    ("window", 1e12, "field window: Expected `int`, got `float` (found 1000000000000.0)"),
    ("window", 10**12, "field window: Expected `int` <= 4096"),
    ("classes", _DELETE, "field classes: missing"),
    ("pipeline", _DELETE, "field pipeline: missing"),
    ("classes", ["A", "B", "C"], "output.shape: [1, 6] is not [1, classes]"),
    ("classes", [f"C{k}" for k in range(9)], "the 9 classes"),
    ("classes", ["A", "A", "B", "C", "D", "E"], "field classes: names repeat"),
    ("pipeline.surprise", 1, "field pipeline.surprise: not a field of the schema (found 1)"),
    ("sample_rate_hz", 0, "field sample_rate_hz: Expected `float` > 0"),
    ("pipeline.sample_rate_hz", 25.0, "field pipeline.sample_rate_hz"),
    ("pipeline.mean", [NAN] * 9, "field pipeline.mean.0: not a finite number (found nan)"),
    ("pipeline.std", [0.0] * 9, "field pipeline.std.0: Expected `float` >= 1e-06"),
    ("pipeline.std", [1.0] * 6, "field pipeline.std: 6 values for 9 channels"),
    ("pipeline.channels", ["total_acc_x"], "field pipeline.mean: 9 values for 1 channels"),
    ("pipeline.channels", ["nope"] * 9, "field pipeline: unknown channels"),
    ("pipeline.gravity_cutoff_hz", 5.0, "field pipeline: gravity_design is not"),
    ("hop", 64.7, "field hop: Expected `int`, got `float` (found 64.7)"),
    ("hop", 129, "field hop: 129 is larger than the window"),
    ("hop", True, "field hop: Expected `int`, got `bool` (found True)"),
    ("name", "x */\n#error injected", "field name: Expected `str` matching regex"),
    ("name", "a name\n", "field name: Expected `str` matching regex"),  # $ would let a final newline by
    ("exports.int8.input.dtype", "int4", "field exports.int8.input.dtype: Invalid enum value 'int4'"),
    ("exports.int8.file", "../../etc/passwd", "field exports.int8.file"),
    ("exports.int8.input.scale", 0.0, "field exports.int8.input.scale"),
    ("sha256.model_int8.tflite", _DELETE, "field sha256: no checksum for model_int8.tflite"),
])
def test_a_tampered_field_is_one_error_naming_file_and_field(bundle, field, value, message):
    meta = metadata(bundle)
    if field.startswith("sha256."):
        del meta["sha256"][field.removeprefix("sha256.")]
    else:
        _set(meta, field, value)
    write_metadata(bundle, meta)
    with pytest.raises(BundleError) as err:
        Bundle.load(bundle)
    text = str(err.value)
    assert text.startswith(str(bundle)) and message in text and "\n" not in text


@pytest.mark.parametrize(("content", "message"), [
    (b"[1, 2, 3]", "a JSON object is needed, not list"),
    (b'{"schema": "edgehar.bundle/1", "name": "\xff\xfe"}', "not UTF-8 text"),
    (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    (b"", "invalid JSON at line 1"),
    (b'{"schema": "other/9"}', "field schema: 'other/9' is not 'edgehar.bundle/1'"),
])
def test_metadata_that_is_not_a_json_object_of_the_schema_is_one_clear_error(bundle, content, message):
    (bundle / "metadata.json").write_bytes(content)
    with pytest.raises(BundleError, match="metadata.json: ") as err:
        Bundle.load(bundle)
    assert message in str(err.value) and "\n" not in str(err.value)


def _flip(data: bytes, count: int, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    out = bytearray(data)
    for i in rng.choice(len(data), count, replace=False):
        out[i] ^= 0xFF
    return bytes(out)


@pytest.mark.parametrize("damage", ["flip64", "truncate", "empty", "random", "append"])
def test_a_damaged_tflite_is_refused_by_its_checksum(bundle, damage):
    path = bundle / "model_int8.tflite"
    data = path.read_bytes()
    path.write_bytes({"flip64": lambda: _flip(data, 64, 0), "truncate": lambda: data[: len(data) // 2],
                      "empty": lambda: b"", "random": lambda: os.urandom(len(data)),
                      "append": lambda: data + b"\0"}[damage]())
    with pytest.raises(BundleError, match=r"model_int8.tflite: damaged or modified: .*sha256.model_int8"):
        Bundle.load(bundle)


def test_a_file_replaced_after_loading_is_refused_when_it_is_used(bundle):
    loaded = Bundle.load(bundle)
    (bundle / "model_int8.tflite").write_bytes(b"TFL3" * 100)
    with pytest.raises(BundleError, match="damaged or modified"):
        loaded.tflite("int8")


@pytest.mark.parametrize("data", [b"", b"TFL3" + bytes(60), os.urandom(4096)])
def test_a_tflite_that_is_no_model_is_a_clear_error_not_a_traceback(data):
    with pytest.raises(BundleError, match="not a TFLite model"):
        TFLiteClassifier(data)


def test_an_artifact_without_a_recorded_checksum_is_refused(bundle):
    shutil.copy(bundle / "model_int8.tflite", bundle / "model_extra.tflite")
    with pytest.raises(BundleError, match="field sha256: no checksum for model_extra.tflite"):
        Bundle.load(bundle)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children,
                                                                      max_size=4),
    max_leaves=12)


def _paths(node, prefix=()):
    """Every key path into a JSON document."""
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, (*prefix, index))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_edit_of_the_metadata_loads_soundly_or_is_one_bundle_error(shipped_copy, data):
    meta = metadata(shipped_copy)
    paths = [p for p in _paths(meta) if p and p[0] != "sha256"]
    path = data.draw(st.sampled_from(paths))
    node = meta
    for key in path[:-1]:
        node = node[key]
    if data.draw(st.booleans()):
        node[path[-1]] = data.draw(json_values)
    elif isinstance(node, dict):
        del node[path[-1]]
    else:
        node.pop(path[-1])
    target = shipped_copy / "metadata.json"
    original = target.read_bytes()
    try:
        target.write_text(json.dumps(meta))
        try:
            bundle = Bundle.load(shipped_copy)
        except BundleError as err:
            assert str(err).startswith(str(target)) and "\n" not in str(err)
            return
        # loaded: then it is sound enough to stream a window of real-looking samples
        streamer = Streamer(TFLiteClassifier(bundle.tflite("int8")), bundle.pipeline, bundle.classes,
                            window=bundle.window, hop=bundle.hop)
        assert streamer.classifier.input_shape == (1, bundle.window, len(bundle.pipeline.channels))
    finally:
        target.write_bytes(original)


def test_the_cli_prints_one_error_line_and_exits_2_for_a_damaged_bundle(bundle):
    (bundle / "model_int8.tflite").write_bytes(_flip((bundle / "model_int8.tflite").read_bytes(), 64, 1))
    done = subprocess.run([sys.executable, "-m", "edgehar", "stream", "--source", "demo", "--model",
                           str(bundle), "--variant", "int8"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "model_int8.tflite" in lines[0]
    assert "Traceback" not in done.stderr and done.stdout == ""


def test_checksums_are_those_of_the_files(bundle):
    assert Bundle.load(bundle).checksums["model_int8.tflite"] == sha256_of(bundle / "model_int8.tflite")
