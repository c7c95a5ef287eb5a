"""``edgehar review DIR``: the recordings of a folder, each with its signals, its label bands and
the model's own labels beneath; labels corrected on the page are saved back to the recording.

A correction rewrites ``NAME.csv`` through the recorder's crash-safe :class:`CsvWriter` (a new
file beside it, fsync'd, then renamed over it: a crash leaves the old or the new file whole, never
half of one), keeps the previous version as ``.NAME.csv.undo-N`` (and ``.NAME.json.undo-N``) for
:meth:`Review.undo`, and updates the sidecar's label counts. Sample values are written back
exactly (the shortest text of the same float); only labels change. Undo keeps the version it
replaces as ``.NAME.csv.redo-N`` for :meth:`Review.redo`; a new correction drops those.

Recordings served: ``NAME.csv[.gz]`` (edgehar's format) and the experiments of HAPT ``RawData``
layouts (``acc_expNN_userMM.txt[.gz]``) under the folder, the latter read-only (their labels are
the dataset's ``labels.txt``). A name from the page is resolved and must stay inside the folder,
be a regular file, and not be hidden.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from edgehar import atomic
from edgehar.bundle import Bundle
from edgehar.data.recordings import (
    CSV_SUFFIXES,
    HAPT_ACC,
    Recording,
    bundle_class_map,
    hapt_files,
    is_hapt_folder,
    read_hapt_labels,
    read_hapt_recordings,
    read_recording,
    read_recording_rows,
)
from edgehar.data.sidecar import read_sidecar, recording_stem, sidecar_path
from edgehar.errors import DataError, EdgeharError
from edgehar.runtime.recorder import CsvWriter, Tally
from edgehar.runtime.smoothing import make_smoother
from edgehar.runtime.sources import Chunk
from edgehar.runtime.stream import Streamer, run
from edgehar.services.web.server import HttpError, Request, page
from edgehar.spec import HAPT_ACTIVITIES, LABEL_NAME, RECORDING_FORMAT, SAMPLE_RATE_HZ

DISPLAY_POINTS = 4000
"""Points per channel a view of the signals gets (min and max of 2,000 buckets): a 60-minute
recording (180,000 samples) is sent whole only when zoomed in to under 80 s."""
STREAM_CHUNK = 2000
VERSION = re.compile(r"\.(?P<stem>.+)\.csv\.(?P<kind>undo|redo)-(?P<n>\d+)")
"""A kept version of ``stem.csv``: before a correction (undo) or before an undo (redo)."""
HAPT_READ_ONLY = ("a HAPT RawData experiment: its labels are the dataset's labels.txt, not changed here; "
                  "to correct them, make recordings of it (tools/hapt_to_recordings.py --out DIR) and "
                  "review DIR")


@dataclass
class Predictions:
    """The model's windows over one recording, as ``edgehar stream`` makes them."""

    t_start: np.ndarray
    t_end: np.ndarray
    label: np.ndarray
    """Class index of each window's top probability."""
    confidence: np.ndarray
    smoothed: np.ndarray


def predict(bundle: Bundle, recording: Recording, variant: str) -> Predictions:
    """Stream ``recording`` through the live runtime (the bundle's window, hop and smoothing)."""
    streamer = Streamer.from_bundle(bundle, variant, smoother=make_smoother(bundle.smoothing, bundle))
    results = []
    chunks = (Chunk(recording.t[i:i + STREAM_CHUNK], recording.raw[i:i + STREAM_CHUNK])
              for i in range(0, len(recording), STREAM_CHUNK))
    run(streamer, chunks, results.append)
    classes = list(bundle.classes)
    return Predictions(t_start=np.array([r.t_start for r in results]),
                       t_end=np.array([r.t_end for r in results]),
                       label=np.array([classes.index(r.label) for r in results], dtype=int),
                       confidence=np.array([r.confidence for r in results]),
                       smoothed=np.array([classes.index(r.smoothed) for r in results], dtype=int))


def label_runs(recording: Recording) -> list[list]:
    """[t_start, t_end, label] of every run of one label (unlabelled left out); t_end is the
    next sample's time (or the last plus one period)."""
    codes = recording.labels
    if not len(codes):
        return []
    edges = np.flatnonzero(np.diff(codes)) + 1
    starts, ends = np.r_[0, edges], np.r_[edges, len(codes)]
    period = 1 / recording.rate_hz
    t_after = np.r_[recording.t[1:], recording.t[-1] + period]
    return [[round(float(recording.t[a]), 3), round(float(t_after[b - 1]), 3),
             recording.label_names[codes[a] - 1]] for a, b in zip(starts, ends, strict=True) if codes[a]]


def decimate(t: np.ndarray, x: np.ndarray, points: int = DISPLAY_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """At most ``points`` rows of (t, x): each bucket's minimum and maximum per channel, in time
    order, so that peaks survive."""
    if len(t) <= points:
        return t, x
    buckets = points // 2
    size = len(t) // buckets
    n = buckets * size
    tb = t[:n].reshape(buckets, size)
    xb = x[:n].reshape(buckets, size, -1)
    out_t = np.column_stack([tb[:, 0], tb[:, size // 2]]).reshape(-1)
    out_x = np.stack([xb.min(axis=1), xb.max(axis=1)], axis=1).reshape(-1, x.shape[1])
    return out_t, out_x


class Review:
    """The recordings of ``folder``, the bundle's predictions over them, and corrections."""

    def __init__(self, folder: Path, bundle: Bundle, variant: str = "int8"):
        self.folder = Path(folder).resolve()
        if not self.folder.is_dir():
            raise DataError(f"{folder}: no such folder of recordings")
        self.bundle, self.variant = bundle, variant
        self.class_map = bundle_class_map(bundle)
        self._recordings: dict[Path, tuple[int, Recording]] = {}
        self._predictions: dict[Path, tuple[int, Predictions]] = {}
        self._lock = threading.Lock()
        """Held while a recording is read, predicted or rewritten (requests come on many threads)."""

    # Paths

    def path(self, name: str) -> Path:
        """The recording ``name`` (relative to the folder), checked: inside the folder, a regular
        file, a CSV recording, no hidden part."""
        path = (self.folder / name).resolve()
        if not path.is_relative_to(self.folder) or path == self.folder:
            raise HttpError(403, f"{name!r} is outside the folder")
        relative = path.relative_to(self.folder)
        if any(part.startswith(".") for part in relative.parts) or not (
                path.name.endswith(CSV_SUFFIXES) or _is_hapt(path)):
            raise HttpError(404, f"{name!r} is not a recording of the folder")
        if not path.is_file():
            raise HttpError(404, f"{name!r}: no such recording")
        return path

    def listing(self) -> list[dict]:
        """Every recording under the folder: CSV recordings with what their sidecars say (no CSV
        is parsed), HAPT experiments with their labels.txt's seconds per label."""
        found = []
        for root, dirs, names in os.walk(self.folder):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            if is_hapt_folder(Path(root)):
                found += self._hapt_listing(Path(root))
            for name in sorted(names):
                if name.startswith(".") or not name.endswith(CSV_SUFFIXES):
                    continue
                path = Path(root) / name
                if not path.is_file():
                    continue
                try:
                    side = read_sidecar(sidecar_path(path))
                    error = ""
                except DataError as err:
                    side, error = {}, str(err)
                found.append({"name": str(path.relative_to(self.folder)), "subject": side.get("subject", ""),
                              "session": side.get("session", ""), "seconds": side.get("seconds"),
                              "samples": side.get("samples"), "labels": side.get("label_seconds", {}),
                              "unlabelled_seconds": side.get("unlabelled_seconds"),
                              "bytes": path.stat().st_size, "undo": len(self._versions(path, "undo")),
                              "error": error})
        return found

    def _hapt_listing(self, raw_dir: Path) -> list[dict]:
        try:
            segments, error = read_hapt_labels(raw_dir / "labels.txt"), ""
        except DataError as err:
            segments, error = [], str(err)
        found = []
        for experiment, path in hapt_files(raw_dir).items():
            seconds: dict[str, float] = {}
            for s in segments:
                if s.experiment == experiment:
                    label = HAPT_ACTIVITIES[s.activity - 1]
                    seconds[label] = seconds.get(label, 0.0) + (s.end - s.start) / SAMPLE_RATE_HZ
            found.append({"name": str(path.relative_to(self.folder)),
                          "subject": str(int(HAPT_ACC.fullmatch(path.name)[2])), "session": str(experiment),
                          "seconds": None, "samples": None, "labels": seconds,
                          "unlabelled_seconds": None, "bytes": path.stat().st_size, "undo": 0,
                          "error": error, "read_only": HAPT_READ_ONLY})
        return found

    # Reading

    def recording(self, path: Path) -> Recording:
        hapt = _is_hapt(path)
        stamp = (path.stat().st_mtime_ns, (path.parent / "labels.txt").stat().st_mtime_ns if hapt else 0)
        cached = self._recordings.get(path)
        if cached and cached[0] == stamp:
            return cached[1]
        if hapt:
            experiment = int(HAPT_ACC.fullmatch(path.name)[1])
            recording = read_hapt_recordings(path.parent, experiments=[experiment])[0]
        else:
            recording = read_recording(path)
        self._recordings[path] = (stamp, recording)
        return recording

    def predictions(self, path: Path, recording: Recording) -> Predictions:
        """The model's windows; kept while the samples stay the same (a label change keeps them)."""
        key = hash((recording.t.tobytes(), recording.raw.tobytes()))
        cached = self._predictions.get(path)
        if cached and cached[0] == key:
            return cached[1]
        predictions = predict(self.bundle, recording, self.variant)
        self._predictions[path] = (key, predictions)
        return predictions

    def label_choices(self, recording: Recording, side: dict) -> list[str]:
        """The labels a stretch can get: the recording's, its sidecar's keys and the model's class labels."""
        names = [*recording.label_names, *side.get("labels", []), *self.class_map.labels]
        return [n for n in dict.fromkeys(names) if isinstance(n, str) and LABEL_NAME.fullmatch(n)]

    def overview(self, name: str) -> dict:
        """A recording: its signals decimated, its label runs, the labels it may take."""
        with self._lock:
            path = self.path(name)
            recording = self.recording(path)
            side = _sidecar(path)
        t, x = decimate(recording.t, recording.raw)
        of = self.class_map.labels
        choices = self.label_choices(recording, side)
        return {"name": name, "samples": len(recording), "rate_hz": recording.rate_hz,
                "t0": float(recording.t[0]), "t1": float(recording.t[-1]),
                "subject": recording.subject, "session": recording.session,
                "classes": list(self.bundle.classes), "model": self.bundle.name,
                "choices": choices, "label_class": {n: self.bundle.classes.index(of[n]) if n in of else -1
                                                    for n in choices},
                "labels": label_runs(recording), "signal": _signal_json(t, x),
                "read_only": self._read_only_reason(path, side),
                "undo": len(self._versions(path, "undo")), "redo": len(self._versions(path, "redo"))}

    def signal(self, name: str, start: float, end: float) -> dict:
        with self._lock:
            recording = self.recording(self.path(name))
        a, b = np.searchsorted(recording.t, [start, end])
        a, b = max(a - 1, 0), min(b + 1, len(recording))
        return _signal_json(*decimate(recording.t[a:b], recording.raw[a:b]))

    def model_labels(self, name: str) -> dict:
        """The model's windows and the stretches where they disagree with the recording's labels."""
        with self._lock:
            path = self.path(name)
            recording = self.recording(path)
        predictions = self.predictions(path, recording)  # seconds for a long recording: not locked
        return {"t_start": _round(predictions.t_start), "t_end": _round(predictions.t_end),
                "label": predictions.label.tolist(), "smoothed": predictions.smoothed.tolist(),
                "confidence": np.round(predictions.confidence, 3).tolist(),
                "disagreements": self.disagreements(recording, predictions)}

    def disagreements(self, recording: Recording, predictions: Predictions) -> list[dict]:
        """Stretches of windows lying inside one labelled class whose model label is another
        class; overlapping windows merge into one stretch."""
        codes = self.class_map.codes(recording)
        a = np.searchsorted(recording.t, predictions.t_start - 1e-9)
        b = np.searchsorted(recording.t, predictions.t_end - 1e-9)
        stretches: list[dict] = []
        for i in range(len(a)):
            window = codes[a[i]:b[i]]
            if not len(window) or window[0] == 0 or (window != window[0]).any():
                continue
            truth = int(window[0]) - 1
            if predictions.label[i] == truth:
                continue
            last = stretches[-1] if stretches else None
            if last and last["truth"] == truth and predictions.t_start[i] <= last["end"]:
                last["end"] = float(predictions.t_end[i])
                last["windows"] += 1
                last["predicted"].add(int(predictions.label[i]))
            else:
                stretches.append({"start": float(predictions.t_start[i]), "end": float(predictions.t_end[i]),
                                  "truth": truth, "predicted": {int(predictions.label[i])}, "windows": 1})
        return [{**s, "start": round(s["start"], 3), "end": round(s["end"], 3),
                 "predicted": sorted(s["predicted"])} for s in stretches]

    # Writing

    def _read_only_reason(self, path: Path, side: dict) -> str:
        if _is_hapt(path):
            return HAPT_READ_ONLY
        if not path.name.endswith(".csv"):
            return "a compressed recording: decompress it (gunzip) to correct its labels"
        if "started" in side and "ended" not in side:
            return ("its sidecar says it is still being recorded (or recording was cut short): "
                    "corrections wait until `record` has finished it")
        return ""

    @staticmethod
    def _versions(path: Path, kind: str) -> list[Path]:
        """The kept versions of ``path`` of ``kind`` ('undo' or 'redo'), oldest first."""
        stem = recording_stem(path)
        versions = [(int(m["n"]), p) for p in path.parent.glob(f".{stem}.csv.{kind}-*")
                    if (m := VERSION.fullmatch(p.name)) and m["stem"] == stem]
        return [p for _, p in sorted(versions)]

    def _keep(self, path: Path, kind: str) -> None:
        """Keep the current ``path`` (and its sidecar, if any) as the newest version of ``kind``."""
        versions = self._versions(path, kind)
        n = int(VERSION.fullmatch(versions[-1].name)["n"]) + 1 if versions else 1
        stem = recording_stem(path)
        _link(path, path.with_name(f".{stem}.csv.{kind}-{n}"))
        if sidecar_path(path).exists():
            _link(sidecar_path(path), path.with_name(f".{stem}.json.{kind}-{n}"))

    def _restore(self, path: Path, kept: Path) -> None:
        """Put the kept version ``kept`` (and its sidecar, or none) back as ``path``."""
        side = kept.with_name(re.sub(r"\.csv\.(undo|redo)-", r".json.\1-", kept.name))
        if side.exists():
            os.replace(side, sidecar_path(path))
        else:  # the recording had no sidecar then
            sidecar_path(path).unlink(missing_ok=True)
        os.replace(kept, path)
        atomic.fsync_dir(path.parent)
        self._recordings.pop(path, None)

    def relabel(self, name: str, start: float, end: float, label: str) -> dict:
        """Give the samples with ``start <= t < end`` the label ``label`` ('' = unlabelled)."""
        if label and not LABEL_NAME.fullmatch(label):
            raise HttpError(400, f"label {label!r} is not a name of 1-64 characters A-Z a-z 0-9 _ . -")
        if not end > start:
            raise HttpError(400, f"the stretch {start}..{end} s is empty")
        with self._lock:
            path = self.path(name)
            side_path = sidecar_path(path)
            side = _sidecar(path)
            if reason := self._read_only_reason(path, side):
                raise HttpError(409, f"{name}: {reason}")
            t, values, labels = read_recording_rows(path)
            inside = (t >= start) & (t < end)
            if not inside.any():
                raise HttpError(400, f"no sample of {name} lies in {start}..{end} s")
            labels[inside] = label
            self._rewrite(path, side_path, t, values, labels.tolist(), {
                "at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "start": start, "end": end,
                "label": label, "samples": int(inside.sum())})
        return self.overview(name)

    def _rewrite(self, path: Path, side_path: Path, t, values, labels: list[str], correction: dict) -> None:
        """Replace the recording by the corrected rows, keeping the current version for undo. A save
        that fails (a read-only folder, a full disk) leaves the recording, its sidecar and the undo
        versions as they were: an HTTP 507 naming the recording."""
        tmp = path.with_name(f".{path.name}.review.tmp")
        undos = set(self._versions(path, "undo"))
        writer = None
        try:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()  # what a crashed save left
            writer = CsvWriter(tmp)
            try:
                for i in range(0, len(t), 10_000):
                    writer.write(t[i:i + 10_000], values[i:i + 10_000], labels[i:i + 10_000])
            finally:
                writer.close()
            self._keep(path, "undo")
        except (OSError, EdgeharError) as err:
            for leftover in (tmp, *_with_sidecars(set(self._versions(path, "undo")) - undos)):
                with contextlib.suppress(OSError):
                    leftover.unlink()
            cause = writer.failed if writer is not None and writer.failed else err
            reason = getattr(cause, "strerror", None) or "cannot write"
            raise HttpError(507, f"{path}: the correction was not saved ({reason}); "
                                 "the recording is unchanged") from None
        for kept in _with_sidecars(self._versions(path, "redo")):  # what was undone stays undone
            kept.unlink(missing_ok=True)
        os.replace(tmp, path)
        atomic.fsync_dir(path.parent)
        self._recordings.pop(path, None)
        atomic.write_json(side_path, _sidecar_after(read_sidecar(side_path) if side_path.exists() else {},
                                                    side_path, t, labels, correction))

    def undo(self, name: str) -> dict:
        """Put back the version before the last correction (the current one is kept for redo)."""
        return self._step(name, "undo", "redo")

    def redo(self, name: str) -> dict:
        """Put back the version the last undo replaced (the current one is kept for undo)."""
        return self._step(name, "redo", "undo")

    def _step(self, name: str, back: str, keep: str) -> dict:
        with self._lock:
            path = self.path(name)
            if reason := self._read_only_reason(path, _sidecar(path)):
                raise HttpError(409, f"{name}: {reason}")
            versions = self._versions(path, back)
            if not versions:
                raise HttpError(409, f"{name}: nothing to {back}")
            self._keep(path, keep)
            self._restore(path, versions[-1])
        return self.overview(name)

    def routes(self) -> dict:
        return {
            ("GET", "/"): lambda request: page("review.html", request,
                                               title=f"edgehar review {self.folder.name}"),
            ("GET", "/api/recordings"): lambda request: {
                "folder": str(self.folder), "model": self.bundle.name, "recordings": self.listing()},
            ("GET", "/api/recording"): lambda request: self.overview(request.param("name")),
            ("GET", "/api/signal"): lambda request: self.signal(
                request.param("name"), _number(request, "start"), _number(request, "end")),
            ("GET", "/api/model"): lambda request: self.model_labels(request.param("name")),
            ("POST", "/api/label"): self._post_label,
            ("POST", "/api/undo"): lambda request: self.undo(str(request.json().get("name", ""))),
            ("POST", "/api/redo"): lambda request: self.redo(str(request.json().get("name", ""))),
        }

    def _post_label(self, request: Request) -> dict:
        body = request.json()
        try:
            start, end = float(body["start"]), float(body["end"])
            label, name = str(body.get("label") or ""), str(body["name"])
        except (KeyError, TypeError, ValueError) as err:
            raise HttpError(400, f"expected {{name, start, end, label}}: {err}") from None
        return self.relabel(name, start, end, label)


def _is_hapt(path: Path) -> bool:
    """An experiment's acc file in a HAPT RawData layout."""
    return bool(HAPT_ACC.fullmatch(path.name)) and is_hapt_folder(path.parent)


def _with_sidecars(versions) -> list[Path]:
    """Kept versions of a recording (``.NAME.csv.undo-N``) with their sidecars' (``.NAME.json.undo-N``)."""
    def sidecar(kept: Path) -> Path:
        head, _, tail = kept.name.rpartition(".csv.")
        return kept.with_name(f"{head}.json.{tail}")

    return [p for kept in versions for p in (kept, sidecar(kept))]


def _sidecar(path: Path) -> dict:
    """A CSV recording's sidecar ({} for a HAPT experiment: its facts come from the layout)."""
    return {} if _is_hapt(path) else read_sidecar(sidecar_path(path))


def _link(path: Path, kept: Path) -> None:
    """``kept`` becomes a second name of ``path``'s current file (a copy where links are not possible)."""
    try:
        os.link(path, kept)
    except OSError:
        shutil.copy2(path, kept)


def _sidecar_after(side: dict, side_path: Path, t: np.ndarray, labels: list[str], correction: dict) -> dict:
    """The sidecar with the label counts of ``labels`` and the correction appended to its list."""
    tally = Tally()
    tally.add(t, labels)
    totals = tally.totals()
    counts = {k: totals[k] for k in ("label_samples", "label_seconds", "unlabelled", "unlabelled_seconds")}
    label = correction["label"]
    names = list(side.get("labels", []))
    if label and label not in names:
        names.append(label)
    return {"format": RECORDING_FORMAT, **side, **counts, "labels": names,
            "corrections": [*side.get("corrections", []), correction]}


def _round(values) -> list:
    return np.round(np.asarray(values, dtype=np.float64), 3).tolist()


def _signal_json(t: np.ndarray, x: np.ndarray) -> dict:
    return {"t": _round(t), "x": np.round(x.T, 4).tolist()}


def _number(request: Request, name: str) -> float:
    try:
        return float(request.param(name))
    except ValueError:
        raise HttpError(400, f"parameter {name} is not a number") from None
