"""What a newcomer meets in the first hour: output printed whole and as written, counts in
words that agree with them, subjects in numeric order, times without float noise, and no
TensorFlow log lines from `train`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from edgehar.cli import app
from edgehar.data.recordings import read_hapt_recordings, write_recording
from edgehar.scoring.confidence import mean_confidence, undertrained_warning

EDGEHAR = [sys.executable, "-m", "edgehar"]


def _recordings(hapt_raw, folder: Path, experiments) -> Path:
    for rec in read_hapt_recordings(hapt_raw, experiments=experiments):
        write_recording(rec, folder / f"user{rec.subject}-exp{rec.session}.csv")
    return folder


def test_train_prints_its_recordings_summary_on_one_line_in_the_singular(hapt_raw, tmp_path, capsys):
    from edgehar.cli.train import _recording_windows

    folder = _recordings(hapt_raw, tmp_path / "one", [1])
    _recording_windows(folder, None, None, 64, "raw6")
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("1 recording, ") and ", 1 subject, pipeline raw6; " in lines[0]
    assert lines[0].rstrip().endswith(tuple("0123456789")) and "LAYING " in lines[0]  # all of it on a line
    assert lines[1].startswith("validation: none held out (1 session; ")


def test_recording_subjects_are_listed_in_numeric_order(hapt_raw, tmp_path):
    from edgehar.data.recordings import ClassMap, read_recordings, recording_windows
    from edgehar.model.train import recordings_metadata
    from edgehar.preprocess.pipeline import Pipeline

    folder = _recordings(hapt_raw, tmp_path / "two", [9, 22])  # users 5 and 11
    recordings = read_recordings(folder)
    classes = ClassMap.of(recordings)
    windows = recording_windows(recordings, Pipeline.preset("raw6"), classes)
    assert recordings_metadata(folder, recordings, classes, windows, 64)["subjects"] == ["5", "11"]


def test_stream_times_carry_no_float_noise():
    run = CliRunner().invoke(app, ["stream", "--source", "demo", "--jsonl", "--smooth", "none"])
    rows = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    assert len(rows) == 224
    assert rows[1]["t_start"] == 1.28
    assert all(len(repr(r["t_start"])) <= 8 for r in rows), [r["t_start"] for r in rows][:5]


def test_table_titles_and_bracketed_paths_print_whole_at_a_narrow_terminal(uci_dir, tmp_path):
    data = tmp_path / "uci [copy] of the-test-split-with-a-long-name"
    data.mkdir()
    for split in ("train", "test"):
        with np.load(uci_dir / f"uci_har_{split}.npz") as z:
            np.savez(data / f"uci_har_{split}.npz", **{k: z[k][::50] for k in ("X", "y", "subject")})
    env = {**os.environ, "COLUMNS": "40"}
    run = subprocess.run([*EDGEHAR, "data", "info", "--data", str(data)], capture_output=True, text=True,
                         env=env, timeout=120)
    assert run.returncode == 0, run.stderr
    assert f"UCI HAR windows from {data}" in run.stdout.splitlines()


def test_the_bench_title_prints_whole_at_a_narrow_terminal():
    from edgehar.bundle import Bundle

    run = subprocess.run([*EDGEHAR, "bench", "--windows", "2"], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "COLUMNS": "30"})
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines()[0] == f"{Bundle.default().location}: 2 windows, batch 1, 1 thread"


def _edgehar(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*EDGEHAR, *args], capture_output=True, text=True, timeout=600,
                          env={k: v for k, v in os.environ.items() if k != "EDGEHAR_TF_LOGS"})


def test_train_prints_no_tensorflow_log_lines_and_a_one_epoch_model_is_flagged(tmp_path, small_data,
                                                                                hapt_raw):
    bundle = tmp_path / "one-epoch"
    run = _edgehar("train", "--data", str(small_data), "--model", "dscnn", "--params",
                   '{"filters": [8, 8], "kernel": 3}', "--epochs", "1", "--out", str(bundle))
    assert run.returncode == 0, run.stderr
    assert ">#1: " in run.stdout
    assert "E0000" not in run.stderr and "use_unbounded_threadpool" not in run.stderr, run.stderr
    assert "absl::InitializeLog" not in run.stderr
    warning = "warning: one-epoch's outputs are close to uniform (mean top probability 0."
    assert run.stderr.startswith(warning), run.stderr
    run = _edgehar("export", str(bundle), "--quant", "float32", "--data", str(small_data),
                   "--accept-failed-checks")
    assert run.returncode == 0 and warning in run.stderr, run.stderr
    run = _edgehar("decoder", str(bundle), "--hapt", str(hapt_raw))
    assert run.returncode == 0 and run.stderr.startswith(warning), run.stderr


def test_a_confident_model_is_not_flagged():
    sure = np.full((10, 6), 0.02)
    sure[:, 2] = 0.9
    assert undertrained_warning("m", mean_confidence(sure), 6) is None
    assert undertrained_warning("m", mean_confidence(np.full((10, 6), 1 / 6)), 6).startswith("warning: m's")
    assert undertrained_warning("m", None, 6) is None


def test_an_unknown_variant_is_answered_with_the_variants():
    run = subprocess.run([*EDGEHAR, "stream", "--source", "demo", "--variant", "bogus"], capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 2
    assert run.stderr.splitlines()[0].startswith(
        "error: no variant 'bogus': the variants are float32, float16, dynamic, int8 (")
    assert "edgehar export" not in run.stderr


def test_the_tools_the_docs_tell_users_to_run_are_executable():
    tools = Path(__file__).resolve().parent.parent / "tools"
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    for name in ("hapt_to_recordings.py", "make_test_data.py", "pi_emulated.sh"):
        assert os.access(tools / name, os.X_OK), name
    for name in ("hapt_to_recordings.py", "make_test_data.py"):
        assert (tools / name).read_text().startswith("#!/usr/bin/env python3\n"), name
        run = subprocess.run([str(tools / name), "--help"], capture_output=True, text=True, env=env,
                             timeout=60)
        assert run.returncode == 0 and run.stdout.startswith("usage: "), run.stderr


def test_the_license_is_an_spdx_expression():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((Path(__file__).resolve().parent.parent / "pyproject.toml").read_text())
    assert project["project"]["license"] == "Apache-2.0"  # a table is deprecated by setuptools
    assert any(r.startswith("setuptools>=") and int(r.split(">=")[1]) >= 77
               for r in project["build-system"]["requires"])  # the first setuptools that reads it
