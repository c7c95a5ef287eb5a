"""Capture a live source to a labelled recording (format ``edgehar.recording/1``).

A recording is ``NAME.csv`` (header ``t,ax,ay,az,gx,gy,gz,label``; samples exactly as the source
delivered them after its unit and axes conversion, i.e. in g and rad/s) and the sidecar
``NAME.json`` (what was recorded, from where, by whom; its totals once the recording stops).

Crash safety: rows are written to the file as they arrive (a killed process loses nothing it
had read) and fsync'd at least every :data:`SYNC_EVERY_S`, so a power cut loses at most the last
second; the sidecar is written atomically when recording starts and again when it stops. A
write that fails (disk full) cuts the file back to its last whole line and ends the recording
with ``end: "error"`` and the reason in ``detail``; a recording that cannot start leaves no file.

Timestamps: a sample whose timestamp jumps ahead waits for the next one to confirm it; a stray
(followed by an earlier one) is dropped alone, as ``edgehar stream`` drops it.

Labels: the current label (``--label``, or the key pressed last) goes with every sample that
arrives after it was set; keys are read from the controlling terminal, so they work while
stdin carries the data. A source's own label column is kept where no label is set.

Nothing here imports TensorFlow or pandas: this runs on the Pi.
"""

from __future__ import annotations

import contextlib
import math
import os
import select
import shutil
import signal
import sys
import termios
import threading
import time
import tty
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from edgehar import atomic
from edgehar.errors import EdgeharError, OptionError
from edgehar.runtime.sources import LABELLED_HEADER, Chunk, SourceStopped
from edgehar.spec import LABEL_NAME, RECORDING_FORMAT, SAMPLE_RATE_HZ

SYNC_EVERY_S = 1.0
"""The longest time written rows stay without an fsync: what a power cut can lose."""
RESYNC_AFTER = 25
MAX_GAP_S = 0.1
"""A sample further than this ahead of the last one waits for the next to confirm it (as in
``edgehar stream`` with its default ``--max-gap``)."""
"""After this many samples in a row whose timestamps do not move forward the source's clock is
taken to have restarted (a device reboot): later timestamps are shifted to continue the recording."""
STATUS_EVERY_S = 0.25
MAX_KEYS = 9
KEYS_TTY = "/dev/tty"


def check_name(value: str, what: str) -> str:
    """``value`` if it is a valid name (:data:`LABEL_NAME`), else an OptionError naming ``what``."""
    if not LABEL_NAME.fullmatch(value):
        raise OptionError(f"{what} {value!r}: use 1 to 64 letters, digits, '_', '.' or '-', "
                          "not starting with '.' or '-'")
    return value


def parse_keys(spec: str | None) -> tuple[str, ...]:
    """``"walking,sitting"`` -> the labels of keys 1, 2, ... (at most 9, each valid, no repeats)."""
    if not spec:
        return ()
    names = tuple(check_name(name.strip(), "--keys label") for name in spec.split(","))
    if len(names) > MAX_KEYS:
        raise OptionError(f"--keys names {len(names)} labels; keys 1..9 take at most {MAX_KEYS}")
    if len(set(names)) < len(names):
        raise OptionError(f"--keys {spec!r}: a label is named twice")
    return names


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def default_session(now: datetime) -> str:
    """A session name from the start time, usable in a file name: 2026-11-29T10-15-00."""
    return now.strftime("%Y-%m-%dT%H-%M-%S")


@dataclass(frozen=True)
class Session:
    """What the sidecar says about a recording before its first sample."""

    source: str
    subject: str = ""
    session: str = ""
    device: str = ""
    axes: str = "x,y,z"
    source_units: tuple[str, str] = ("g", "rads")
    """The source's units (acceleration, angular velocity) before conversion to g and rad/s."""
    keys: tuple[str, ...] = ()
    label: str = ""
    """The label of the whole session (``--label``), '' for none."""
    started: datetime = field(default_factory=utc_now)

    def __post_init__(self):
        for what, value in (("--subject", self.subject), ("--session", self.session),
                            ("--label", self.label)):
            if value:
                check_name(value, what)

    @property
    def session_name(self) -> str:
        return self.session or default_session(self.started)

    def name(self, name: str | None = None) -> str:
        """The recording's file stem: ``name``, else ``<subject>-<session>`` (or the session)."""
        if name:
            return check_name(name, "--name")
        return f"{self.subject}-{self.session_name}" if self.subject else self.session_name

    def sidecar(self) -> dict:
        labels = (*self.keys, self.label) if self.label and self.label not in self.keys else self.keys
        return {"format": RECORDING_FORMAT, "rate_hz": SAMPLE_RATE_HZ, "units": {"acc": "g", "gyro": "rads"},
                "axes": self.axes,
                "source_units": {"acc": self.source_units[0], "gyro": self.source_units[1]},
                "subject": self.subject, "session": self.session_name, "device": self.device,
                "source": self.source, "started": self.started.isoformat(timespec="seconds"),
                "labels": list(labels)}


class CsvWriter:
    """Appends rows to a new CSV file as they come, each batch in whole lines with one
    ``os.write`` (nothing waits in a buffer of this process); a thread fsyncs what was written
    every SYNC_EVERY_S, also while the source pauses, without holding up the writes.

    A write that fails (disk full, file size limit) is cut back to the last whole line and raised
    as an EdgeharError naming the file; the file is never left holding a torn line.
    Nothing is left behind when the file cannot even be started."""

    def __init__(self, path: Path):
        self.path, self.size, self.failed = path, 0, None
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # never overwrites
        try:
            self._write((",".join(LABELLED_HEADER) + "\n").encode())
            if self.failed:
                raise self.error()
            os.fsync(self.fd)
            atomic.fsync_dir(path.parent)
        except BaseException:
            os.close(self.fd)
            path.unlink()
            raise
        self._dirty, self._closing = False, threading.Event()
        self._syncer = threading.Thread(target=self._sync_every_second, name="record-sync", daemon=True)
        self._syncer.start()

    def write(self, t: np.ndarray, x: np.ndarray, labels: list[str]) -> int:
        """Rows ``t, x[0..5], label``; floats in their shortest exact form. Returns how many rows
        are in the file: all of them, or after a failed write (then :attr:`failed` is set) the
        whole lines written before it."""
        lines = "".join(f"{ti!r},{','.join(map(repr, xi))},{label}\n"
                        for ti, xi, label in zip(t.tolist(), x.tolist(), labels, strict=True)).encode()
        written = self._write(lines)
        self._dirty = True
        return len(t) if written == len(lines) else lines.count(b"\n", 0, written)

    def close(self) -> None:
        """Stop the syncer, sync and close; an EdgeharError when a sync failed."""
        self._closing.set()
        self._syncer.join()
        try:
            os.fsync(self.fd)
        except OSError as err:
            self.failed = self.failed or err
        os.close(self.fd)
        if self.failed:
            raise self.error()

    def _sync_every_second(self) -> None:
        while not self._closing.wait(SYNC_EVERY_S):
            if self._dirty:
                self._dirty = False
                try:
                    os.fsync(self.fd)
                except OSError as err:  # reported by the next write or by close()
                    self.failed = err
                    return

    def _write(self, data: bytes) -> int:
        """Write ``data``; after a failed write, cut the file back to its last whole line and keep
        the error in :attr:`failed`. Returns how many bytes of ``data`` the file keeps."""
        if self.failed:
            raise self.error()
        written = 0
        try:
            while written < len(data):
                written += os.write(self.fd, data[written:])
        except OSError as err:
            self.failed = err
            written = data.rfind(b"\n", 0, written) + 1
            with contextlib.suppress(OSError):
                os.ftruncate(self.fd, self.size + written)
        self.size += written
        return written

    def error(self) -> EdgeharError:
        """The one-line error of the failed write or sync."""
        return EdgeharError(f"{self.path}: cannot write ({self.failed.strerror or self.failed})")


class Timeline:
    """Keeps timestamps strictly increasing, as the format requires, and keeps every good sample.

    A sample that does not move forward is dropped (``t_not_increasing``), unless RESYNC_AFTER of
    them in a row say the source's clock restarted: then this and later timestamps are shifted to
    continue 1/50 s after the last one kept. A sample that jumps ahead by more than MAX_GAP_S is
    held back until the next one confirms it (comes after it, within MAX_GAP_S); when the next
    one is earlier, the held ones were stray timestamps and are dropped (``stray_timestamp``), as
    ``edgehar stream`` drops them. Each sample carries a payload (its row and label) through."""

    def __init__(self, dropped: Counter):
        self.last = -math.inf
        self.offset, self.behind, self.restarts = 0.0, 0, 0
        self.dropped = dropped
        self.held: list[tuple[float, object]] = []

    def keep(self, t: np.ndarray, payloads: Iterable) -> list[tuple[float, object]]:
        """The (timestamp, payload) of the samples kept so far, in order; held ones come later."""
        out: list[tuple[float, object]] = []
        for ti, payload in zip(t.tolist(), payloads, strict=True):
            self._one(ti + self.offset, payload, out)
        return out

    def flush(self) -> list[tuple[float, object]]:
        """At the end of the recording: the samples still held back, accepted."""
        out, self.held = self.held, []
        if out:
            self.last = out[-1][0]
        return out

    def _one(self, ti: float, payload, out: list) -> None:
        if self.held:
            top = self.held[-1][0]
            if ti > top:
                self.held.append((ti, payload))
                if ti - top <= MAX_GAP_S or len(self.held) > RESYNC_AFTER:  # confirmed: a real gap
                    out += self.flush()
                return
            self.dropped["stray_timestamp"] += len(self.held)
            self.held = []
        if ti <= self.last:
            self.behind += 1
            if self.behind < RESYNC_AFTER:
                self.dropped["t_not_increasing"] += 1
                return
            self.offset += self.last + 1 / SAMPLE_RATE_HZ - ti
            ti, self.restarts = self.last + 1 / SAMPLE_RATE_HZ, self.restarts + 1
        elif ti - self.last > MAX_GAP_S and self.last > -math.inf:
            self.held.append((ti, payload))
            return
        out.append((ti, payload))
        self.last, self.behind = ti, 0


class Labeller:
    """The current label and the key map; keys may be pressed from another thread."""

    def __init__(self, keys: tuple[str, ...], label: str = ""):
        self.keys, self.current = keys, label

    def press(self, key: str) -> str | None:
        """Apply one key; returns a note when the key did something or could not."""
        if key in "0 ":
            self.current = ""
            return "unlabelled"
        if key in "qQ":
            return "stop"
        if key.isdigit():
            k = int(key)
            if k > len(self.keys):
                return f"key {k} has no label (--keys names {len(self.keys)})"
            self.current = self.keys[k - 1]
            return f"label {self.current}"
        return None

    def help(self) -> str:
        named = " ".join(f"{k} {name}" for k, name in enumerate(self.keys, 1))
        return f"keys: {named + ', ' if named else ''}0 unlabelled, q stop"


class Tally:
    """Samples, seconds per label (each sample counts the time since the one before) and drops."""

    def __init__(self):
        self.samples, self.t_first, self.t_last = 0, None, None
        self.per_label: Counter = Counter()
        self.seconds: Counter = Counter()
        self.dropped: Counter = Counter()
        """Lines and samples the source delivered that are not in the recording, by reason."""
        self.invalid_labels = 0
        """Labels of the source's own label column that are not valid names (left out)."""

    def add(self, t: np.ndarray, labels: list[str]) -> None:
        if not len(t):
            return
        prev = t[0] if self.t_last is None else self.t_last
        dt = np.diff(t, prepend=prev).tolist()
        for label, step in zip(labels, dt, strict=True):
            self.per_label[label] += 1
            self.seconds[label] += step
        self.samples += len(t)
        self.t_first = t[0] if self.t_first is None else self.t_first
        self.t_last = t[-1]

    @property
    def span_s(self) -> float:
        return 0.0 if self.t_first is None else float(self.t_last - self.t_first)

    def totals(self) -> dict:
        """The sidecar's closing fields."""
        rate = (self.samples - 1) / self.span_s if self.span_s > 0 else None
        return {"samples": self.samples, "seconds": round(self.span_s, 3),
                "measured_rate_hz": None if rate is None else round(rate, 3),
                "label_samples": {k: n for k, n in self.per_label.items() if k},
                "label_seconds": {k: round(s, 3) for k, s in self.seconds.items() if k},
                "unlabelled": self.per_label[""], "unlabelled_seconds": round(self.seconds[""], 3),
                "dropped": dict(self.dropped),
                **({"invalid_labels": self.invalid_labels} if self.invalid_labels else {})}


class Status:
    """The live line on a terminal (redrawn in place), or a plain line per label change."""

    def __init__(self, stream, labeller: Labeller, tally: Tally, lock: threading.Lock):
        self.stream, self.labeller, self.tally, self.lock = stream, labeller, tally, lock
        self.live = stream.isatty()
        self._recent: deque = deque()
        self._drawn = 0.0

    def note(self, text: str) -> None:
        """A line of its own (a key's effect, a warning), above the live line."""
        with self.lock:
            self.stream.write(("\r\x1b[K" if self.live else "") + text + "\n")
            self._draw(force=True)

    def update(self) -> None:
        with self.lock:
            self._draw(force=False)

    def clear(self) -> None:
        if self.live:
            with self.lock:
                self.stream.write("\r\x1b[K")
                self.stream.flush()

    def _draw(self, force: bool) -> None:
        now = time.monotonic()
        if not self.live or (not force and now - self._drawn < STATUS_EVERY_S):
            self.stream.flush()
            return
        self._drawn = now
        self._recent.append((now, self.tally.samples))
        while len(self._recent) > 2 and now - self._recent[0][0] > 2.0:
            self._recent.popleft()
        (t0, n0), (t1, n1) = self._recent[0], self._recent[-1]
        rate = (n1 - n0) / (t1 - t0) if t1 > t0 else 0.0
        per = ", ".join(f"{k or 'unlabelled'} {s:.1f} s" for k, s in self.tally.seconds.items())
        line = (f"REC {self.tally.span_s:6.1f} s [{self.labeller.current or 'unlabelled'}] {per or '-'} | "
                f"{self.tally.samples} samples {rate:.1f} Hz, {sum(self.tally.dropped.values())} dropped")
        width = shutil.get_terminal_size().columns
        self.stream.write("\r\x1b[K" + line[:max(width - 1, 10)])
        self.stream.flush()


class _Stop(Exception):  # noqa: N818  (a signal, like KeyboardInterrupt)
    """Raised by the signal handler while the loop waits for the source."""


class _Stopper:
    """SIGINT and SIGTERM (and the 'q' key, which sends SIGINT to the main thread to wake it
    from a blocking read) end the recording: while the loop waits for the source they interrupt
    the wait; while it writes they only set ``reason``, so a batch is never half written."""

    REASONS = {signal.SIGINT: "interrupted", signal.SIGTERM: "terminated"}

    def __init__(self):
        self.reason: str | None = None
        self.waiting = False
        self._main = threading.main_thread().ident

    def stop(self, reason: str) -> None:
        """From another thread: end the recording now."""
        self.reason = self.reason or reason
        signal.pthread_kill(self._main, signal.SIGINT)

    def _handle(self, signum, frame) -> None:
        self.reason = self.reason or self.REASONS[signum]
        if self.waiting:
            raise _Stop

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        previous = {s: signal.signal(s, self._handle) for s in self.REASONS}
        try:
            yield
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)

    def next(self, chunks: Iterator[Chunk]) -> Chunk | None:
        """The next chunk; None at the end of the input or when a stop arrived while waiting."""
        self.waiting = True
        try:
            return None if self.reason else next(chunks, None)
        except _Stop:
            return None
        finally:
            self.waiting = False


class KeyReader:
    """Reads single keys from a terminal in cbreak mode on a thread, calling ``on_key`` for each;
    the terminal's mode is restored on leaving, however the recording ends."""

    def __init__(self, path: str, on_key: Callable[[str], None]):
        self.path, self.on_key = path, on_key
        self.fd: int | None = None
        self.unavailable = ""
        """Why keys cannot be read ('' when they can)."""

    def __enter__(self) -> KeyReader:
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK)
        except OSError as err:
            self.unavailable = f"no terminal ({self.path}: {err.strerror or err})"
            return self
        try:
            if os.tcgetpgrp(fd) != os.getpgrp():
                raise OSError(0, "running in the background")
            self._saved = termios.tcgetattr(fd)
            tty.setcbreak(fd)
        except OSError as err:
            os.close(fd)
            self.unavailable = f"{self.path}: {err.strerror or err}"
            return self
        self.fd = fd
        self._wake_r, self._wake_w = os.pipe()
        self._thread = threading.Thread(target=self._read, name="record-keys", daemon=True)
        self._thread.start()
        return self

    def _read(self) -> None:
        while True:
            ready, _, _ = select.select([self.fd, self._wake_r], [], [])
            if self._wake_r in ready:
                return
            try:
                data = os.read(self.fd, 64)
            except BlockingIOError:
                continue
            except OSError:
                return  # the terminal went away
            if not data:
                return
            for key in data.decode("ascii", "ignore"):
                self.on_key(key)

    def __exit__(self, *exc) -> None:
        if self.fd is None:
            return
        os.write(self._wake_w, b"x")
        self._thread.join(timeout=2)
        with contextlib.suppress(termios.error, OSError):
            termios.tcsetattr(self.fd, termios.TCSADRAIN, self._saved)
        for fd in (self.fd, self._wake_r, self._wake_w):
            os.close(fd)
        self.fd = None


def recording_paths(out_dir: Path, name: str) -> tuple[Path, Path]:
    """``DIR/NAME.csv`` and ``DIR/NAME.json``; an OptionError when either exists already."""
    csv, sidecar = out_dir / f"{name}.csv", out_dir / f"{name}.json"
    for path in (csv, sidecar):
        if path.exists():
            raise OptionError(f"{path} exists: recordings are never overwritten; choose another "
                              "--name or --session")
    return csv, sidecar


class Recorder:
    """One recording being written: its files, the current label and the tally."""

    def __init__(self, out_dir: Path, session: Session, name: str | None = None,
                 duration: float | None = None):
        if duration is not None and not 0 < duration < math.inf:
            raise OptionError(f"--duration must be a positive number of seconds, not {duration}")
        out_dir = Path(out_dir)
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise OptionError(f"--out {out_dir}: cannot create ({err.strerror or err})") from None
        self.csv_path, self.sidecar_path = recording_paths(out_dir, session.name(name))
        try:
            self.writer = CsvWriter(self.csv_path)
        except FileExistsError:
            raise OptionError(f"{self.csv_path} exists: recordings are never overwritten") from None
        except OSError as err:
            raise OptionError(f"--out {out_dir}: cannot write ({err.strerror or err})") from None
        self.sidecar = session.sidecar()
        try:
            atomic.write_json(self.sidecar_path, self.sidecar)
        except OSError as err:
            with contextlib.suppress(EdgeharError):
                self.writer.close()
            self.csv_path.unlink()
            raise EdgeharError(f"{self.sidecar_path}: cannot write ({err.strerror or err})") from None
        self.duration = duration
        self.labeller, self.tally = Labeller(session.keys, session.label), Tally()
        self.timeline = Timeline(self.tally.dropped)
        self.lock = threading.Lock()
        """Held while the tally changes (the key thread reads it to draw the status)."""

    def add(self, chunk: Chunk) -> tuple[int, bool]:
        """Write the chunk's samples with their labels: (how many, whether --duration is reached)."""
        self.tally.dropped.update(chunk.skipped)
        labels = _labels(chunk, self.labeller.current, self.tally)
        return self._write(self.timeline.keep(chunk.t, zip(chunk.x, labels, strict=True)))

    def _write(self, kept: list[tuple[float, tuple[np.ndarray, str]]]) -> tuple[int, bool]:
        if not kept:
            return 0, False
        t = np.array([ti for ti, _ in kept])
        full = False
        if self.duration is not None:
            inside = t - (t[0] if self.tally.t_first is None else self.tally.t_first) < self.duration
            kept, t, full = [k for k, i in zip(kept, inside, strict=True) if i], t[inside], not inside.all()
        if kept:
            labels = [label for _, (_, label) in kept]
            written = self.writer.write(t, np.array([row for _, (row, _) in kept]), labels)
            with self.lock:
                self.tally.add(t[:written], labels[:written])
            if self.writer.failed:
                raise self.writer.error()
        return len(kept), full

    def finish(self, end: str, detail: str | None = None) -> dict:
        """Accept the samples held back, close the CSV and complete the sidecar (or remove both
        when no sample came): the sidecar. A file that cannot be written makes ``end`` 'error'
        (when the sidecar itself cannot be completed, its unfinished state says so to readers)."""
        try:
            if end != "error":
                self._write(self.timeline.flush())
        except EdgeharError as err:
            end, detail = "error", str(err)
        try:
            self.writer.close()
        except EdgeharError as err:
            end, detail = "error", detail or str(err)
        sidecar = {**self.sidecar, **self.tally.totals(), "end": end,
                   "ended": utc_now().isoformat(timespec="seconds")}
        if self.timeline.restarts:
            sidecar["clock_restarts"] = self.timeline.restarts
        if detail:
            sidecar["detail"] = detail
        if not self.tally.samples:
            self.csv_path.unlink()
            self.sidecar_path.unlink()
            return {**sidecar, "files": []}
        try:
            atomic.write_json(self.sidecar_path, sidecar)
        except OSError as err:
            sidecar["end"] = "error"
            sidecar["detail"] = detail or f"{self.sidecar_path}: cannot write ({err.strerror or err})"
        return {**sidecar, "files": [str(self.csv_path), str(self.sidecar_path)]}


def record(chunks: Iterable[Chunk], out_dir: Path, session: Session, *, name: str | None = None,
           duration: float | None = None, idle_timeout: float | None = None, keys_tty: str = KEYS_TTY,
           status_stream=None) -> dict:
    """Record ``chunks`` to ``out_dir``; returns the sidecar as written when recording stopped.

    Stops at the end of the input, at 'q', Ctrl-C or SIGTERM, after ``duration`` seconds of
    samples (by their timestamps), or when the source stops (``idle_timeout``: also when it
    sends nothing usable for that long). Its ``end`` says which; ``detail`` says more for
    'timeout', 'disconnected' and 'error'. A recording that got no sample is removed (its
    ``samples`` is 0 and ``files`` empty). Call it from the main thread (it handles signals)."""
    recorder = Recorder(out_dir, session, name, duration)
    labeller, tally = recorder.labeller, recorder.tally
    status, stopper = Status(status_stream or sys.stderr, labeller, tally, recorder.lock), _Stopper()

    def on_key(key: str) -> None:
        note = labeller.press(key)
        if note == "stop":
            stopper.stop("quit")
        elif note:
            status.note(f"{tally.span_s:8.2f} s  {note}")

    end, detail = "eof", None
    with stopper.installed(), KeyReader(keys_tty, on_key) as keys:
        status.note(f"recording {session.source} to {recorder.csv_path}; "
                    + (labeller.help() if not keys.unavailable else
                       f"labelling keys are off: {keys.unavailable}"))
        chunks, quiet_since = iter(chunks), time.monotonic()
        try:
            while (chunk := stopper.next(chunks)) is not None:
                written, full = recorder.add(chunk)
                if full:
                    stopper.reason = stopper.reason or "duration"
                if written:
                    quiet_since = time.monotonic()
                elif idle_timeout is not None and time.monotonic() - quiet_since > idle_timeout:
                    raise SourceStopped("timeout", f"no usable sample for {idle_timeout:g} s")
                status.update()
        except _Stop:
            pass  # a stop that came just as a chunk arrived: that chunk is after the stop
        except SourceStopped as stop:
            end, detail = stop.reason, stop.detail
        except EdgeharError as err:
            end, detail = "error", str(err)
        finally:
            status.clear()
            summary = recorder.finish(stopper.reason or end, detail)
    return summary


def _labels(chunk: Chunk, current: str, tally: Tally) -> list[str]:
    """The label of each of the chunk's samples: the current one, else the source's own; a
    source label that is not a valid name (:data:`LABEL_NAME`) is left out and counted."""
    if current or chunk.labels is None:
        return [current] * len(chunk)
    labels = chunk.labels.tolist()
    valid = [label if not label or LABEL_NAME.fullmatch(label) else "" for label in labels]
    tally.invalid_labels += sum(a != b for a, b in zip(labels, valid, strict=True))
    return valid
