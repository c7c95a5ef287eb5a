"""`export` and `train` on a really full disk (a small tmpfs, in their own process): one `error:`
line naming the bundle, exit 2, no torn or temporary file, and the bundle that was there intact."""

from __future__ import annotations

import subprocess
import sys

import pytest
from mounts import full_disk, need_mounts, tmpfs_kib
from test_read_only_targets import contents, one_error

from edgehar.bundle import Bundle

FULL = "No space left on device"


@pytest.fixture(scope="module")
def trained(tmp_path_factory, small_data):
    """A tiny bundle as `train` writes it (LSTM(8), one epoch on every 20th window), not exported."""
    need_mounts()
    folder = tmp_path_factory.mktemp("trained")
    done = subprocess.run([sys.executable, "-m", "edgehar", "train", "--data", str(small_data), "--model",
                           "lstm", "--units", "8", "--epochs", "1", "--out", str(folder / "b")],
                          capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    return folder


def assert_untouched(after, seed):
    assert sorted(p.name for p in after.iterdir()) == ["b"], list(after.iterdir())  # no leftovers
    assert contents(after) == contents(seed)
    assert Bundle.load(after / "b").classes  # loads: schema and checksums hold


@pytest.mark.parametrize("room", ["none", "a copy of the bundle"])
def test_export_on_a_full_disk_is_one_line_and_the_bundle_is_intact(trained, small_data, tmp_path, room):
    # "a copy of the bundle": export's working copy fits, the new .tflite files and report do not
    free = 16 if room == "none" else tmpfs_kib(trained) + 8
    disk = tmp_path / "disk"
    done = full_disk(disk, trained, tmp_path / "after", free, "export", str(disk / "b"),
                     "--data", str(small_data), "--quant", "float32,int8")
    one_error(done, disk / "b", FULL)
    assert_untouched(tmp_path / "after", trained)


def test_train_over_a_bundle_on_a_full_disk_is_one_line_and_the_old_bundle_is_intact(trained, small_data,
                                                                                     tmp_path):
    disk = tmp_path / "disk"
    done = full_disk(disk, trained, tmp_path / "after", 32, "train", "--data", str(small_data),
                     "--model", "lstm", "--units", "8", "--epochs", "1", "--seed", "2",
                     "--out", str(disk / "b"), "--force")
    one_error(done, disk / "b", FULL)
    assert_untouched(tmp_path / "after", trained)
