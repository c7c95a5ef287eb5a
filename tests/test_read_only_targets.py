"""Every command that writes, pointed at a really read-only folder (a read-only mount, which binds
root, unlike chmod): one `error:` line naming the path asked for, a non-zero exit, and nothing
half-written left behind."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from mounts import need_mounts, read_only

SHIPPED = Path("models/dscnn9")


@pytest.fixture(autouse=True)
def _mounts():
    need_mounts()


def one_error(done: subprocess.CompletedProcess, path: Path, reason: str = "Read-only file system") -> str:
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-3000:]
    assert errors == [errors[0]] and str(path) in errors[0] and reason in errors[0], done.stderr[-3000:]
    assert ".tmp" not in errors[0], errors[0]  # the path asked for, never a temporary sibling
    return errors[0]


def contents(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def locked(tmp_path) -> Path:
    """A folder (mounted read-only by the commands) holding a copy of a shipped bundle."""
    folder = tmp_path / "locked"
    folder.mkdir()
    shutil.copytree(SHIPPED, folder / "b")
    return folder


def test_train_into_a_read_only_folder_is_one_line_naming_the_bundle(locked, small_data):
    before = contents(locked)
    done = read_only(locked, "train", "--data", str(small_data), "--model", "lstm", "--units", "8",
                     "--epochs", "1", "--out", str(locked / "new"))
    one_error(done, locked / "new")
    assert contents(locked) == before and sorted(p.name for p in locked.iterdir()) == ["b"]


def test_export_of_a_bundle_in_a_read_only_folder_is_one_line_and_the_bundle_is_unchanged(locked, small_data):
    before = contents(locked)
    done = read_only(locked, "export", str(locked / "b"), "--data", str(small_data), "--quant", "int8")
    one_error(done, locked / "b")
    assert contents(locked) == before and sorted(p.name for p in locked.iterdir()) == ["b"]


def test_decoder_into_a_read_only_bundle_is_one_line_naming_its_metadata(locked, one_experiment):
    before = contents(locked)
    done = read_only(locked, "decoder", str(locked / "b"), "--hapt", str(one_experiment))
    one_error(done, locked / "b" / "metadata.json")
    assert contents(locked) == before and sorted(p.name for p in (locked / "b").iterdir()) == sorted(
        p.name for p in SHIPPED.iterdir())


def test_finetune_into_a_read_only_folder_is_one_line_naming_the_new_bundle(locked, one_experiment):
    before = contents(locked)
    done = read_only(locked, "finetune", str(SHIPPED), "--recordings", str(one_experiment),
                     "--out", str(locked / "mine"), "--minutes", "1", "--epochs", "1", "--no-align")
    one_error(done, locked / "mine")
    assert contents(locked) == before and sorted(p.name for p in locked.iterdir()) == ["b"]


def test_evaluate_png_into_a_read_only_folder_is_one_line_naming_the_picture(locked, one_experiment):
    done = read_only(locked, "evaluate", str(SHIPPED), "--recordings", str(one_experiment),
                     "--png", str(locked / "confusion.png"))
    one_error(done, locked / "confusion.png")
    assert sorted(p.name for p in locked.iterdir()) == ["b"]


@pytest.mark.parametrize("sub", ["", "new"])
def test_record_into_a_read_only_folder_is_one_line_and_leaves_no_file(tmp_path, sub):
    folder = tmp_path / "locked"
    folder.mkdir()
    out = folder / sub if sub else folder
    samples = "t,ax,ay,az,gx,gy,gz\n" + "".join(f"{i / 50},1,0,0,0,0,0\n" for i in range(200))
    command = ["record", "--source", "csv:-", "--out", str(out), "--name", "r"]
    done = read_only(folder, *command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, err = done.communicate(samples, timeout=120)
    one_error(subprocess.CompletedProcess(command, done.returncode, "", err), out)
    assert list(folder.iterdir()) == []


def test_a_review_correction_in_a_read_only_folder_is_refused_naming_the_recording(tmp_path):
    folder = tmp_path / "locked"
    rows = "t,ax,ay,az,gx,gy,gz,label\n" + "".join(f"{i / 50:.2f},1,0,0,0,0,0,WALKING\n" for i in range(600))
    (tmp_path / "source.csv").write_text(rows)
    subprocess.run([sys.executable, "-m", "edgehar", "record", "--source", f"csv:{tmp_path / 'source.csv'}",
                    "--out", str(folder), "--name", "r"], check=True, capture_output=True,
                   stdin=subprocess.DEVNULL)
    before = contents(folder)
    server = read_only(folder, "review", str(folder), "--model", str(SHIPPED), "--http", "0",
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                       env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        lines = []
        for line in server.stderr:
            lines.append(line)
            if url := re.search(r"(http://\S+)", line):
                base = url[1].rstrip("/")
                break
        else:
            pytest.fail(f"review printed no URL: {''.join(lines)}")
        request = urllib.request.Request(f"{base}/api/label", json.dumps(
            {"name": "r.csv", "start": 0, "end": 5, "label": "SITTING"}).encode(), method="POST",
            headers={"Origin": base, "Content-Type": "application/json"})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=60)
        error = json.load(refused.value)["error"]
        assert refused.value.code == 507 and str(folder / "r.csv") in error, error
        assert "Read-only file system" in error and "unchanged" in error and ".tmp" not in error
        with urllib.request.urlopen(f"{base}/api/recording?name=r.csv", timeout=60) as answer:
            assert answer.status == 200  # the server carries on
    finally:
        server.terminate()
        _, err = server.communicate(timeout=30)
    assert "Traceback" not in err, err
    assert contents(folder) == before
