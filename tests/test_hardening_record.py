"""`edgehar record` under hostile input and a failing disk: every good sample is kept, a write
error is one line with the recording marked as such and still readable, and a recording that
could not start leaves nothing that breaks reading the folder."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgehar.data.recordings import read_recording, read_recordings

RECORD = [sys.executable, "-m", "edgehar", "record"]


def lines_of(t) -> str:
    return "".join(f"{ti!r},1,0,0,0,0,0\n" for ti in t)


def record_stdin(out: Path, data: str, file_limit: int | None = None, *args: str):
    def limit():  # the file size limit binds root too (unlike a read-only folder)
        resource.setrlimit(resource.RLIMIT_FSIZE, (file_limit, file_limit))

    return subprocess.run([*RECORD, "--source", "csv:-", "--out", str(out), "--name", "r", *args],
                          input=data, capture_output=True, text=True, timeout=120,
                          preexec_fn=limit if file_limit is not None else None)


@pytest.mark.parametrize("stray", [1e17, 1.7e15, -5.0])
def test_a_stray_timestamp_drops_that_sample_alone_and_keeps_every_good_one(tmp_path, stray):
    t = [i / 50 for i in range(1000)] + [stray] + [i / 50 for i in range(1000, 2000)]
    done = record_stdin(tmp_path, lines_of(t))
    assert done.returncode == 0, done.stderr
    sidecar = json.loads((tmp_path / "r.json").read_text())
    assert sidecar["samples"] == 2000, sidecar
    expected = {"stray_timestamp": 1} if stray > 0 else {"t_not_increasing": 1}
    assert sidecar["dropped"] == expected
    np.testing.assert_array_equal(read_recording(tmp_path / "r.csv").t, np.arange(2000) / 50)


def test_two_stray_timestamps_in_a_row_are_both_dropped(tmp_path):
    t = [i / 50 for i in range(500)] + [1e9, 1e9 + 5] + [i / 50 for i in range(500, 1000)]
    done = record_stdin(tmp_path, lines_of(t))
    assert done.returncode == 0, done.stderr
    sidecar = json.loads((tmp_path / "r.json").read_text())
    assert sidecar["samples"] == 1000 and sidecar["dropped"] == {"stray_timestamp": 2}


def test_a_real_dropout_is_kept_as_a_gap_and_a_jump_as_the_last_sample_too(tmp_path):
    t = [i / 50 for i in range(100)] + [10 + i / 50 for i in range(100)] + [500.0]
    done = record_stdin(tmp_path, lines_of(t))
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "r.json").read_text())["samples"] == 201


def test_a_write_error_mid_recording_is_one_line_and_the_recording_stays_readable(tmp_path):
    done = record_stdin(tmp_path, lines_of([i / 50 for i in range(20000)]), file_limit=50_000)
    lines = done.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("error:")]
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert len(errors) == 1 and str(tmp_path / "r.csv") in errors[0] and "File too large" in errors[0]
    sidecar = json.loads((tmp_path / "r.json").read_text())
    assert sidecar["end"] == "error" and "r.csv" in sidecar["detail"]
    recording = read_recording(tmp_path / "r.csv")
    assert len(recording) == sidecar["samples"] > 500
    assert (tmp_path / "r.csv").read_bytes().endswith(b"\n")


def test_disk_full_at_the_start_is_one_line_and_leaves_no_file(tmp_path):
    done = record_stdin(tmp_path, lines_of([i / 50 for i in range(100)]), file_limit=0)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1 and lines[0].startswith("error:"), done.stderr
    assert "File too large" in lines[0] and os.listdir(tmp_path) == []


def test_an_empty_or_interrupted_recording_in_a_folder_is_skipped_with_a_note(tmp_path, capsys):
    good = record_stdin(tmp_path, lines_of([i / 50 for i in range(300)]))
    assert good.returncode == 0, good.stderr
    (tmp_path / "empty.csv").write_text("t,ax,ay,az,gx,gy,gz,label\n")
    (tmp_path / "empty.json").write_text(json.dumps({"format": "edgehar.recording/1",
                                                     "started": "2026-01-01T00:00:00+00:00"}))
    (tmp_path / "torn.csv").write_text("t,ax,ay,az,gx,gy,gz,label\n0.0,1,0,0,0,0,0,walk\n0.02,1,0")
    (tmp_path / "torn.json").write_text(json.dumps({"format": "edgehar.recording/1", "end": "error",
                                                    "started": "x", "ended": "y"}))
    recordings = read_recordings(tmp_path)
    assert [Path(r.name).name for r in recordings] == ["r.csv", "torn.csv"]
    assert len(recordings[1]) == 1
    assert "empty.csv" in capsys.readouterr().err
