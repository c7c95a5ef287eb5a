"""What the commands show a person: a header over stream lines, progress for long work, and
benchmarks of whatever runtimes are there."""

from __future__ import annotations

import shutil

from typer.testing import CliRunner

from edgehar.bundle import Bundle
from edgehar.cli import app
from edgehar.export.bench import bench
from edgehar.runtime.stream import Result
from edgehar.scoring.validate import validate_test_split


def test_text_stream_lines_come_under_a_header():
    result = CliRunner().invoke(app, ["stream", "--source", "demo"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == Result.TEXT_HEADER and "label" in lines[0] and "latency" in lines[0]
    assert lines[1].strip().startswith("0.00-") and lines[1].endswith(" ms")
    jsonl = CliRunner().invoke(app, ["stream", "--source", "demo", "--jsonl"]).stdout.splitlines()
    assert jsonl[0].startswith("{")


def test_validate_reports_progress_segment_by_segment(tiny_bundle, uci_test):
    calls = []
    report = validate_test_split(tiny_bundle, uci_test.take(slice(0, 120)), "int8",
                                 progress=lambda done, total: calls.append((done, total)))
    assert calls == [(i, report["segments"]) for i in range(report["segments"])]


def test_bench_skips_a_runtime_it_cannot_run_with_a_note_and_reports_progress(tiny_bundle, tmp_path):
    bundle_dir = tmp_path / "no-keras"
    shutil.copytree(tiny_bundle.path, bundle_dir)
    (bundle_dir / "model.keras").unlink()
    calls = []
    report = bench(Bundle.load(bundle_dir), 2, progress=lambda done, total: calls.append((done, total)))
    assert [(r["variant"], r["runtime"]) for r in report["rows"]] == [
        ("float32", "litert"), ("float32", "tflm"), ("int8", "litert"), ("int8", "tflm")]
    assert report["skipped"] == {"keras": f"{bundle_dir} has no model.keras"}
    assert calls == [(i, 4) for i in range(4)]
    table = CliRunner().invoke(app, ["bench", str(bundle_dir), "--windows", "2"])
    assert table.exit_code == 0 and f"skipped keras: {bundle_dir} has no model.keras" in table.output
