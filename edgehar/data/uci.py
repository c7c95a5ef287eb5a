"""Load the UCI HAR "Inertial Signals" windows from any form a user may have them in.

Accepted sources:

- the official zip ``UCI HAR Dataset.zip``, or the UCI archive zip that wraps it (members are
  read straight from the zip, nothing is extracted);
- the extracted folder ``UCI HAR Dataset/`` or the folder holding it;
- a folder holding ``uci_har_{train,test}.npz`` (arrays ``X``, ``y``, ``subject``).

The text layout takes seconds to parse, so its parsed form is cached (see ``cache_home``),
keyed by the SHA-256 of the source's content: any edit makes the cache miss. A cache entry
is checked like a source when read (shapes, finite values, labels and subjects in range;
a bad one is parsed again) and the oldest entries are pruned past ``CACHE_BYTES``.

Reads are bounded: no file or zip member larger than ``MAX_FILE_BYTES`` (``activity_labels.txt``:
``MAX_LABELS_BYTES``) is read, whatever its header claims, and errors quote short excerpts.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
import zlib
from pathlib import Path

import numpy as np

from edgehar.atomic import write_bytes
from edgehar.checksum import sha256_of
from edgehar.data.dataset import HarWindows
from edgehar.data.locate import ARCHIVE_NAME, cache_home
from edgehar.data.text import parse_numbers
from edgehar.errors import DataError, excerpt
from edgehar.spec import ACTIVITIES, UCI_CHANNELS, WINDOW

SPLITS = ("train", "test")
ROOT = "UCI HAR Dataset"
LABELS_FILE = "activity_labels.txt"
SUBJECTS = (1, 30)
MAX_FILE_BYTES = 256 << 20
"""The largest data file or zip member read (the largest UCI HAR file is about 60 MB)."""
MAX_LABELS_BYTES = 64 << 10
CACHE_BYTES = 1 << 30
"""The parsed-dataset cache keeps its most recently used entries up to this size."""
_CACHE_VERSION = 2


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
    key = _digest([_CACHE_VERSION, split, text.content_sha256(split_files(split))])
    cache = cache_home() / "uci" / f"{key}.npz"
    cached = _read_cache(cache, str(source))
    if cached is not None:
        return cached
    windows = _parse_split(text, split, str(source))
    _write_cache(cache, windows)
    return windows


def read_original(source: Path, rel: str) -> bytes:
    """The bytes of one file of the original text layout (``rel`` relative to ``UCI HAR Dataset/``)
    in the zip, the archive that wraps it, or the extracted folder ``source``."""
    return _open_text_source(Path(source)).read(rel)


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
            _check_npz_sizes(f.zip, path)
            X, y, subject = f["X"], f["y"], f["subject"]
            channels = tuple(f["channels"].tolist()) if "channels" in f.files else UCI_CHANNELS
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as err:
        raise DataError(f"{path}: not a readable npz file ({excerpt(str(err), 120)})") from None
    return _checked_windows(X, y, subject, channels, str(path), str(path.parent))


def _check_npz_sizes(zf: zipfile.ZipFile, path: Path) -> None:
    for info in zf.infolist():
        if info.file_size > 4 * MAX_FILE_BYTES:
            raise DataError(f"{path}: {info.filename} holds {info.file_size:,} bytes, "
                            f"more than the {4 * MAX_FILE_BYTES:,} edgehar reads")


def _checked_windows(X, y, subject, channels, where: str, source: str) -> HarWindows:
    """Arrays from a file (an npz, the cache) as HarWindows, or a DataError naming the problem."""
    for name, array, ndim in (("X", X, 3), ("y", y, 1), ("subject", subject, 1)):
        if array.dtype.kind not in "iuf":
            raise DataError(f"{where}: {name} holds {array.dtype} values, not real numbers")
        if array.ndim != ndim:
            raise DataError(f"{where}: {name} has {array.ndim} dimensions (shape {array.shape}), "
                            f"expected {ndim}")
    if X.shape[1:] != (WINDOW, len(UCI_CHANNELS)):
        raise DataError(f"{where}: X has shape {X.shape}, expected (N, {WINDOW}, {len(UCI_CHANNELS)})")
    if channels != UCI_CHANNELS:
        raise DataError(f"{where}: channels {excerpt(channels, 200)} differ from {UCI_CHANNELS}")
    if not (len(X) == len(y) == len(subject)):
        raise DataError(f"{where}: X, y and subject have {len(X)}, {len(y)} and {len(subject)} rows")
    with np.errstate(over="ignore", invalid="ignore"):
        X32 = X.astype(np.float32)
    bad = np.flatnonzero(~np.isfinite(X32).all(axis=(1, 2)))
    if len(bad):
        value = X[bad[0]][~np.isfinite(X32[bad[0]])][0]
        raise DataError(f"{where}: X[{bad[0]}] holds {value:g}, not a finite float32 value")
    for name, values, (lo, hi) in (("y", y, (1, len(ACTIVITIES))), ("subject", subject, SUBJECTS)):
        row = _first_bad_id(values, lo, hi)
        if row is not None:
            raise DataError(f"{where}: {name}[{row}] = {values[row]} is not an integer in {lo}..{hi}")
    return HarWindows(X32, y.astype(np.int64), subject.astype(np.int64), source)


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
        limit = _limit(rel)
        try:
            with open(self.root / rel, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                data = f.read(limit + 1) if size <= limit else b""
        except FileNotFoundError:
            raise DataError(f"{self.where(rel)}: file not found") from None
        except OSError as err:
            raise DataError(f"{self.where(rel)}: cannot read ({err.strerror})") from None
        if size > limit or len(data) > limit:
            raise _too_large(self.where(rel), max(size, len(data)), limit)
        return data

    def content_sha256(self, rels: list[str]) -> str:
        """The SHA-256 of the files ``rels`` (a missing one fails later, when it is read)."""
        present = [self.root / rel for rel in rels if (self.root / rel).is_file()]
        return _digest([[p.name for p in present], sha256_of(*present)])


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
            inner = _read_member(self.outer, self.nested, where, MAX_FILE_BYTES)
            self._zip = _open_zip(io.BytesIO(inner), where)
            self.prefix = _dataset_prefix(self._zip)
            if self.prefix is None:
                raise DataError(f"{where}: holds no '{ROOT}/{LABELS_FILE}'")
        return self._zip

    def where(self, rel: str) -> str:
        inner = f":{self.nested}" if self.nested else ""
        return f"{self.path}{inner}:{self.prefix or ''}{rel}"

    def read(self, rel: str) -> bytes:
        members = self._members()
        return _read_member(members, self.prefix + rel, self.where(rel), _limit(rel))

    def content_sha256(self, rels: list[str]) -> str:
        """The SHA-256 of the whole zip file."""
        return sha256_of(self.path)


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


def _limit(rel: str) -> int:
    return MAX_LABELS_BYTES if rel == LABELS_FILE else MAX_FILE_BYTES


def _too_large(where: str, size: int, limit: int) -> DataError:
    return DataError(f"{where}: {size:,} bytes or more, larger than the {limit:,} this file may have")


def _read_member(zf: zipfile.ZipFile, name: str, where: str, limit: int) -> bytes:
    """A zip member's content, never inflating more than ``limit`` bytes of it."""
    try:
        info = zf.getinfo(name)
    except KeyError:
        raise DataError(f"{where}: file not found in the zip") from None
    if info.file_size > limit:
        raise _too_large(where, info.file_size, limit)
    try:
        with zf.open(info) as member:
            data = member.read(limit + 1)
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error, NotImplementedError) as err:
        raise DataError(f"{where}: corrupt zip member ({excerpt(str(err), 120)})") from None
    if len(data) > limit:
        raise _too_large(where, len(data), limit)
    return data


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
    tables = {rel: _float32_table(text.read(rel), text.where(rel)) for rel in channel_files}
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


def _float32_table(data: bytes, where: str) -> np.ndarray:
    """A signal file's rows of ``WINDOW`` numbers, each of which must fit a float32."""
    table = parse_numbers(data, WINDOW, where)
    too_large = np.argwhere(np.abs(table) > np.finfo(np.float32).max)
    if len(too_large):
        row, column = too_large[0]
        raise DataError(f"{where}, line {row + 1}, column {column + 1}: {table[row, column]:g} "
                        "is too large for a float32")
    return table


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
                            f"found {excerpt(' '.join(found)) if found else 'nothing'}")
    if len(lines) > len(ACTIVITIES):
        raise DataError(f"{where}, line {len(ACTIVITIES) + 1}: expected only the "
                        f"{len(ACTIVITIES)} classes {', '.join(ACTIVITIES)}")


# -- cache --------------------------------------------------------------------------------------

def _digest(obj) -> str:
    return hashlib.sha256(json.dumps(obj).encode()).hexdigest()[:32]


def _read_cache(path: Path, source: str) -> HarWindows | None:
    """The cached windows at ``path`` if it exists and holds sound windows, else None."""
    try:
        with np.load(path, allow_pickle=False) as f:
            windows = _checked_windows(f["X"], f["y"], f["subject"], UCI_CHANNELS, str(path), source)
        os.utime(path)  # recently used: pruned last
        return windows
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error, DataError):
        return None


def _write_cache(path: Path, windows: HarWindows) -> None:
    buffer = io.BytesIO()
    np.savez(buffer, X=windows.X, y=windows.y, subject=windows.subject)
    try:
        write_bytes(path, buffer.getvalue())
        prune_cache(path.parent, CACHE_BYTES)
    except OSError:
        pass  # an unwritable cache only costs speed


def prune_cache(folder: Path, limit: int) -> None:
    """Remove the least recently used entries of ``folder`` until it holds at most ``limit`` bytes."""
    entries = sorted(folder.glob("*.npz"), key=lambda p: p.stat().st_mtime_ns, reverse=True)
    total = 0
    for entry in entries:
        total += entry.stat().st_size
        if total > limit:
            entry.unlink(missing_ok=True)
