"""`edgehar bench` on a tiny real exported bundle: every runtime measured in its own process."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from edgehar.cli import app
from edgehar.errors import BundleError


def test_bench_json_has_every_runtime_and_runtime_only_children(tiny_bundle):
    result = CliRunner().invoke(app, ["bench", str(tiny_bundle.path), "--json", "--windows", "5"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    rows = {(row["variant"], row["runtime"]): row for row in report["rows"]}
    assert set(rows) == {("keras", "keras"), ("float32", "litert"), ("int8", "litert"),
                         ("float32", "tflm"), ("int8", "tflm")}
    for (_, runtime), row in rows.items():
        assert 0 < row["p50_ms"] <= row["p99_ms"]
        assert row["peak_rss_kib"] > 0 and row["model_bytes"] > 0
        assert row["tensorflow_loaded"] == (runtime == "keras")
        assert (row["arena_bytes"] is not None) == (runtime == "tflm")
    assert rows[("int8", "litert")]["model_bytes"] == tiny_bundle.tflite("int8").stat().st_size
    # A runtime-only process needs far less memory than one that loaded TensorFlow.
    assert rows[("int8", "litert")]["peak_rss_kib"] < rows[("keras", "keras")]["peak_rss_kib"] / 2


def test_bench_table(tiny_bundle):
    result = CliRunner().invoke(app, ["bench", str(tiny_bundle.path), "--windows", "3"])
    assert result.exit_code == 0, result.output
    assert "tflm" in result.output and "p99 ms" in result.output


def test_bench_needs_an_export(tiny_bundle, tmp_path):
    (tmp_path / "bare").mkdir()
    for name in ("model.keras", "metadata.json"):
        (tmp_path / "bare" / name).write_bytes((tiny_bundle.path / name).read_bytes())
    result = CliRunner().invoke(app, ["bench", str(tmp_path / "bare"), "--json"])
    assert isinstance(result.exception, BundleError)
    assert "edgehar export" in str(result.exception)
