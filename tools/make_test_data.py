#!/usr/bin/env python3
"""Build the test-data folder the tests read (``../shared/data`` or ``$EDGEHAR_TEST_DATA``) from
the official downloads: the UCI HAR archive (``edgehar data fetch``) and the HAPT archive (UCI
dataset 341, "Smartphone-Based Recognition of Human Activities and Postural Transitions").

    tools/make_test_data.py --uci UCI_HAR.zip --hapt HAPT.zip --out ../shared/data

writes

    uci-har/uci_har_{train,test}.npz     X float32 (N, 128, 9), y 1..6, subject, channels, activity_names
    uci-har/activity_labels.txt
    uci-har/original-sample/UCI HAR Dataset/   the first 40 lines of each split's files, byte for byte
    hapt-raw/RawData/{acc,gyro}_expNN_userMM.txt.gz   the UCI HAR training subjects' recordings, gzipped
    hapt-raw/RawData/labels.txt          the rows of those subjects' experiments
    hapt-raw/activity_labels.txt
"""

from __future__ import annotations

import argparse
import gzip
import re
import sys
import zipfile
from pathlib import Path

import numpy as np

from edgehar.data.uci import LABELS_FILE, ROOT, SPLITS, load_split, read_original, split_files
from edgehar.errors import DataError
from edgehar.spec import ACTIVITIES, UCI_CHANNELS

SAMPLE_LINES = 40
RAW = re.compile(r"(?:^|.*/)RawData/((?:acc|gyro)_exp\d+_user(\d+)\.txt)$")


def write_uci(archive: Path, out: Path) -> set[int]:
    """uci-har/ from the UCI HAR archive; returns the training split's subjects."""
    folder = out / "uci-har"
    sample = folder / "original-sample" / ROOT
    subjects = set()
    for split in SPLITS:
        windows = load_split(archive, split)
        folder.mkdir(parents=True, exist_ok=True)
        np.savez(folder / f"uci_har_{split}.npz", X=windows.X.astype(np.float32),
                 y=windows.y.astype(np.int64), subject=windows.subject.astype(np.int64),
                 channels=np.array(UCI_CHANNELS), activity_names=np.array(ACTIVITIES))
        if split == "train":
            subjects = {int(s) for s in windows.subject}
        for rel in split_files(split):
            data = read_original(archive, rel)
            if rel != LABELS_FILE:
                data = b"".join(data.splitlines(keepends=True)[:SAMPLE_LINES])
            (sample / rel).parent.mkdir(parents=True, exist_ok=True)
            (sample / rel).write_bytes(data)
    (folder / LABELS_FILE).write_bytes(read_original(archive, LABELS_FILE))
    return subjects


def write_hapt(archive: Path, out: Path, subjects: set[int]) -> int:
    """hapt-raw/ from the HAPT archive, for ``subjects`` only; returns the experiments written."""
    raw = out / "hapt-raw" / "RawData"
    raw.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(archive) as zf:
        names = zf.namelist()
        labels = next((n for n in names if n.endswith("RawData/labels.txt")), None)
        if labels is None:
            raise DataError(f"{archive}: no RawData/labels.txt (is it the HAPT archive?)")
        kept = [m for n in names if (m := RAW.match(n)) and int(m[2]) in subjects]
        for match in kept:
            (raw / f"{match[1]}.gz").write_bytes(gzip.compress(zf.read(match[0]), 9, mtime=0))
        rows = [row for row in zf.read(labels).splitlines(keepends=True)
                if row.strip() and int(row.split()[1]) in subjects]
        (raw / "labels.txt").write_bytes(b"".join(rows))
        top = labels[: -len("RawData/labels.txt")]
        (out / "hapt-raw" / "activity_labels.txt").write_bytes(zf.read(top + "activity_labels.txt"))
    return len(kept) // 2


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--uci", type=Path, required=True, help="the UCI HAR archive (or its inner zip)")
    parser.add_argument("--hapt", type=Path, required=True, help="the HAPT archive")
    parser.add_argument("--out", type=Path, required=True, help="the test-data folder to write")
    args = parser.parse_args(argv)
    try:
        subjects = write_uci(args.uci, args.out)
        experiments = write_hapt(args.hapt, args.out, subjects)
    except (DataError, OSError, zipfile.BadZipFile) as err:
        sys.exit(f"error: {err}")
    print(f"wrote {args.out}: UCI HAR npz and original sample, {experiments} HAPT experiments of "
          f"{len(subjects)} training subjects")


if __name__ == "__main__":
    main()
