"""Crash-safe writes: whatever write step `train` or `export` dies at, a reader sees the old
bundle or the new one, complete, and no leftovers; what is written honours the umask.

Each write step under the bundles' folder is intercepted (tests/write_steps.py) and the folder
copied there: the copy is what a kill -9 at that step leaves on disk. One export is also
really SIGKILLed in the middle of its switch.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner
from write_steps import install

from edgehar import atomic
from edgehar.bundle import Bundle
from edgehar.cli import app
from edgehar.errors import BundleError
from edgehar.model.train import TrainConfig, fit, write_bundle

HERE = Path(__file__).resolve().parent


def contents(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def crash_snapshots(root: Path, action, shots: Path) -> list[tuple[Path, str]]:
    """Run ``action``, copying ``root`` before every write step under it and once after."""
    steps = []

    def snapshot(n: int, what: str) -> None:
        shutil.copytree(root, shots / f"{n:04d}")
        steps.append((shots / f"{n:04d}", what))

    uninstall = install(root, snapshot)
    try:
        action()
    finally:
        uninstall()
    shutil.copytree(root, shots / "done")
    return [*steps, (shots / "done", "done")]


def assert_old_or_new(steps, name: str, old: dict, new: dict) -> None:
    seen = []
    for shot, what in steps:
        bundle = Bundle.load(shot / name)  # recovers, checks the schema and every checksum
        state = contents(bundle.path)
        assert state in (old, new), f"a crash before {what} leaves a mixed bundle"
        assert sorted(os.listdir(shot)) == [name], f"a crash before {what} leaves {os.listdir(shot)}"
        seen.append("old" if state == old else "new")
    assert seen[0] == "old" and seen[-1] == "new" and seen == sorted(seen, key=["old", "new"].index)


@pytest.fixture
def bundles(tiny_bundle, tmp_path):
    root = tmp_path / "models"
    root.mkdir()
    shutil.copytree(tiny_bundle.path, root / "tiny")
    return root


def test_a_crash_at_any_write_step_of_train_leaves_the_old_or_the_new_bundle(bundles, uci_train, tmp_path):
    result = fit(TrainConfig("lstm", {"units": 4, "dense": 8}, epochs=1, pipeline="raw6", normalize=True),
                 uci_train.take(slice(0, None, 40)), progress=False)
    old = contents(bundles / "tiny")
    steps = crash_snapshots(bundles, lambda: write_bundle(bundles / "tiny", result, uci_train.take([0]),
                                                          force=True),
                            tmp_path / "shots")
    assert len(steps) > 10
    assert_old_or_new(steps, "tiny", old, contents(bundles / "tiny"))


def test_a_crash_at_any_write_step_of_export_leaves_the_old_or_the_new_bundle(bundles, small_data, tmp_path):
    old = contents(bundles / "tiny")
    command = ["export", str(bundles / "tiny"), "--quant", "float32", "--data", str(small_data),
               "--firmware", str(bundles / "tiny" / "firmware")]
    steps = crash_snapshots(bundles, lambda: CliRunner().invoke(app, command, catch_exceptions=False),
                            tmp_path / "shots")
    new = contents(bundles / "tiny")
    assert "export_report.json" in new and "firmware/src/edgehar_params.h" in new and new != old
    assert_old_or_new(steps, "tiny", old, new)


def test_export_killed_between_the_renames_of_its_switch_is_rolled_forward(bundles, small_data):
    """The one moment the bundle's own folder is absent: a real SIGKILL there."""
    command = ["edgehar", "export", str(bundles / "tiny"), "--quant", "float32", "--data", str(small_data)]
    old = contents(bundles / "tiny")
    parked = f"replace {bundles / 'tiny'}"  # the bundle moves to .tiny.old, .tiny.new is not in yet
    killed = subprocess.run([sys.executable, str(HERE / "write_steps.py"), str(bundles), parked, *command],
                            capture_output=True, text=True, timeout=300)
    assert killed.returncode == -9, killed.stderr
    assert not (bundles / "tiny").exists() and (bundles / ".tiny.new").is_dir()
    bundle = Bundle.load(bundles / "tiny")
    assert os.listdir(bundles) == ["tiny"]
    assert set(contents(bundle.path)) == set(old) | {"export_report.json"}  # the new bundle, checked


def test_a_dead_writers_temporary_folder_is_removed_and_a_live_ones_kept(tmp_path):
    target = tmp_path / "bundle"
    dead = tmp_path / ".bundle.abc123.tmp"
    dead.mkdir()
    (dead / "model.keras").write_bytes(b"half")
    with atomic.folder(target) as live:
        (live / "metadata.json").write_text("{}")
        atomic.recover(target)  # another process opening the bundle meanwhile
        assert live.is_dir() and not dead.exists()
    assert sorted(os.listdir(tmp_path)) == ["bundle"]


@pytest.mark.parametrize("mask", [0o022, 0o002, 0o077])
def test_written_files_and_folders_honour_the_umask(tmp_path, mask):
    old = os.umask(mask)
    try:
        atomic.write_bytes(tmp_path / "file.bin", b"x")
        with atomic.folder(tmp_path / "folder") as tmp:
            atomic.write_bytes(tmp / "inner.bin", b"y")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "file.bin").stat().st_mode) == 0o666 & ~mask
    assert stat.S_IMODE((tmp_path / "folder").stat().st_mode) == 0o777 & ~mask
    assert stat.S_IMODE((tmp_path / "folder" / "inner.bin").stat().st_mode) == 0o666 & ~mask


@pytest.mark.parametrize("out", [".", "..", "", "notes"])
def test_train_refuses_an_out_folder_it_would_destroy_before_training(tmp_path, out, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "mine.txt").write_text("mine")
    result = CliRunner().invoke(app, ["train", "--out", out, "--data", str(tmp_path / "no-data")])
    assert isinstance(result.exception, BundleError), result.output
    assert "--out" in str(result.exception) or "not a model bundle" in str(result.exception)
    assert (tmp_path / "notes" / "mine.txt").read_text() == "mine"
