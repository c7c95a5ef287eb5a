"""Continuous raw recordings -> labelled windows, made by the pipeline the live stream runs.

A recording (:class:`Recording`) is raw IMU rows in g and rad/s at 50 Hz with a label per
sample. Two layouts are read:

- the recording format ``edgehar.recording/1``: ``NAME.csv`` (or ``NAME.csv.gz``) with header
  ``t,ax,ay,az,gx,gy,gz[,label]`` (``t`` seconds, strictly increasing; ``label`` any name
  matching :data:`LABEL_NAME`, empty = unlabelled) and an optional sidecar ``NAME.json``
  (``rate_hz`` [50], ``units`` {acc: g|ms2, gyro: rads|dps} [g, rads], ``subject`` [none],
  ``session`` [the file stem], and provenance fields that are kept but not used);
- HAPT ``RawData/``: ``acc_expNN_userMM.txt[.gz]`` with its ``gyro_expNN_userMM.txt[.gz]`` twin
  (x y z per line, 50 Hz, acc in g, gyro in rad/s) and ``labels.txt`` rows
  ``experiment user activity start end`` (1-based, inclusive sample numbers); labels are named
  by ``HAPT_ACTIVITIES`` (7..12 are the postural transitions), subject = user, session =
  experiment.

A :class:`ClassMap` says which labels make which class (``"active=WALKING+RUNNING,SITTING"``).
:func:`recording_windows` runs each recording through ``Pipeline.transform`` from its first
sample to its last, as a device streaming it would, and cuts ``WINDOW``-sample windows ``hop``
apart that lie entirely inside one run of one class.
"""

from __future__ import annotations

import io
import os
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from edgehar import atomic
from edgehar.data.sidecar import read_sidecar, recording_stem, sidecar_path
from edgehar.data.text import parse_numbers, read_bytes
from edgehar.errors import BundleError, DataError, OptionError, excerpt
from edgehar.preprocess.pipeline import Pipeline
from edgehar.preprocess.windows import window_starts
from edgehar.spec import (
    ACC_UNITS,
    ACTIVITIES,
    GYRO_UNITS,
    HAPT_ACTIVITIES,
    HOP,
    LABEL_NAME,
    RAW_COLUMNS,
    RECORDING_FORMAT,
    SAMPLE_RATE_HZ,
    WINDOW,
    class_of_label,
)

HAPT_ACC = re.compile(r"acc_exp(\d+)_user(\d+)\.txt(\.gz)?")
HAPT_CODES = range(1, len(HAPT_ACTIVITIES) + 1)
CSV_COLUMNS = ("t", *RAW_COLUMNS)
CSV_SUFFIXES = (".csv", ".csv.gz")
RATE_TOLERANCE = 0.02
"""How far the median step of ``t`` may be from 1 / rate_hz (relative). HAPT's (and the demo's)
samples are exactly 1/50 s apart (the phone resampled them; the files carry no clock), and an
IMU's output data rate is off by its oscillator's tolerance, typically under ±1%; 2% leaves
margin for that while a 46 or 48 Hz sensor, whose windows would span 4-9% more time than the
model was trained on, is refused (resample it first)."""
_ROW_FIELDS = ("X", "y", "subject", "experiment", "start")


@dataclass(frozen=True)
class Recording:
    """One continuous recording, labelled per sample."""

    name: str
    """The file it was read from, for messages."""
    raw: np.ndarray
    """(n, 6) rows of RAW_COLUMNS in g and rad/s, edgehar's axes."""
    t: np.ndarray
    """(n,) seconds."""
    labels: np.ndarray
    """(n,) int: 0 unlabelled, k -> ``label_names[k - 1]``."""
    label_names: tuple[str, ...]
    subject: str
    """"" when unknown."""
    session: str
    rate_hz: float = SAMPLE_RATE_HZ
    default_classes: tuple[str, ...] | None = None
    """The classes :meth:`ClassMap.of` takes from it (None: every label it holds; HAPT: its 6
    activities, not the transitions)."""

    def __len__(self) -> int:
        return len(self.raw)

    @property
    def minutes(self) -> float:
        return len(self.raw) / self.rate_hz / 60

    def labels_present(self) -> list[str]:
        """Names of the labels that occur, in order of first occurrence."""
        codes, first = np.unique(self.labels, return_index=True)
        return [self.label_names[c - 1] for _, c in sorted(zip(first, codes, strict=True)) if c]


@dataclass(frozen=True)
class LabelSegment:
    """A labelled stretch of one HAPT experiment: samples ``[start, end)`` (0-based)."""

    experiment: int
    subject: int
    activity: int
    start: int
    end: int
    where: str = ""
    """The file and line it was read from, for error messages."""


# ---------------------------------------------------------------------------------------------
# The recording format




class EmptyRecording(DataError):
    """A recording with no sample (the recorder could not write one): skipped in a folder."""


def read_recording_rows(csv_path: Path, unfinished: bool = False
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The rows of a recording's ``NAME.csv[.gz]`` as the file has them: ``t`` (n,), the six
    values (n, 6) in the file's own units (exactly: each float is the nearest to its text) and
    each row's label as text (an object array; '' where unlabelled or without a label column).
    Checked: the header, finite numbers, ``t`` strictly increasing, the label names; a fault is a
    DataError naming the file and line (:class:`EmptyRecording` for no samples). The sidecar is
    not read (:func:`read_recording` applies it). ``unfinished``: the recorder was stopped by a
    crash or power cut (its sidecar says when it started, not when it ended), so a last line
    without its newline was cut short in the middle of a write and is left out."""
    path = Path(csv_path)
    data = read_bytes(path)
    if unfinished and not data.endswith(b"\n"):
        data = data[:data.rfind(b"\n") + 1]
    try:
        table = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False, skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise EmptyRecording(f"{path}: an empty file") from None
    except (pd.errors.ParserError, UnicodeDecodeError, OSError, EOFError) as err:
        raise DataError(f"{path}: not a readable CSV ({str(err).strip()})") from None
    header = [str(c).strip() for c in table.columns]
    if header not in (list(CSV_COLUMNS), [*CSV_COLUMNS, "label"]):
        raise DataError(f"{path}, line 1: header must be {','.join(CSV_COLUMNS)}[,label], "
                        f"found {excerpt(','.join(header), 80)}")
    if not len(table):
        raise EmptyRecording(f"{path}: no samples after the header")
    numbers = table.iloc[:, :len(CSV_COLUMNS)].apply(pd.to_numeric, errors="coerce").to_numpy(np.float64)
    bad = np.argwhere(~np.isfinite(numbers))
    if len(bad):
        row, column = bad[0]
        raise DataError(f"{path}, line {row + 2}, column {column + 1} ({CSV_COLUMNS[column]}): "
                        f"{excerpt(table.iat[row, column])} is not a finite number")
    t = numbers[:, 0]
    steps = np.flatnonzero(np.diff(t) <= 0)
    if len(steps):
        row = steps[0] + 1
        raise DataError(f"{path}, line {row + 2}: t does not increase ({table.iat[row, 0]} after "
                        f"{table.iat[row - 1, 0]})")
    labels = np.full(len(table), "", dtype=object)
    if "label" in header:
        column = table["label"].str.strip()
        bad = np.flatnonzero(~(column.str.fullmatch(LABEL_NAME.pattern) | (column == "")).to_numpy())
        if len(bad):
            raise DataError(f"{path}, line {bad[0] + 2}: label {excerpt(table['label'].iat[bad[0]])} "
                            f"is not a name of 1-64 characters A-Z a-z 0-9 _ . - (not starting "
                            f"with . or -), or empty for unlabelled")
        labels = column.to_numpy(dtype=object)
    return t, numbers[:, 1:], labels


def read_recording(csv_path: Path) -> Recording:
    """One recording: ``NAME.csv`` (or ``.csv.gz``) and its sidecar ``NAME.json`` if there is
    one; values converted to g and rad/s. Any bad input is a DataError naming file and line
    or field."""
    path = Path(csv_path)
    side = read_sidecar(sidecar_path(path))
    unfinished = ("started" in side and "ended" not in side) or side.get("end") == "error"
    t, values, text = read_recording_rows(path, unfinished=unfinished)
    rate = side.get("rate_hz", SAMPLE_RATE_HZ)
    if len(t) > 1:
        step = float(np.median(np.diff(t)))
        if abs(step * rate - 1) > RATE_TOLERANCE:
            raise DataError(f"{path}: t advances {step:.6g} s per sample (median), {1 / step:.4g} Hz, "
                            f"but the recording must be {rate:g} Hz: resample it first")
    uniques, first, inverse = np.unique(text, return_index=True, return_inverse=True)
    order = [k for k in np.argsort(first, kind="stable") if uniques[k] != ""]
    names = tuple(str(uniques[k]) for k in order)
    code = np.zeros(len(uniques), dtype=np.int64)
    code[order] = np.arange(1, len(order) + 1)
    labels = code[inverse.reshape(-1)]
    units = side.get("units", {"acc": "g", "gyro": "rads"})
    scale = np.array([ACC_UNITS[units["acc"]]] * 3 + [GYRO_UNITS[units["gyro"]]] * 3)
    return Recording(name=str(path), raw=values * scale, t=t, labels=labels, label_names=names,
                     subject=side.get("subject", ""), session=side.get("session") or recording_stem(path),
                     rate_hz=rate)


def write_recording(recording: Recording, csv_path: Path, **sidecar) -> Path:
    """Write ``recording`` as ``NAME.csv`` (g, rad/s; values exact) and its sidecar ``NAME.json``
    holding format, rate, units, subject, session, labels and samples plus ``sidecar``'s fields;
    each file atomically. Returns the CSV's path."""
    csv_path = Path(csv_path)
    names = np.array(["", *recording.label_names], dtype=object)
    table = pd.DataFrame(recording.raw, columns=list(RAW_COLUMNS))
    table.insert(0, "t", recording.t)
    table["label"] = names[recording.labels]
    atomic.write_text(csv_path, table.to_csv(index=False, lineterminator="\n"))
    atomic.write_json(sidecar_path(csv_path), {
        "format": RECORDING_FORMAT, "rate_hz": recording.rate_hz, "units": {"acc": "g", "gyro": "rads"},
        "subject": recording.subject, "session": recording.session,
        "labels": list(recording.label_names), "samples": len(recording), **sidecar})
    return csv_path


# ---------------------------------------------------------------------------------------------
# The HAPT RawData layout


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
        if activity not in HAPT_CODES:
            raise DataError(f"{where}: activity {activity} is not in 1..12")
        if not 1 <= start <= end:
            raise DataError(f"{where}: start {start} and end {end} do not make a segment (1 <= start <= end)")
        segments.append(LabelSegment(experiment, subject, activity, start - 1, end, where))
    return segments


def hapt_files(raw_dir: Path) -> dict[int, Path]:
    """The acc file of every experiment in a HAPT ``RawData`` folder, by experiment number."""
    return {int(m[1]): path for path in sorted(Path(raw_dir).iterdir())
            if (m := HAPT_ACC.fullmatch(path.name))}


def is_hapt_folder(folder: Path) -> bool:
    return (Path(folder) / "labels.txt").is_file() and bool(hapt_files(folder))


def read_hapt_recordings(raw_dir: Path, *, experiments=None, subjects=None) -> list[Recording]:
    """The experiments of a HAPT ``RawData`` folder as recordings: all whose files are there, or
    those numbered in ``experiments``, or those of the users in ``subjects``; in experiment order."""
    raw_dir = Path(raw_dir)
    if not raw_dir.is_dir():
        raise DataError(f"{raw_dir}: not a folder (expected HAPT RawData/)")
    segments = read_hapt_labels(raw_dir / "labels.txt")
    files = hapt_files(raw_dir)
    wanted = sorted(files if experiments is None else set(experiments))
    if subjects is not None:
        wanted = [e for e in wanted if e in files and int(HAPT_ACC.fullmatch(files[e].name)[2]) in subjects]
    if not wanted:
        raise DataError(f"{raw_dir}: no experiments selected")
    recordings = []
    for experiment in wanted:
        mine = [s for s in segments if s.experiment == experiment]
        if experiment not in files:
            raise DataError(f"{raw_dir}: no acc_exp{experiment:02d}_user*.txt[.gz] file")
        if not mine:
            raise DataError(f"{raw_dir / 'labels.txt'}: no segments for experiment {experiment}")
        path = files[experiment]
        subject = int(HAPT_ACC.fullmatch(path.name)[2])
        raw = read_hapt_experiment(path)
        labels = np.zeros(len(raw), dtype=np.int64)
        for s in mine:
            if s.subject != subject:
                raise DataError(f"{s.where}: user {s.subject}, but the file is {path.name}")
            if s.end > len(raw):
                raise DataError(f"{s.where}: segment end {s.end} is beyond the {len(raw)} samples of {path}")
            labels[s.start:s.end] = s.activity
        recordings.append(Recording(name=str(path), raw=raw, t=np.arange(len(raw)) / SAMPLE_RATE_HZ,
                                    labels=labels, label_names=HAPT_ACTIVITIES, subject=str(subject),
                                    session=str(experiment), default_classes=ACTIVITIES))
    return recordings


# ---------------------------------------------------------------------------------------------
# Folders


def read_recordings(folder: Path) -> list[Recording]:
    """Every recording under ``folder`` (searched recursively): each ``NAME.csv[.gz]`` with its
    sidecar, and every HAPT ``RawData`` layout; sorted by file name. ``folder`` may also be one
    CSV file. DataError when there is none."""
    folder = Path(folder)
    if folder.is_file():
        return [read_recording(folder)]
    if not folder.is_dir():
        raise DataError(f"{folder}: no such folder of recordings")
    recordings = []
    for root, dirs, names in os.walk(folder):
        dirs.sort()
        root = Path(root)
        if is_hapt_folder(root):
            recordings += read_hapt_recordings(root)
        for name in sorted(names):
            if name.endswith(CSV_SUFFIXES):
                try:
                    recordings.append(read_recording(root / name))
                except EmptyRecording as empty:
                    print(f"note: {empty}; skipped", file=sys.stderr)
    if not recordings:
        raise DataError(f"{folder}: no recordings (NAME.csv with header {','.join(CSV_COLUMNS)},label, "
                        "or a HAPT RawData layout)")
    return sorted(recordings, key=lambda r: natural(r.name))


def natural(name) -> list:
    """Sort key: numbers inside names in numeric order (user2 before user10)."""
    name = str(name)
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name)]


# ---------------------------------------------------------------------------------------------
# Class maps


@dataclass(frozen=True)
class ClassMap:
    """Which recording labels make which class: ``members[c]`` are the labels of class ``c``
    (a plain class takes the label of its own name). Raises ValueError when inconsistent."""

    classes: tuple[str, ...]
    members: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self):
        object.__setattr__(self, "classes", tuple(self.classes))
        members = {c: tuple(self.members.get(c, (c,))) for c in self.classes}
        object.__setattr__(self, "members", members)
        if len(self.classes) < 2:
            raise ValueError(f"{len(self.classes)} class{'es' if len(self.classes) != 1 else ''}: "
                             "a classifier needs at least 2")
        extra = sorted(set(self.members) - set(self.classes))
        if extra:
            raise ValueError(f"members given for {extra}, which are not classes")
        repeated = [c for c in self.classes if self.classes.count(c) > 1]
        if repeated:
            raise ValueError(f"class {repeated[0]} is named twice")
        seen: dict[str, str] = {}
        for c in self.classes:
            for name in (c, *members[c]):
                if not LABEL_NAME.fullmatch(name):
                    raise ValueError(f"{excerpt(name)} is not a name of 1-64 characters "
                                     "A-Z a-z 0-9 _ . - (not starting with . or -)")
            if not members[c]:
                raise ValueError(f"class {c} takes no labels")
            for label in members[c]:
                if label in seen:
                    raise ValueError(f"label {label} is in two classes ({seen[label]} and {c})")
                seen[label] = c

    @classmethod
    def parse(cls, spec: str) -> ClassMap:
        """``"A,B,C"`` or ``"active=WALKING+WALKING_UPSTAIRS,static=SITTING+STANDING,LAYING"``;
        an OptionError naming ``--classes`` when it is not one."""
        classes, members = [], {}
        for item in str(spec).split(","):
            name, has_members, labels = (part.strip() for part in item.partition("="))
            if not name:
                raise OptionError(f"--classes {spec!r}: an empty class name (a stray comma or '=')")
            if name in members or name in classes:
                raise OptionError(f"--classes {spec!r}: class {name} is named twice")
            classes.append(name)
            if has_members:
                members[name] = tuple(label.strip() for label in labels.split("+"))
                if "" in members[name]:
                    raise OptionError(f"--classes {spec!r}: class {name} has an empty label (write "
                                      f"{name}=LABEL+LABEL)")
        try:
            return cls(tuple(classes), members)
        except ValueError as err:
            raise OptionError(f"--classes {spec!r}: {err}") from None

    @classmethod
    def of(cls, recordings: Iterable[Recording]) -> ClassMap:
        """Every label found (a HAPT recording: its 6 activities only), in first-seen order."""
        classes: dict[str, None] = {}
        for r in recordings:
            present = r.labels_present()
            classes.update(dict.fromkeys(present if r.default_classes is None else
                                         [c for c in r.default_classes if c in present]))
        try:
            return cls(tuple(classes))
        except ValueError as err:
            raise DataError(f"the recordings' labels ({', '.join(classes) or 'none'}) do not make "
                            f"classes: {err}") from None

    @classmethod
    def identity(cls, classes: Iterable[str]) -> ClassMap:
        """Each class takes the label of its own name."""
        return cls(tuple(classes))

    @property
    def spec(self) -> str:
        """The ``--classes`` text of this map."""
        return ",".join(c if self.members[c] == (c,) else f"{c}={'+'.join(self.members[c])}"
                        for c in self.classes)

    @property
    def labels(self) -> dict[str, str]:
        """Label -> the class it belongs to."""
        return {label: c for c in self.classes for label in self.members[c]}

    def codes(self, recording: Recording) -> np.ndarray:
        """(n,) class index + 1 of each sample of ``recording``; 0: in no class or unlabelled
        (labels make classes by :func:`~edgehar.spec.class_of_label`)."""
        of = class_of_label(self.classes, self.members)
        table = np.array([0] + [of[n] + 1 if n in of else 0 for n in recording.label_names], dtype=np.int64)
        return table[recording.labels]

    def check(self, recordings: list[Recording], where: str) -> None:
        """DataError when a label the map names occurs in none of ``recordings`` (``where``)."""
        found = {n for r in recordings for n in r.labels_present()}
        missing = [label for label in self.labels if label not in found]
        if missing:
            raise DataError(f"{where}: no recording holds label {', '.join(missing)} (labels found: "
                            f"{', '.join(sorted(found)) or 'none'}); check --classes (names are "
                            "case-sensitive)")

    def to_dict(self) -> dict:
        return {"classes": list(self.classes), "members": {c: list(m) for c, m in self.members.items()}}

    @classmethod
    def from_dict(cls, d: dict) -> ClassMap:
        """Inverse of :meth:`to_dict`; ValueError when malformed."""
        if not isinstance(d, dict) or not isinstance(d.get("classes"), list) or not isinstance(
                d.get("members", {}), dict):
            raise ValueError('expected {"classes": [...], "members": {class: [labels]}}')
        return cls(tuple(d["classes"]), {c: tuple(m) for c, m in d.get("members", {}).items()})


def bundle_class_map(bundle) -> ClassMap:
    """How to label recordings for ``bundle``: the class map it was trained with, else (a bundle
    trained on UCI HAR or a HAPT folder) each of its classes taking the label of its name."""
    stored = bundle.metadata.get("training", {}).get("recordings", {}).get("classes")
    try:
        class_map = ClassMap.identity(bundle.classes) if stored is None else ClassMap.from_dict(stored)
    except (ValueError, TypeError) as err:
        raise BundleError(f"{bundle.location}: field training.recordings.classes: {err}") from None
    if class_map.classes != tuple(bundle.classes):
        raise BundleError(f"{bundle.location}: field training.recordings.classes: "
                          f"{list(class_map.classes)} differ from the bundle's classes")
    return class_map


# ---------------------------------------------------------------------------------------------
# Windows


@dataclass(frozen=True)
class RecordingWindows:
    """Windows cut from recordings: ``X`` (N, WINDOW, C) channels made by ``pipeline`` (normalized
    if it holds a normalization), ``y`` 1..K into ``classes``, and for each window its
    ``subject``, ``experiment`` (session) and ``start`` sample in that recording. Trainable like
    :class:`HarWindows`.

    Windows of :func:`recording_windows` hold subject and session names (str, "" = no subject);
    those of :func:`hapt_windows` and :func:`csv_windows` hold numbers."""

    X: np.ndarray
    y: np.ndarray
    subject: np.ndarray
    experiment: np.ndarray
    start: np.ndarray
    pipeline: Pipeline | None = None
    source: str = ""
    classes: tuple[str, ...] = ACTIVITIES
    class_map: ClassMap | None = None
    """How the recordings' labels made ``classes`` (None: UCI HAR's six, numbered)."""

    def __len__(self) -> int:
        return len(self.y)

    def take(self, rows) -> RecordingWindows:
        """A subset of rows (an index array, a boolean mask or a slice)."""
        return replace(self, **{f: getattr(self, f)[rows] for f in _ROW_FIELDS})

    @property
    def class_index(self) -> np.ndarray:
        """Labels as 0-based class indices into ``classes``."""
        return self.y - 1

    def groups(self) -> tuple[str, np.ndarray]:
        """What validation holds out whole, and each window's group (see :func:`groups_of`)."""
        return groups_of(self.subject, self.experiment)


def groups_of(subjects, sessions) -> tuple[str, np.ndarray]:
    """What is held out whole, and the group of each item (window or recording) of these
    ``subjects`` and ``sessions``: ``"subject"`` and the subjects when at least 2 are named (an
    item without one: its session), else ``"session"`` and the sessions (a recording is its own
    session unless its sidecar says)."""
    subject, session = np.asarray(subjects).astype(str), np.asarray(sessions).astype(str)
    if len(np.unique(subject[subject != ""])) >= 2:
        return "subject", np.where(subject == "", "session " + session, subject)
    return "session", session


def recording_groups(recordings: Iterable[Recording]) -> tuple[str, list[str]]:
    """:func:`groups_of` the recordings: the group each recording's windows fall in."""
    recordings = list(recordings)
    by, groups = groups_of([r.subject for r in recordings], [r.session for r in recordings])
    return by, groups.tolist()


def label_runs(labels: np.ndarray) -> list[tuple[int, int, int]]:
    """(label, start, end) of every run of one non-zero label, ``end`` exclusive."""
    if not len(labels):
        return []
    edges = np.flatnonzero(np.diff(labels)) + 1
    bounds = zip(np.r_[0, edges], np.r_[edges, len(labels)], strict=True)
    return [(int(labels[a]), int(a), int(b)) for a, b in bounds if labels[a] != 0]


def recording_windows(recordings: Iterable[Recording], pipeline: Pipeline, class_map: ClassMap,
                      hop: int = HOP, source: str = "") -> RecordingWindows:
    """Windows of every run of one class in ``recordings``, each recording run whole through
    ``pipeline`` first; ``source`` (default: the recordings' common folder) is kept for provenance."""
    recordings = list(recordings)
    parts = []
    for rec in recordings:
        runs = label_runs(class_map.codes(rec))
        starts = [window_starts(end - start, WINDOW, hop) + start for _, start, end in runs]
        start = np.concatenate(starts).astype(np.int64) if starts else np.zeros(0, np.int64)
        if not len(start):
            continue
        features = pipeline.transform(rec.raw)
        n = len(start)
        parts.append(RecordingWindows(
            X=features[start[:, None] + np.arange(WINDOW)],
            y=np.repeat([c for c, _, _ in runs], [len(s) for s in starts]).astype(np.int64),
            subject=np.full(n, rec.subject), experiment=np.full(n, rec.session), start=start))
    if not source and recordings:
        source = os.path.commonpath([str(Path(r.name).resolve().parent) for r in recordings])
    if not parts:
        width = len(pipeline.channels)
        parts = [RecordingWindows(np.zeros((0, WINDOW, width), np.float32), np.zeros(0, np.int64),
                                  np.zeros(0, str), np.zeros(0, str), np.zeros(0, np.int64))]
    return replace(concat_windows(parts), pipeline=pipeline, source=source, classes=class_map.classes,
                   class_map=class_map)


def concat_windows(parts: list[RecordingWindows]) -> RecordingWindows:
    """Windows of several sources in one set (the first part's pipeline and source)."""
    if any(p.classes != parts[0].classes for p in parts):
        raise ValueError("windows of different class sets cannot be joined")
    return replace(parts[0], **{f: np.concatenate([getattr(p, f) for p in parts]) for f in _ROW_FIELDS})


# ---------------------------------------------------------------------------------------------
# UCI HAR's six activities from either layout (numbered subjects and experiments)


def hapt_windows(raw_dir: Path, pipeline: Pipeline, *, experiments=None, subjects=None,
                 hop: int = HOP, transitions: bool = False) -> RecordingWindows:
    """Windows of activities 1..6 from a HAPT ``RawData`` folder: all experiments there, or those
    numbered in ``experiments``, or those of the users in ``subjects``; subject and experiment
    as numbers. With ``transitions``, the classes are all 12 of ``HAPT_ACTIVITIES`` and the
    postural transitions' windows are those of :func:`transition_windows`."""
    recordings = read_hapt_recordings(raw_dir, experiments=experiments, subjects=subjects)
    source = str(Path(raw_dir).resolve())  # recorded as the bundle's data_source
    if transitions:
        windows = recording_windows(recordings, pipeline, ClassMap.identity(HAPT_ACTIVITIES), hop, source)
        windows = concat_windows([windows.take(windows.y <= len(ACTIVITIES)),
                                  transition_windows(recordings, pipeline)])
    else:
        windows = recording_windows(recordings, pipeline, ClassMap.identity(ACTIVITIES), hop, source)
    return replace(windows, subject=windows.subject.astype(np.int64),
                   experiment=windows.experiment.astype(np.int64), class_map=None)


def transition_windows(recordings: list[Recording], pipeline: Pipeline, margin: int = 32,
                       hop: int = 16) -> RecordingWindows:
    """Windows of HAPT's postural transitions (classes ``HAPT_ACTIVITIES``): every window, ``hop``
    samples apart, whose middle ``WINDOW - 2 * margin`` samples lie inside one transition.

    A transition lasts 1.5 to 5 s, often less than a window: the few windows wholly inside one
    would teach little, while the stream meets transitions in windows that also hold a little of
    the postures before and after."""
    codes = ClassMap.identity(HAPT_ACTIVITIES)
    parts = []
    for rec in recordings:
        runs = [(c, a, b) for c, a, b in label_runs(codes.codes(rec)) if c > len(ACTIVITIES)]
        starts = [np.arange(max(a - margin, 0), min(b + margin, len(rec)) - WINDOW + 1, hop)
                  for _, a, b in runs]
        start = np.concatenate(starts).astype(np.int64) if starts else np.zeros(0, np.int64)
        if not len(start):
            continue
        features = pipeline.transform(rec.raw)
        parts.append(RecordingWindows(
            X=features[start[:, None] + np.arange(WINDOW)],
            y=np.repeat([c for c, _, _ in runs], [len(s) for s in starts]).astype(np.int64),
            subject=np.full(len(start), rec.subject), experiment=np.full(len(start), rec.session),
            start=start))
    if not parts:
        raise DataError(f"{', '.join(r.name for r in recordings)}: no postural transition to cut "
                        "windows from")
    return replace(concat_windows(parts), pipeline=pipeline, classes=HAPT_ACTIVITIES)


UCI_LABELS = ClassMap(ACTIVITIES, {name: (name, str(k)) for k, name in enumerate(ACTIVITIES, 1)})
"""UCI HAR's classes from a CSV labelled by their names or numbers 1..6."""


def read_csv_recording(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """A CSV recording labelled with UCI HAR's classes (names or 1..6): raw rows (n, 6) of
    RAW_COLUMNS and labels (n,) 1..6, 0 where unlabelled. Other labels are a DataError."""
    rec = read_recording(path)
    codes = UCI_LABELS.codes(rec)
    other = np.flatnonzero((codes == 0) & (rec.labels != 0))
    if len(other):
        row = other[0]
        raise DataError(f"{path}, line {row + 2}: label {rec.label_names[rec.labels[row] - 1]!r} is "
                        f"neither 1..6 nor one of {', '.join(ACTIVITIES)}")
    return rec.raw, codes


def csv_windows(path: Path, pipeline: Pipeline, *, subject: int = 0, experiment: int = 0,
                hop: int = HOP) -> RecordingWindows:
    """Windows of UCI HAR's classes (names or 1..6) in a CSV recording, with the given numbers."""
    raw, codes = read_csv_recording(path)
    rec = Recording(str(path), raw, np.arange(len(raw)) / SAMPLE_RATE_HZ, codes, ACTIVITIES, "", "")
    windows = recording_windows([rec], pipeline, ClassMap.identity(ACTIVITIES), hop, str(path))
    n = len(windows)
    return replace(windows, subject=np.full(n, subject, np.int64),
                   experiment=np.full(n, experiment, np.int64), class_map=None)


