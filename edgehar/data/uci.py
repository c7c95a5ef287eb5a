"""Load the UCI HAR "Inertial Signals" windows from any form a user may have them in.

Accepted sources:

- the official zip ``UCI HAR Dataset.zip``, or the UCI archive zip that wraps it (members are
  read straight from the zip, nothing is extracted);
- the extracted folder ``UCI HAR Dataset/`` or the folder holding it;
- a folder holding ``uci_har_{train,test}.npz`` (arrays ``X``, ``y``, ``subject``).

The text layout takes seconds to parse, so its parsed form is cached (see ``cache_home``),
keyed by the source's path, sizes and modification times (and, in a zip, its members'
sizes and CRCs): editing or replacing the source makes the cache miss.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path

import numpy as np

from edgehar.atomic import write_bytes
from edgehar.data.dataset import HarWindows
from edgehar.data.locate import ARCHIVE_NAME, cache_home
from edgehar.data.text import parse_numbers
from edgehar.errors import DataError
from edgehar.spec import ACTIVITIES, UCI_CHANNELS, WINDOW

SPLITS = ("train", "test")
ROOT = "UCI HAR Dataset"
LABELS_FILE = "activity_labels.txt"
SUBJECTS = (1, 30)
_CACHE_VERSION = 1


def load_uci(source: Path) -> tuple[HarWindows, HarWindows]:
    """Both splits of ``source``: (train, test)."""
    return load_split(source, "train"), load_split(source, "test")


def load_split(source: Path, split: str) -> HarWindows:
    """The windows of one split ('train' or 'test') of ``source``."""
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}; choose from {SPLITS}")
    source = Path(source)
    if not source.exists():
        raise DataError(f"{source} does not exist")
    npz = source / f"uci_har_{split}.npz"
    if source.is_dir() and (npz.exists() or any(source.glob("uci_har_*.npz"))):
        return _load_npz(npz)
    text = _open_text_source(source)
    fingerprint = text.fingerprint(split_files(split))
    cache = cache_home() / "uci" / f"{_digest([str(source.resolve()), split])}.npz"
    cached = _read_cache(cache, fingerprint, str(source))
    if cached is not None:
        return cached
    windows = _parse_split(text, split, str(source))
    _write_cache(cache, fingerprint, windows)
    return windows


def split_files(split: str) -> list[str]:
    """Files one split needs, relative to ``UCI HAR Dataset/``."""
    return ([LABELS_FILE]
            + [f"{split}/Inertial Signals/{channel}_{split}.txt" for channel in UCI_CHANNELS]
            + [f"{split}/y_{split}.txt", f"{split}/subject_{split}.txt"])


# -- npz --------------------------------------------------------------------------------------

def _load_npz(path: Path) -> HarWindows:
    if not path.exists():
        raise DataError(f"{path}: file not found")
    try:
        with np.load(path, allow_pickle=False) as f:
            missing = [k for k in ("X", "y", "subject") if k not in f.files]
            if missing:
                raise DataError(f"{path}: missing array(s) {', '.join(missing)}")
            X, y, subject = f["X"], f["y"], f["subject"]
            channels = tuple(f["channels"].tolist()) if "channels" in f.files else UCI_CHANNELS
    except (OSError, ValueError, zipfile.BadZipFile) as err:
        raise DataError(f"{path}: not a readable npz file ({err})") from None
    if X.ndim != 3 or X.shape[1:] != (WINDOW, len(UCI_CHANNELS)):
        raise DataError(f"{path}: X has shape {X.shape}, expected (N, {WINDOW}, {len(UCI_CHANNELS)})")
    if channels != UCI_CHANNELS:
        raise DataError(f"{path}: channels {channels} differ from {UCI_CHANNELS}")
    if not (len(X) == len(y) == len(subject)):
        raise DataError(f"{path}: X, y and subject have {len(X)}, {len(y)} and {len(subject)} rows")
    bad = np.flatnonzero(~np.isfinite(X).all(axis=(1, 2)))
    if len(bad):
        raise DataError(f"{path}: X[{bad[0]}] holds a non-finite value")
    for name, values, (lo, hi) in (("y", y, (1, len(ACTIVITIES))), ("subject", subject, SUBJECTS)):
        row = _first_bad_id(values, lo, hi)
        if row is not None:
            raise DataError(f"{path}: {name}[{row}] = {values[row]} is not an integer in {lo}..{hi}")
    return HarWindows(X.astype(np.float32), y.astype(np.int64), subject.astype(np.int64), str(path.parent))


def _first_bad_id(values: np.ndarray, lo: int, hi: int) -> int | None:
    """Index of the first value that is not an integer in lo..hi, or None."""
    values = np.asarray(values, dtype=np.float64)
    bad = np.flatnonzero((values != np.round(values)) | (values < lo) | (values > hi))
    return int(bad[0]) if len(bad) else None


# -- the original text layout, in a folder or a zip --------------------------------------------

class _FolderSource:
    """The extracted ``UCI HAR Dataset/`` folder."""

    def __init__(self, root: Path):
        self.root = root

    def where(self, rel: str) -> str:
        return str(self.root / rel)

    def read(self, rel: str) -> bytes:
        try:
            return (self.root / rel).read_bytes()
        except FileNotFoundError:
            raise DataError(f"{self.where(rel)}: file not found") from None
        except OSError as err:
            raise DataError(f"{self.where(rel)}: cannot read ({err})") from None

    def fingerprint(self, rels: list[str]) -> list:
        stats = [(self.root / rel).stat() if (self.root / rel).exists() else None for rel in rels]
        return [[rel, s and s.st_size, s and s.st_mtime_ns] for rel, s in zip(rels, stats, strict=True)]


class _ZipSource:
    """``UCI HAR Dataset.zip``, or the UCI archive zip holding it (opened only when read)."""

    def __init__(self, path: Path):
        self.path = path
        self.outer = _open_zip(path, str(path))
        self.prefix = _dataset_prefix(self.outer)
        self.nested = None if self.prefix is not None else _inner_zip_name(self.outer, path)
        self._zip = self.outer if self.nested is None else None

    def _members(self) -> zipfile.ZipFile:
        if self._zip is None:
            where = f"{self.path}:{self.nested}"
            self._zip = _open_zip(io.BytesIO(_read_member(self.outer, self.nested, str(self.path))), where)
            self.prefix = _dataset_prefix(self._zip)
            if self.prefix is None:
                raise DataError(f"{where}: holds no '{ROOT}/{LABELS_FILE}'")
        return self._zip

    def where(self, rel: str) -> str:
        inner = f":{self.nested}" if self.nested else ""
        return f"{self.path}{inner}:{self.prefix or ''}{rel}"

    def read(self, rel: str) -> bytes:
        members = self._members()
        return _read_member(members, self.prefix + rel, self.where(rel))

    def fingerprint(self, rels: list[str]) -> list:
        stat = self.path.stat()
        names = [self.nested] if self.nested else [self.prefix + rel for rel in rels]
        infos = {info.filename: info for info in self.outer.infolist()}
        members = [[n, infos[n].file_size, infos[n].CRC] if n in infos else [n, None, None] for n in names]
        return [stat.st_size, stat.st_mtime_ns, members]


def _open_text_source(source: Path) -> _FolderSource | _ZipSource:
    if source.is_file():
        if not zipfile.is_zipfile(source):
            raise DataError(f"{source}: not a zip file; expected the UCI HAR zip, its extracted "
                            "folder, or a folder of uci_har_{train,test}.npz")
        return _ZipSource(source)
    for root in (source, source / ROOT):
        if (root / LABELS_FILE).is_file():
            return _FolderSource(root)
    for name in (ARCHIVE_NAME, f"{ROOT}.zip"):
        if (source / name).is_file():
            return _ZipSource(source / name)
    raise DataError(f"{source}: no UCI HAR data here (expected '{ROOT}/{LABELS_FILE}', "
                    f"'{ROOT}.zip' or uci_har_{{train,test}}.npz)")


def _open_zip(file, where: str) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(file)
    except (zipfile.BadZipFile, OSError) as err:
        raise DataError(f"{where}: not a readable zip file ({err})") from None


def _read_member(zf: zipfile.ZipFile, name: str, where: str) -> bytes:
    try:
        return zf.read(name)
    except KeyError:
        raise DataError(f"{where}: file not found in the zip") from None
    except (zipfile.BadZipFile, OSError, EOFError) as err:
        raise DataError(f"{where}: corrupt zip member ({err})") from None


def _dataset_prefix(zf: zipfile.ZipFile) -> str | None:
    """The member-name prefix of the dataset folder (the one holding activity_labels.txt)."""
    prefixes = [name[: -len(LABELS_FILE)] for name in zf.namelist()
                if (name == LABELS_FILE or name.endswith("/" + LABELS_FILE))
                and not name.startswith("__MACOSX")]
    return min(prefixes, key=len) if prefixes else None


def _inner_zip_name(zf: zipfile.ZipFile, path: Path) -> str:
    inner = [name for name in zf.namelist()
             if name.lower().endswith(".zip") and not name.startswith("__MACOSX")]
    if len(inner) != 1:
        raise DataError(f"{path}: holds neither '{ROOT}/{LABELS_FILE}' nor a single inner "
                        f"'{ROOT}.zip' (found {inner or 'no zip'})")
    return inner[0]


def _parse_split(text: _FolderSource | _ZipSource, split: str, source: str) -> HarWindows:
    _check_activity_labels(text.read(LABELS_FILE), text.where(LABELS_FILE))
    *channel_files, y_file, subject_file = split_files(split)[1:]
    tables = {rel: parse_numbers(text.read(rel), WINDOW, text.where(rel)) for rel in channel_files}
    tables[y_file] = _read_ids(text.read(y_file), text.where(y_file), "label", 1, len(ACTIVITIES))
    tables[subject_file] = _read_ids(text.read(subject_file), text.where(subject_file), "subject",
                                     *SUBJECTS)
    first = channel_files[0]
    for rel, table in tables.items():
        if len(table) != len(tables[first]):
            raise DataError(f"{text.where(rel)} has {len(table)} rows but "
                            f"{text.where(first)} has {len(tables[first])}")
    X = np.stack([tables[rel] for rel in channel_files], axis=2).astype(np.float32)
    return HarWindows(X, tables[y_file], tables[subject_file], source)


def _read_ids(data: bytes, where: str, what: str, lo: int, hi: int) -> np.ndarray:
    """One integer in lo..hi per line."""
    values = parse_numbers(data, 1, where)[:, 0]
    row = _first_bad_id(values, lo, hi)
    if row is not None:
        raise DataError(f"{where}, line {row + 1}: {what} {values[row]:g} is not an integer in {lo}..{hi}")
    return values.astype(np.int64)


def _check_activity_labels(data: bytes, where: str) -> None:
    lines = [line for line in data.decode("utf-8", errors="replace").splitlines() if line.strip()]
    for number, name in enumerate(ACTIVITIES, start=1):
        found = lines[number - 1].split() if number <= len(lines) else []
        if found != [str(number), name]:
            raise DataError(f"{where}, line {number}: expected '{number} {name}', "
                            f"found {' '.join(found) or 'nothing'!r}")
    if len(lines) > len(ACTIVITIES):
        raise DataError(f"{where}, line {len(ACTIVITIES) + 1}: expected only the "
                        f"{len(ACTIVITIES)} classes {', '.join(ACTIVITIES)}")


# -- cache --------------------------------------------------------------------------------------

def _digest(obj) -> str:
    return hashlib.sha256(json.dumps(obj).encode()).hexdigest()[:32]


def _read_cache(path: Path, fingerprint: list, source: str) -> HarWindows | None:
    """The cached windows when ``path`` exists and was made from the same source state."""
    try:
        with np.load(path, allow_pickle=False) as f:
            if str(f["key"]) != _digest([_CACHE_VERSION, fingerprint]):
                return None
            return HarWindows(f["X"], f["y"], f["subject"], source)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        return None


def _write_cache(path: Path, fingerprint: list, windows: HarWindows) -> None:
    buffer = io.BytesIO()
    np.savez(buffer, key=np.array(_digest([_CACHE_VERSION, fingerprint])),
             X=windows.X, y=windows.y, subject=windows.subject)
    try:
        write_bytes(path, buffer.getvalue())
    except OSError:
        pass  # an unwritable cache only costs speed
