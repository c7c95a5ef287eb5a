"""tools/make_test_data.py (docs/data.md) builds the test-data layout from archives in the official layouts
(here made small from the shared data's own files: the UCI HAR sample and two HAPT experiments)."""

from __future__ import annotations

import gzip
import io
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np

from edgehar.data.recordings import read_hapt_recordings
from edgehar.data.uci import SPLITS, load_split, split_files

TOOL = Path(__file__).resolve().parent.parent / "tools" / "make_test_data.py"


def _uci_archive(sample: Path, path: Path) -> Path:
    """The UCI download's layout: a zip wrapping 'UCI HAR Dataset.zip'."""
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as zf:
        for rel in sorted({rel for split in SPLITS for rel in split_files(split)}):
            zf.write(sample / rel, f"UCI HAR Dataset/{rel}")
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("UCI HAR Dataset.zip", inner.getvalue())
        zf.writestr("UCI HAR Dataset.names", "names\n")
    return path


def hapt_archive(raw: Path, path: Path) -> Path:
    """HAPT's layout: RawData/*.txt, RawData/labels.txt and activity_labels.txt at the top; with
    a recording of user 2 (a UCI HAR test subject) that must be left out."""
    with zipfile.ZipFile(path, "w") as zf:
        for name in ("acc_exp01_user01", "gyro_exp01_user01", "acc_exp02_user01", "gyro_exp02_user01"):
            zf.writestr(f"RawData/{name}.txt", gzip.decompress((raw / f"{name}.txt.gz").read_bytes()))
        for kind in ("acc", "gyro"):
            zf.writestr(f"RawData/{kind}_exp03_user02.txt",
                        gzip.decompress((raw / f"{kind}_exp01_user01.txt.gz").read_bytes()))
        rows = [r for r in (raw / "labels.txt").read_bytes().splitlines(keepends=True)
                if r.split()[1] == b"1"]
        zf.writestr("RawData/labels.txt", b"".join(rows) + b"3 2 5 250 1232\n")
        zf.write(raw.parent / "activity_labels.txt", "activity_labels.txt")
        zf.writestr("features.txt", "tBodyAcc-Mean-1\n")
    return path


def test_the_layout_is_built_from_the_official_archives(uci_original_sample, hapt_raw, tmp_path):
    uci = _uci_archive(uci_original_sample, tmp_path / "human+activity+recognition+using+smartphones.zip")
    hapt = hapt_archive(hapt_raw, tmp_path / "smartphone+based+recognition.zip")
    out = tmp_path / "data"
    run = subprocess.run([sys.executable, str(TOOL), "--uci", str(uci), "--hapt", str(hapt),
                          "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "2 HAPT experiments of 1 training subjects" in run.stdout  # the sample's train split: subject 1

    for split in SPLITS:
        built, original = load_split(out / "uci-har", split), load_split(uci_original_sample, split)
        assert np.array_equal(built.X, original.X) and np.array_equal(built.y, original.y)
        assert np.array_equal(built.subject, original.subject)
        for rel in split_files(split):
            copy = out / "uci-har" / "original-sample" / "UCI HAR Dataset" / rel
            assert copy.read_bytes() == (uci_original_sample / rel).read_bytes(), rel
    with np.load(out / "uci-har" / "uci_har_train.npz") as z:
        assert z["channels"][0] == "body_acc_x" and z["activity_names"][-1] == "LAYING"

    built_raw = out / "hapt-raw" / "RawData"
    names = sorted(p.name for p in built_raw.glob("*.gz"))
    assert names == sorted(f"{k}_exp0{e}_user01.txt.gz" for k in ("acc", "gyro") for e in (1, 2))
    for name in names:
        built, shared = ((folder / name).read_bytes() for folder in (built_raw, hapt_raw))
        assert gzip.decompress(built) == gzip.decompress(shared)
    assert all(row.split()[1] == "1" for row in (built_raw / "labels.txt").read_text().splitlines())
    shared = read_hapt_recordings(hapt_raw, experiments=[1, 2])
    assert [r.session for r in read_hapt_recordings(built_raw)] == [r.session for r in shared]


def test_a_wrong_archive_is_one_error_line(uci_original_sample, tmp_path):
    uci = _uci_archive(uci_original_sample, tmp_path / "uci.zip")
    run = subprocess.run([sys.executable, str(TOOL), "--uci", str(uci), "--hapt", str(uci), "--out",
                          str(tmp_path / "data")], capture_output=True, text=True, timeout=300)
    assert run.returncode == 1
    assert run.stderr == f"error: {uci}: no RawData/labels.txt (is it the HAPT archive?)\n"
