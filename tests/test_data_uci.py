"""The UCI HAR loader on the real original-layout sample: folder, zips, npz, cache, bad files."""

from __future__ import annotations

import os
import shutil
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from edgehar.data.uci import load_split, load_uci
from edgehar.errors import DataError
from edgehar.spec import UCI_CHANNELS

SIGNALS = "train/Inertial Signals"


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEHAR_CACHE", str(tmp_path / "cache"))


@pytest.fixture
def dataset(tmp_path, uci_original_sample) -> Path:
    """A writable copy of the original-layout sample: tmp/UCI HAR Dataset/."""
    return Path(shutil.copytree(uci_original_sample, tmp_path / "src" / "UCI HAR Dataset"))


@pytest.fixture(scope="module")
def npz_head(uci_dir):
    """The first 40 windows of each split of the full npz: what the sample holds."""
    return {split: load_split(uci_dir, split).take(slice(0, 40)) for split in ("train", "test")}


def zip_folder(folder: Path, zip_path: Path) -> Path:
    """Zip ``folder`` the way the official download is laid out ('UCI HAR Dataset/...')."""
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(folder.rglob("*")):
            zf.write(path, (Path(folder.name) / path.relative_to(folder)).as_posix())
    return zip_path


def assert_same(a, b):
    np.testing.assert_allclose(a.X, b.X, rtol=0, atol=1e-7)
    np.testing.assert_array_equal(a.y, b.y)
    np.testing.assert_array_equal(a.subject, b.subject)


def test_folder_and_its_parent_match_the_npz(dataset, npz_head):
    for source in (dataset, dataset.parent):
        train, test = load_uci(source)
        assert train.X.shape == (40, 128, 9) and train.X.dtype == np.float32
        assert_same(train, npz_head["train"])
        assert_same(test, npz_head["test"])


def test_official_zip_and_uci_wrapper_zip_match_the_npz(dataset, tmp_path, npz_head):
    inner = zip_folder(dataset, tmp_path / "UCI HAR Dataset.zip")
    wrapper = tmp_path / "human+activity+recognition+using+smartphones.zip"
    with zipfile.ZipFile(wrapper, "w") as zf:
        zf.write(inner, inner.name)
        zf.writestr("UCI HAR Dataset.names", "description\n")
    for source in (inner, wrapper):
        train, test = load_uci(source)
        assert_same(train, npz_head["train"])
        assert_same(test, npz_head["test"])


def test_npz_folder_loads_both_splits(uci_dir):
    train, test = load_uci(uci_dir)
    assert train.X.shape == (7352, 128, 9) and test.X.shape == (2947, 128, 9)
    assert train.label_counts()["LAYING"] == 1407
    assert set(np.unique(test.subject)) == {2, 4, 9, 10, 12, 13, 18, 20, 24}


def test_npz_with_a_bad_label_is_rejected(tmp_path):
    X = np.zeros((3, 128, 9), np.float32)
    np.savez(tmp_path / "uci_har_train.npz", X=X, y=np.array([1, 9, 2]), subject=np.array([1, 1, 1]),
             channels=np.array(UCI_CHANNELS))
    with pytest.raises(DataError, match=r"uci_har_train.npz: y\[1\] = 9 is not an integer in 1..6"):
        load_split(tmp_path, "train")
    with pytest.raises(DataError, match="uci_har_test.npz: file not found"):
        load_split(tmp_path, "test")


def test_second_load_comes_from_the_cache_until_the_content_changes(dataset):
    first = load_split(dataset, "train")
    started = time.perf_counter()
    assert_same(load_split(dataset, "train"), first)
    assert time.perf_counter() - started < 0.5
    channel = dataset / SIGNALS / "body_acc_x_train.txt"
    stat = channel.stat()
    # Same size and mtime, other content: the cache is keyed on content, so the edit is seen.
    channel.write_bytes(channel.read_bytes().replace(b"e-004", b"x-004", 1))
    assert channel.stat().st_size == stat.st_size
    os.utime(channel, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    with pytest.raises(DataError, match="body_acc_x_train.txt, line 1, column 1: '1.8085150x-004'"):
        load_split(dataset, "train")


def test_zip_cache_is_invalidated_by_a_changed_member(dataset, tmp_path):
    archive = zip_folder(dataset, tmp_path / "UCI HAR Dataset.zip")
    before = load_split(archive, "test")
    y_file = dataset / "test" / "y_test.txt"
    y_file.write_text(y_file.read_text().replace("5", "4", 1))
    stat = archive.stat()
    zip_folder(dataset, archive)
    os.utime(archive, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    after = load_split(archive, "test")
    assert before.y[0] == 5 and after.y[0] == 4


def _edit_line(path: Path, line: int, edit) -> None:
    lines = path.read_text().split("\n")
    lines[line - 1] = edit(lines[line - 1])
    path.write_text("\n".join(lines))


def _drop_last_line(path: Path) -> None:
    path.write_text("".join(path.read_text().splitlines(keepends=True)[:-1]))


def _set_token(column: int, token: str):
    def edit(line):
        tokens = line.split()
        tokens[column - 1] = token
        return " " + " ".join(tokens)
    return edit


BAD_FILES = {
    "truncated": (lambda d: (d / SIGNALS / "body_gyro_y_train.txt").write_bytes(
        (d / SIGNALS / "body_gyro_y_train.txt").read_bytes()[:-700]),
        r"body_gyro_y_train.txt, line 40: only \d+ of 128 numbers; the file looks truncated"),
    "wrong column count": (lambda d: _edit_line(d / SIGNALS / "total_acc_x_train.txt", 5,
                                                lambda line: line.rsplit(" ", 1)[0]),
                           "total_acc_x_train.txt, line 5: 127 numbers, expected 128"),
    "non-numeric token": (lambda d: _edit_line(d / SIGNALS / "body_acc_z_train.txt", 7,
                                               _set_token(3, "1.2.3")),
                          "body_acc_z_train.txt, line 7, column 3: '1.2.3' is not a number"),
    "NaN": (lambda d: _edit_line(d / SIGNALS / "body_gyro_x_train.txt", 9, _set_token(1, "NaN")),
            "body_gyro_x_train.txt, line 9, column 1: 'NaN' is not a finite number"),
    "missing file": (lambda d: (d / SIGNALS / "total_acc_z_train.txt").unlink(),
                     "total_acc_z_train.txt: file not found"),
    "label count": (lambda d: _drop_last_line(d / "train" / "y_train.txt"),
                    "y_train.txt has 39 rows but .*body_acc_x_train.txt has 40"),
    "label range": (lambda d: _edit_line(d / "train" / "y_train.txt", 3, lambda line: "7"),
                    "y_train.txt, line 3: label 7 is not an integer in 1..6"),
    "subject range": (lambda d: _edit_line(d / "train" / "subject_train.txt", 2, lambda line: "31"),
                      "subject_train.txt, line 2: subject 31 is not an integer in 1..30"),
    "class names": (lambda d: _edit_line(d / "activity_labels.txt", 4, lambda line: "4 SLEEPING"),
                    "activity_labels.txt, line 4: expected '4 SITTING', found '4 SLEEPING'"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_folder_names_file_and_line(dataset, case):
    damage, message = BAD_FILES[case]
    damage(dataset)
    with pytest.raises(DataError, match=message):
        load_split(dataset, "train")


@pytest.mark.parametrize("case", ["truncated", "non-numeric token", "missing file"])
def test_bad_zip_names_member_and_line(dataset, tmp_path, case):
    damage, message = BAD_FILES[case]
    damage(dataset)
    archive = zip_folder(dataset, tmp_path / "UCI HAR Dataset.zip")
    with pytest.raises(DataError, match=rf"UCI HAR Dataset.zip:UCI HAR Dataset/train/.*{message}"):
        load_split(archive, "train")


def test_not_a_dataset(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(DataError, match="no UCI HAR data here"):
        load_split(tmp_path, "train")
    with pytest.raises(DataError, match="not a zip file"):
        load_split(tmp_path / "notes.txt", "train")
