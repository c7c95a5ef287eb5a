"""The streaming runtime: timestamped raw samples in, one labelled result per window out.

Per chunk a source delivers, :class:`Streamer` drops samples that are not finite or whose
timestamps do not move forward (unless a run of them says the source's clock restarted:
then it resyncs), splits at dropouts longer than ``max_gap_s`` (the window, the
preprocessor and the smoother all start again: nothing is stitched across a gap),
resamples onto an exact 50 Hz grid (samples already on it pass through bit for bit), runs
the bundle's one ``Pipeline`` preprocessor, and classifies every ``hop`` samples the last
``window`` samples with LiteRT.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass

import numpy as np

from edgehar.bundle import Bundle
from edgehar.errors import EdgeharError
from edgehar.preprocess.pipeline import Pipeline
from edgehar.runtime.interpreter import TFLiteClassifier
from edgehar.runtime.smoothing import NoSmoothing
from edgehar.runtime.sources import Chunk, SourceStopped


@dataclass
class Result:
    """One classified window. ``end`` is exclusive; indices count 50 Hz samples from the
    stream's first sample, ``t_start``/``t_end`` are the matching source times (s)."""

    start: int
    end: int
    t_start: float
    t_end: float
    label: str
    confidence: float
    probs: list[float]
    smoothed: str
    latency_ms: float

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    def to_text(self) -> str:
        return (f"{self.t_start:9.2f}-{self.t_end:9.2f} s  {self.smoothed:<18} "
                f"({self.label} {self.confidence:.2f})  {self.latency_ms:6.2f} ms")


class Resampler:
    """Linear interpolation of increasing timestamps onto the grid t0 + k / rate_hz.

    A sample within 1 % of a period of a grid point is taken verbatim, bit for bit."""

    def __init__(self, rate_hz: float):
        self.rate_hz, self.tol = rate_hz, 0.01 / rate_hz
        self.t0, self.k = None, 0
        self._t, self._x = np.empty(0), np.empty((0, 6))

    def push(self, t: np.ndarray, x: np.ndarray) -> np.ndarray:
        """Grid samples (m, 6) completed by these samples (t strictly increasing)."""
        if self.t0 is None:
            self.t0 = t[0]
        if len(t) == 1 and abs(t[0] - (self.t0 + self.k / self.rate_hz)) <= self.tol:
            self._t, self._x, self.k = t, x, self.k + 1  # the next grid point itself: the live case
            return x
        ts, xs = np.concatenate([self._t, t]), np.concatenate([self._x, x])
        self._t, self._x = ts[-1:], xs[-1:]
        last = int(np.floor((ts[-1] + self.tol - self.t0) * self.rate_hz))
        grid = self.t0 + np.arange(self.k, last + 1) / self.rate_hz
        self.k = max(self.k, last + 1)
        idx = np.searchsorted(ts, grid - self.tol)
        exact = np.abs(ts[idx] - grid) <= self.tol
        before = np.maximum(idx - 1, 0)
        span = np.where(exact, 1.0, ts[idx] - ts[before])
        w = ((grid - ts[before]) / span)[:, None]
        return np.where(exact[:, None], xs[idx], xs[before] + w * (xs[idx] - xs[before]))


class Streamer:
    """Stateful stream of one source through one model; feed chunks, collect results."""

    def __init__(self, classifier: TFLiteClassifier, pipeline: Pipeline, classes: Iterable[str], *,
                 window: int, hop: int, smoother=None, max_gap_s: float = 0.1, resync_after: int = 25):
        self.classifier, self.pipeline, self.classes = classifier, pipeline, tuple(classes)
        if hop < 1 or window < 1:
            raise EdgeharError(f"window ({window}) and hop ({hop}) must be at least 1")
        self.window, self.hop, self.max_gap_s = window, hop, max_gap_s
        self.resync_after = resync_after
        """After this many samples in a row behind the stream's clock, the source's clock is
        taken to have restarted (a device reboot, or one stray far-future timestamp)."""
        self.rate_hz = pipeline.sample_rate_hz
        self.smoother = smoother or NoSmoothing()
        if getattr(self.smoother, "hop", hop) != hop:
            raise EdgeharError(f"--smooth {self.smoother.spec}: the decoder was estimated for windows "
                               f"{self.smoother.hop} samples apart, not {hop}; stream with the bundle's hop")
        channels = len(pipeline.channels)
        self._ring = np.zeros((2 * window, channels), dtype=np.float32)
        self._input = np.empty((window, channels), dtype=np.float32)
        self.samples = self.windows = self.gaps = self.resyncs = 0
        self.skipped: Counter = Counter()
        self.labels: Counter = Counter()
        self.smoothed_labels: Counter = Counter()
        self._last_t = None
        """Source time of the last sample accepted; None at the start and after a resync."""
        self._index_t0 = 0.0
        """The source time that sample index 0 stands for."""
        self._behind = 0
        self._offset = self._resampler = None

    @classmethod
    def from_bundle(cls, bundle: Bundle, variant: str = "float32", *, hop: int | None = None,
                    smoother=None, max_gap_s: float = 0.1) -> Streamer:
        return cls(TFLiteClassifier(bundle.tflite(variant)), bundle.pipeline, bundle.classes,
                   window=bundle.window, hop=bundle.hop if hop is None else hop, smoother=smoother,
                   max_gap_s=max_gap_s)

    def _start_segment(self, t0: float) -> None:
        """Start afresh at a new continuous stretch beginning at source time ``t0``."""
        self._pre = self.pipeline.start()
        self._resampler = Resampler(self.rate_hz)
        self._filled = 0
        self._offset = int(round((t0 - self._index_t0) * self.rate_hz))
        self.smoother.reset()

    def _resync_at(self, forward: np.ndarray) -> int | None:
        """Where, in this chunk, a run of ``resync_after`` samples behind the clock begins."""
        run = self._behind
        for i, ok in enumerate(forward):
            run = 0 if ok else run + 1
            if run >= self.resync_after:
                return max(0, i - run + 1)
        self._behind = run
        return None

    def feed(self, t, x, arrived: float | None = None) -> list[Result]:
        """Samples ``t`` (n,) seconds, ``x`` (n, 6) g and rad/s -> results of completed windows.

        ``arrived`` (a ``time.perf_counter()``) is when they came in: latency counts from it."""
        arrived = time.perf_counter() if arrived is None else arrived
        t = np.asarray(t, dtype=np.float64).reshape(-1)
        x = np.asarray(x, dtype=np.float64).reshape(-1, 6)
        if len(t) == 1 and self._last_t is not None and self._last_t < t[0] <= self._last_t + self.max_gap_s \
                and np.isfinite(x).all():  # the live case, one good sample: skip the general checks
            self._last_t, self._behind, self.samples = t[0], 0, self.samples + 1
            results: list[Result] = []
            self._push_features(self._pre.push(self._resampler.push(t, x)), arrived, results)
            return results
        finite = np.isfinite(t) & np.isfinite(x).all(axis=1)
        if not finite.all():
            self.skipped["non_finite"] += int((~finite).sum())
            t, x = t[finite], x[finite]
        if len(t) == 0:
            return []
        last = -np.inf if self._last_t is None else self._last_t
        previous = np.maximum.accumulate(np.concatenate([[last], t]))[:-1]
        forward = t > previous
        if not forward.all():
            resync = self._resync_at(forward)
            if resync is not None:
                results = self.feed(t[:resync], x[:resync], arrived)
                self.resyncs += 1
                next_index = self._offset + self._resampler.k
                self._last_t, self._behind = None, 0
                self._index_t0 = t[resync] - next_index / self.rate_hz
                return results + self.feed(t[resync:], x[resync:], arrived)
            self.skipped["duplicate"] += int((t == previous).sum())
            self.skipped["out_of_order"] += int((t < previous).sum())
            t, x = t[forward], x[forward]
            if len(t) == 0:
                return []
        else:
            self._behind = 0
        if self._last_t is None:
            if self._resampler is None:
                self._index_t0 = t[0]
            self._start_segment(t[0])
        steps = np.diff(np.concatenate([[t[0] if self._last_t is None else self._last_t], t]))
        self._last_t = t[-1]
        self.samples += len(t)
        results: list[Result] = []
        gap = steps > self.max_gap_s
        bounds = np.unique([0, *np.flatnonzero(gap), len(t)])
        for a, b in zip(bounds[:-1], bounds[1:], strict=True):
            if gap[a]:
                self.gaps += 1
                self._start_segment(t[a])
            grid = self._resampler.push(t[a:b], x[a:b])
            self._push_features(self._pre.push(grid), arrived, results)
        return results

    def _push_features(self, features: np.ndarray, arrived: float, results: list[Result]) -> None:
        """Write rows into the ring, classifying each time a window completes."""
        W = self.window
        while len(features):
            due = W - self._filled if self._filled < W else self.hop - (self._filled - W) % self.hop
            piece, features = features[:due], features[due:]
            slots = (self._filled + np.arange(len(piece))) % W
            self._ring[slots] = piece
            self._ring[slots + W] = piece
            self._filled += len(piece)
            if len(piece) == due:
                head = self._filled % W
                np.copyto(self._input, self._ring[head:head + W])
                results.append(self._classify(arrived))

    def _classify(self, arrived: float) -> Result:
        probs = self.classifier.predict_window(self._input)
        top = int(np.argmax(probs))
        smoothed = self.classes[self.smoother.update(probs)]
        end = self._offset + self._filled
        t_end = self._resampler.t0 + self._filled / self.rate_hz
        self.windows += 1
        self.labels[self.classes[top]] += 1
        self.smoothed_labels[smoothed] += 1
        return Result(start=end - self.window, end=end, t_start=float(t_end - self.window / self.rate_hz),
                      t_end=float(t_end), label=self.classes[top], confidence=float(probs[top]),
                      probs=[round(float(p), 6) for p in probs], smoothed=smoothed,
                      latency_ms=(time.perf_counter() - arrived) * 1e3)

    def note_skipped(self, skipped: Counter) -> None:
        """Count lines a source dropped before they became samples."""
        self.skipped.update(skipped)

    def summary(self, end: str) -> dict:
        return {"end": end, "samples": self.samples, "windows": self.windows, "gaps": self.gaps,
                "resyncs": self.resyncs,
                "skipped": dict(sorted(self.skipped.items())), "labels": dict(self.labels),
                "smoothed": dict(self.smoothed_labels), "smoothing": self.smoother.spec}


def run(streamer: Streamer, chunks: Iterable[Chunk], emit: Callable[[Result], None]) -> dict:
    """Stream until the source ends, stops or the user interrupts; return the summary.

    ``end`` says why it stopped: 'eof', 'interrupted', 'timeout', 'disconnected' or
    'output_closed' (whoever read the results went away)."""
    end = "eof"
    try:
        for chunk in chunks:
            streamer.note_skipped(chunk.skipped)
            for result in streamer.feed(chunk.t, chunk.x):
                emit(result)
    except KeyboardInterrupt:
        end = "interrupted"
    except BrokenPipeError:
        end = "output_closed"
    except SourceStopped as stop:
        end = stop.reason
    return streamer.summary(end)
