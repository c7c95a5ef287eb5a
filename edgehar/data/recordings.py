"""Continuous raw recordings -> labelled windows, made by the pipeline the live stream runs.

Two layouts are read:

- HAPT ``RawData/``: ``acc_expNN_userMM.txt[.gz]`` with its ``gyro_expNN_userMM.txt[.gz]`` twin
  (x y z per line, 50 Hz, acc in g, gyro in rad/s) and ``labels.txt`` rows
  ``experiment user activity start end`` (1-based, inclusive sample numbers; activities
  7..12 are postural transitions and are not windowed);
- a CSV with header ``t,ax,ay,az,gx,gy,gz[,label]`` (label: a class name or 1..6; rows with an
  empty label are not windowed).

Each recording runs through ``Pipeline.transform`` from its first sample to its last, as a
device streaming it would, and is then cut into ``WINDOW``-sample windows ``hop`` apart that
lie entirely inside one labelled segment.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from edgehar.data.text import parse_numbers, read_bytes
from edgehar.errors import DataError
from edgehar.preprocess.pipeline import Pipeline
from edgehar.preprocess.windows import window_starts
from edgehar.spec import ACTIVITIES, HOP, RAW_COLUMNS, WINDOW

HAPT_ACC = re.compile(r"acc_exp(\d+)_user(\d+)\.txt(\.gz)?")
HAPT_ACTIVITIES = range(1, 13)
_ROW_FIELDS = ("X", "y", "subject", "experiment", "start")
CSV_COLUMNS = ("t", *RAW_COLUMNS)


@dataclass(frozen=True)
class LabelSegment:
    """A labelled stretch of one recording: samples ``[start, end)`` (0-based)."""

    experiment: int
    subject: int
    activity: int
    start: int
    end: int
    where: str = ""
    """The file and line it was read from, for error messages."""


@dataclass(frozen=True)
class RecordingWindows:
    """Windows cut from recordings: ``X`` (N, WINDOW, C) channels made by ``pipeline`` (normalized
    if it holds a normalization), ``y`` 1..6, and for each window its ``subject``, ``experiment``
    and ``start`` sample in that recording. Trainable like :class:`HarWindows`."""

    X: np.ndarray
    y: np.ndarray
    subject: np.ndarray
    experiment: np.ndarray
    start: np.ndarray
    pipeline: Pipeline | None = None
    source: str = ""

    def __len__(self) -> int:
        return len(self.y)

    def take(self, rows) -> RecordingWindows:
        """A subset of rows (an index array, a boolean mask or a slice)."""
        return replace(self, **{f: getattr(self, f)[rows] for f in _ROW_FIELDS})

    @property
    def class_index(self) -> np.ndarray:
        """Labels as 0-based class indices into ``ACTIVITIES``."""
        return self.y - 1


def read_hapt_experiment(acc_path: Path) -> np.ndarray:
    """One HAPT experiment: its acc file and gyro twin as raw rows (n, 6) of RAW_COLUMNS."""
    acc_path = Path(acc_path)
    if not HAPT_ACC.fullmatch(acc_path.name):
        raise DataError(f"{acc_path}: not a HAPT acc file (acc_expNN_userMM.txt[.gz])")
    gyro_path = acc_path.with_name("gyro_" + acc_path.name[len("acc_"):])
    acc = parse_numbers(read_bytes(acc_path), 3, str(acc_path))
    gyro = parse_numbers(read_bytes(gyro_path), 3, str(gyro_path))
    if len(acc) != len(gyro):
        raise DataError(f"{gyro_path} has {len(gyro)} lines but {acc_path} has {len(acc)}")
    return np.concatenate([acc, gyro], axis=1)


def read_hapt_labels(labels_path: Path) -> list[LabelSegment]:
    """Every row of a HAPT ``labels.txt`` (all 12 activities), checked."""
    rows = parse_numbers(read_bytes(labels_path), 5, str(labels_path))
    segments = []
    for number, row in enumerate(rows, start=1):
        where = f"{labels_path}, line {number}"
        if (row != np.round(row)).any():
            raise DataError(f"{where}: expected 5 integers (experiment user activity start end)")
        experiment, subject, activity, start, end = (int(v) for v in row)
        if activity not in HAPT_ACTIVITIES:
            raise DataError(f"{where}: activity {activity} is not in 1..12")
        if not 1 <= start <= end:
            raise DataError(f"{where}: start {start} and end {end} do not make a segment (1 <= start <= end)")
        segments.append(LabelSegment(experiment, subject, activity, start - 1, end, where))
    return segments


def hapt_files(raw_dir: Path) -> dict[int, Path]:
    """The acc file of every experiment in a HAPT ``RawData`` folder, by experiment number."""
    return {int(m[1]): path for path in sorted(Path(raw_dir).iterdir())
            if (m := HAPT_ACC.fullmatch(path.name))}


def hapt_windows(raw_dir: Path, pipeline: Pipeline, *, experiments=None, subjects=None,
                 hop: int = HOP) -> RecordingWindows:
    """Windows of activities 1..6 from a HAPT ``RawData`` folder: all experiments, or those
    numbered in ``experiments``, or those of the users in ``subjects``."""
    raw_dir = Path(raw_dir)
    if not raw_dir.is_dir():
        raise DataError(f"{raw_dir}: not a folder (expected HAPT RawData/)")
    segments = read_hapt_labels(raw_dir / "labels.txt")
    files = hapt_files(raw_dir)
    wanted = sorted({s.experiment for s in segments} if experiments is None else set(experiments))
    if subjects is not None:
        wanted = [e for e in wanted if e in files and int(HAPT_ACC.fullmatch(files[e].name)[2]) in subjects]
    if not wanted:
        raise DataError(f"{raw_dir}: no experiments selected")
    parts = []
    for experiment in wanted:
        mine = [s for s in segments if s.experiment == experiment]
        if experiment not in files:
            raise DataError(f"{raw_dir}: no acc_exp{experiment:02d}_user*.txt[.gz] file")
        if not mine:
            raise DataError(f"{raw_dir / 'labels.txt'}: no segments for experiment {experiment}")
        subject = int(HAPT_ACC.fullmatch(files[experiment].name)[2])
        for s in mine:
            if s.subject != subject:
                raise DataError(f"{s.where}: user {s.subject}, but the file is {files[experiment].name}")
        parts.append(_cut(read_hapt_experiment(files[experiment]), mine, pipeline, hop,
                          str(files[experiment])))
    return replace(concat_windows(parts), source=str(raw_dir))


def read_csv_recording(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """A CSV recording: raw rows (n, 6) of RAW_COLUMNS and labels (n,) 1..6, 0 where unlabelled."""
    path = Path(path)
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: not a readable CSV ({err})") from None
    header = [str(c).strip() for c in table.columns]
    if header not in (list(CSV_COLUMNS), [*CSV_COLUMNS, "label"]):
        raise DataError(f"{path}, line 1: header must be {','.join(CSV_COLUMNS)}[,label], "
                        f"found {','.join(header)}")
    numbers = table.iloc[:, :len(CSV_COLUMNS)].apply(pd.to_numeric, errors="coerce").to_numpy(np.float64)
    bad = np.argwhere(~np.isfinite(numbers))
    if len(bad):
        row, column = bad[0]
        raise DataError(f"{path}, line {row + 2}, column {column + 1} ({CSV_COLUMNS[column]}): "
                        f"{table.iat[row, column]!r} is not a finite number")
    steps = np.flatnonzero(np.diff(numbers[:, 0]) <= 0)
    if len(steps):
        raise DataError(f"{path}, line {steps[0] + 3}: t does not increase")
    labels = np.zeros(len(table), dtype=np.int64)
    if "label" in header:
        codes = {"": 0, **{str(k): k for k in range(1, 7)}, **{n: k for k, n in enumerate(ACTIVITIES, 1)}}
        names = table["label"].str.strip().str.upper()
        unknown = np.flatnonzero(~names.isin(list(codes)).to_numpy())
        if len(unknown):
            row = unknown[0]
            raise DataError(f"{path}, line {row + 2}: label {table['label'].iat[row]!r} is neither "
                            f"1..6 nor one of {', '.join(ACTIVITIES)}")
        labels = names.map(codes).to_numpy(np.int64)
    return numbers[:, 1:], labels


def label_runs(labels: np.ndarray) -> list[tuple[int, int, int]]:
    """(label, start, end) of every run of one non-zero label, ``end`` exclusive."""
    if not len(labels):
        return []
    edges = np.flatnonzero(np.diff(labels)) + 1
    bounds = zip(np.r_[0, edges], np.r_[edges, len(labels)], strict=True)
    return [(int(labels[a]), int(a), int(b)) for a, b in bounds if labels[a] != 0]


def csv_windows(path: Path, pipeline: Pipeline, *, subject: int = 0, experiment: int = 0,
                hop: int = HOP) -> RecordingWindows:
    """Windows of the labelled stretches of a CSV recording."""
    raw, labels = read_csv_recording(path)
    segments = [LabelSegment(experiment, subject, label, start, end, str(path))
                for label, start, end in label_runs(labels)]
    return replace(_cut(raw, segments, pipeline, hop, str(path)), source=str(path))


def _cut(raw: np.ndarray, segments: list[LabelSegment], pipeline: Pipeline, hop: int,
         where: str) -> RecordingWindows:
    """Run the pipeline over the whole recording, then window its segments of activities 1..6."""
    for s in segments:
        if s.end > len(raw):
            raise DataError(f"{s.where}: segment end {s.end} is beyond the {len(raw)} samples of {where}")
    features = pipeline.transform(raw)
    kept = [s for s in segments if 1 <= s.activity <= len(ACTIVITIES)]
    starts = [window_starts(s.end - s.start, WINDOW, hop) + s.start for s in kept]
    per = [len(st) for st in starts]
    start = np.concatenate(starts) if starts else np.zeros(0, np.int64)
    return RecordingWindows(
        X=features[start[:, None] + np.arange(WINDOW)],
        y=np.repeat([s.activity for s in kept], per).astype(np.int64),
        subject=np.repeat([s.subject for s in kept], per).astype(np.int64),
        experiment=np.repeat([s.experiment for s in kept], per).astype(np.int64),
        start=start.astype(np.int64),
        pipeline=pipeline,
    )


def concat_windows(parts: list[RecordingWindows]) -> RecordingWindows:
    """Windows of several sources in one set (the first part's pipeline and source)."""
    return replace(parts[0], **{f: np.concatenate([getattr(p, f) for p in parts]) for f in _ROW_FIELDS})
