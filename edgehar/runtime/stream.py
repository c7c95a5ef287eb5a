"""The streaming runtime: timestamped raw samples in, one labelled result per window out.

Per chunk a source delivers, :class:`Streamer`

- drops samples that are not finite or beyond what an IMU can report (:class:`SampleLimits`),
  exactly as if they had never arrived;
- holds back a sample whose timestamp jumps ahead until the next one confirms it: one
  followed by an earlier sample is a stray timestamp and is dropped;
- drops samples whose timestamps do not move forward, unless a run of them says the source's
  clock restarted: then it resyncs, as it does when the clock jumps ahead by more than
  ``clock_jump_s``;
- splits at dropouts longer than ``max_gap_s`` (the window, the preprocessor and the smoother
  all start again: nothing is stitched across a gap) and counts the samples the timestamps
  say are missing;
- resamples onto an exact 50 Hz grid (samples already on it pass through bit for bit), and
  holds the grid samples until a window is due: then runs the bundle's one ``Pipeline``
  preprocessor over that block (its filter state carried from block to block) and classifies
  the last ``window`` samples with LiteRT. A live sample costs a few checks and an append;
  the numbers do not depend on how the input was chunked, and each label comes out with the
  sample that completes its window.
"""

from __future__ import annotations

import json
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from edgehar.bundle import Bundle
from edgehar.errors import EdgeharError
from edgehar.preprocess.pipeline import Pipeline
from edgehar.runtime.activity import ActivityLabels
from edgehar.runtime.interpreter import TFLiteClassifier
from edgehar.runtime.limits import SampleLimits
from edgehar.runtime.smoothing import NoSmoothing
from edgehar.runtime.sources import Chunk, SourceStopped
from edgehar.spec import class_of_label

TRICKLE = 16
"""A read of at most this many samples is a trickle: the source delivers at its own pace (a
sample, or a sensor's packet of a few), and a stream reading it may wait for the next window."""


class Terminated(Exception):  # noqa: N818  (a signal, like KeyboardInterrupt)
    """SIGTERM: the system is stopping the stream (``edgehar stream`` raises it from its handler)."""


@dataclass
class Result:
    """One classified window. ``end`` is exclusive; indices count 50 Hz samples from the
    stream's first sample, ``t_start``/``t_end`` are the matching source times (s). ``true``
    is the input's label column where every sample of the window carries the same class.
    ``label_activity`` and ``smoothed_activity``: the activity ``label`` and ``smoothed`` stand
    for, the same unless the model outputs transitions (:mod:`edgehar.runtime.activity`)."""

    start: int
    end: int
    t_start: float
    t_end: float
    label: str
    confidence: float
    probs: list[float]
    smoothed: str
    latency_ms: float
    label_activity: str
    smoothed_activity: str
    true: str | None = None

    def to_json(self) -> str:
        record = dict(vars(self))  # the fields, in order (asdict's deep copies cost 0.1 ms)
        if self.true is None:
            del record["true"]
        return json.dumps(record)

    TEXT_HEADER = f"{'window start-end':>21}  {'label (smoothed)':<18} (model's label, confidence)  latency"
    """The column heads of :meth:`to_text` lines."""

    def to_text(self) -> str:
        text = (f"{self.t_start:9.2f}-{self.t_end:9.2f} s  {self.smoothed:<18} "
                f"({self.label} {self.confidence:.2f})  {self.latency_ms:6.2f} ms")
        return text if self.true is None else f"{text}  true {self.true}"


class Rounded(dict):
    """``round(p, 6)`` of each probability, remembered (a dict lookup instead of a decimal
    conversion): an int8 model's outputs take at most 256 values. Zeros and NaN are not
    remembered (0.0 and -0.0 are one key, each NaN another): each rounds to itself."""

    SIZE = 256

    def __missing__(self, p: float) -> float:
        if p == 0 or p != p:
            return p
        value = round(p, 6)
        if len(self) < self.SIZE:
            self[p] = value
        return value


ROUNDED = Rounded()
"""One for every stream (each rounding is the same)."""


class Resampler:
    """Linear interpolation of increasing timestamps onto the grid t0 + k / rate_hz.

    A sample within 1 % of a period of a grid point is taken verbatim, bit for bit."""

    GRID_AHEAD = 4096
    """Grid points computed at once for :meth:`on_grid`."""

    def __init__(self, rate_hz: float):
        self.rate_hz, self.tol = rate_hz, 0.01 / rate_hz
        self.t0, self.k = None, 0
        self._t, self._x = np.empty(0), np.empty((0, 6))
        self._grid_k, self._grid = 0, np.empty(0)
        """Grid points t0 + k / rate_hz from k = _grid_k on."""

    def on_grid(self, t: np.ndarray) -> bool:
        """Whether ``t`` are the next grid points, each within the tolerance."""
        if self.t0 is None:
            return False
        if len(t) == 1:
            return abs(t[0] - (self.t0 + self.k / self.rate_hz)) <= self.tol
        start = self.k - self._grid_k
        if start + len(t) > len(self._grid):
            self._grid_k, start = self.k, 0
            self._grid = self.t0 + np.arange(self.k, self.k + max(len(t), self.GRID_AHEAD)) / self.rate_hz
        off = t - self._grid[start:start + len(t)]
        return bool(np.maximum.reduce(np.abs(off, out=off)) <= self.tol)  # NaN: False

    def push(self, t: np.ndarray, x: np.ndarray, on_grid: bool = False) -> np.ndarray:
        """Grid samples (m, 6) completed by these samples (t strictly increasing); ``on_grid``:
        the caller checked :meth:`on_grid`."""
        if self.t0 is None:
            self.t0 = t[0]
        if on_grid or self.on_grid(t):
            self._t, self._x, self.k = t[-1:], x[-1:], self.k + len(t)  # passed through as they are
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
                 window: int, hop: int, smoother=None, max_gap_s: float = 0.1, resync_after: int = 25,
                 limits: SampleLimits | None = None, clock_jump_s: float = 3600.0,
                 label_classes: Mapping[str, str] | None = None):
        self.classifier, self.pipeline, self.classes = classifier, pipeline, tuple(classes)
        if hop < 1 or window < 1:
            raise EdgeharError(f"window ({window}) and hop ({hop}) must be at least 1")
        if not 0 < max_gap_s < clock_jump_s:
            raise EdgeharError(f"--max-gap must be a positive number of seconds under {clock_jump_s:g}, "
                               f"not {max_gap_s}")
        self.window, self.hop, self.max_gap_s = window, hop, max_gap_s
        self.resync_after = resync_after
        """After this many samples in a row behind the stream's clock, the source's clock is
        taken to have restarted (a device reboot)."""
        self.clock_jump_s = clock_jump_s
        """A step forward longer than this is the source's clock jumping, not a dropout: the
        stream resyncs, its sample indices go on without a hole and nothing is counted lost."""
        self.limits = limits or SampleLimits()
        self._bounds = self.limits.bounds()
        self._bound = float(self._bounds.min())
        """Values within this on every axis are within the limits: one comparison for a chunk on
        the usual path (a chunk beyond it takes the checks of every other)."""
        self.rate_hz = pipeline.sample_rate_hz
        self._grid_step_fits = 1.02 / self.rate_hz < max_gap_s
        """Whether consecutive grid points (a period apart, ±1 %) are closer than a gap."""
        self.smoother = smoother or NoSmoothing()
        self._label_activities = ActivityLabels(self.classes)
        self._smoothed_activities = ActivityLabels(self.classes)
        if getattr(self.smoother, "hop", hop) != hop:
            raise EdgeharError(f"--smooth {self.smoother.spec}: the decoder was estimated for windows "
                               f"{self.smoother.hop} samples apart, not {hop}; stream with the bundle's hop")
        self.samples = self.windows = self.gaps = self.resyncs = self.lost = 0
        self.scored = self.correct = self.smoothed_correct = 0
        self.labelled = False
        """Whether the input carries labels (then windows are scored against them)."""
        members: dict[str, list[str]] = {}
        for label, c in (label_classes or {}).items():
            members.setdefault(c, []).append(label)
        self._codes = {label: k + 1 for label, k in class_of_label(self.classes, members).items()}
        if not label_classes:
            self._codes.update({str(k): k for k in range(1, len(self.classes) + 1)})
        """Input label -> class number, by :func:`~edgehar.spec.class_of_label` (case-sensitive, as
        ``evaluate``); without a class map a class's number 1..N too."""
        self.skipped: Counter = Counter()
        self.labels: Counter = Counter()
        self.smoothed_labels: Counter = Counter()
        self._last_t = None
        """Source time of the last sample accepted; None at the start and after a resync."""
        self._last_code = 0
        self._index_t0 = 0.0
        """The source time that sample index 0 stands for (on the current clock)."""
        self._behind = 0
        self._held = None
        """(t, x, codes) of a sample that jumped ahead, waiting for the next to confirm it."""
        self._offset = self._resampler = None

    @classmethod
    def from_bundle(cls, bundle: Bundle, variant: str = "float32", *, hop: int | None = None,
                    smoother=None, max_gap_s: float = 0.1, limits: SampleLimits | None = None) -> Streamer:
        """A streamer for ``bundle``; ``limits`` default to the bundle's (see :mod:`limits`); input
        labels score as the bundle's class map says (a merged class takes each of its labels)."""
        return cls(TFLiteClassifier.of_bundle(bundle, variant), bundle.pipeline, bundle.classes,
                   window=bundle.window, hop=bundle.hop if hop is None else hop, smoother=smoother,
                   max_gap_s=max_gap_s, limits=limits or SampleLimits.of_bundle(bundle),
                   label_classes=_label_classes(bundle))

    def feed(self, t, x, arrived: float | None = None, labels=None) -> list[Result]:
        """Samples ``t`` (n,) seconds, ``x`` (n, 6) g and rad/s -> results of completed windows.

        ``arrived`` (a ``time.perf_counter()``) is when they came in: latency counts from it.
        ``labels`` (n,), optional: each sample's true class, a class name or its number 1..N, or a
        label of ``label_classes`` (anything else: unlabelled); windows are then scored against them."""
        arrived = time.perf_counter() if arrived is None else arrived
        t = np.array(t, dtype=np.float64).reshape(-1)
        x = np.array(x, dtype=np.float64).reshape(-1, 6)
        if len(x) != len(t):
            raise EdgeharError(f"{len(t)} timestamps but {len(x)} samples")
        codes = self._label_codes(labels, len(t))
        results: list[Result] = []
        if self._held is None and self._last_t is not None and len(t):  # the usual input: no other checks
            if len(t) == 1:  # live: one sample in order within max_gap_s (maybe off the grid)
                on_grid = False
                good = self._last_t < t[0] <= self._last_t + self.max_gap_s
            else:  # replay: the next grid points, so in order, without a gap or a loss
                on_grid = good = self._grid_step_fits and t[0] > self._last_t \
                    and self._resampler.on_grid(t)
            if good and np.maximum.reduce(np.abs(x), axis=None) <= self._bound:  # (NaN: False)
                self._count_usual(t)
                self._push(t, x, codes, arrived, results, on_grid)
                return results
        with np.errstate(over="ignore", invalid="ignore"):  # timestamps may be as far apart as ±1.7e308
            t, x, codes = self._drop_impossible(t, x, codes)
            if self._held is not None:
                (held_t, held_x, held_codes), self._held = self._held, None
                self.samples -= 1
                t, x = np.concatenate([held_t, t]), np.concatenate([held_x, x])
                codes = np.concatenate([held_codes, codes])
            t, x, codes = self._drop_strays(t, x, codes)
            if len(t):
                self._feed_ordered(t, x, codes, arrived, results)
        return results

    def flush(self, arrived: float | None = None) -> list[Result]:
        """At the end of a stream: accept the sample held back for confirmation, if any."""
        if self._held is None:
            return []
        (t, x, codes), self._held = self._held, None
        self.samples -= 1
        results: list[Result] = []
        with np.errstate(over="ignore", invalid="ignore"):
            self._feed_ordered(t, x, codes, time.perf_counter() if arrived is None else arrived, results)
        return results

    def _label_codes(self, labels, n: int) -> np.ndarray:
        """Class numbers 1..N of ``labels`` (0: unlabelled); all 0 without labels."""
        if labels is None:
            return np.zeros(n, dtype=np.int16)
        if len(labels) != n:
            raise EdgeharError(f"{n} samples but {len(labels)} labels")
        if not self.labelled and self._resampler is not None:
            self._truth = np.zeros(len(self._rows), dtype=np.int16)  # the segment's rows so far: unlabelled
        self.labelled = True
        return np.fromiter((self._codes.get(str(label).strip(), 0) for label in labels),
                           dtype=np.int16, count=n)

    def _skip(self, reason: str, drop: np.ndarray) -> None:
        if n := int(drop.sum()):
            self.skipped[reason] += n

    def _drop_impossible(self, t, x, codes):
        """Drop samples that are not finite or beyond the limits, as if they never arrived."""
        keep = np.isfinite(t) & (np.abs(x) <= self._bounds).all(axis=1)  # NaN fails the comparison
        if keep.all():
            return t, x, codes
        finite = np.isfinite(t) & np.isfinite(x).all(axis=1)
        self._skip("non_finite", ~finite)
        self._skip("out_of_range", finite & ~keep)
        return t[keep], x[keep], codes[keep]

    def _drop_strays(self, t, x, codes):
        """Drop samples that jump ahead of the clock only to be followed by an earlier one;
        hold back the chunk's last sample when it jumps ahead, until the next one comes."""
        last = -np.inf if self._last_t is None else self._last_t
        steps = np.diff(t, prepend=last)
        if ((steps > 0) & (steps <= self.max_gap_s)).all():  # the usual chunk: in order, no jump
            return t, x, codes
        ahead = t - np.maximum.accumulate(np.concatenate([[last], t]))[:-1] > self.max_gap_s
        stray = ahead & (np.concatenate([t[1:], [np.inf]]) < t)
        if stray.any():
            self._skip("stray_timestamp", stray)
            t, x, codes = t[~stray], x[~stray], codes[~stray]
        if len(t) and t[-1] - max(last, t[:-1].max(initial=-np.inf)) > self.max_gap_s:
            self._held = (t[-1:], x[-1:], codes[-1:])
            self.samples += 1  # counted as accepted while it waits
            t, x, codes = t[:-1], x[:-1], codes[:-1]
        return t, x, codes

    def _resync_at(self, t: np.ndarray, previous: np.ndarray) -> int | None:
        """Where, in this chunk, a run of ``resync_after`` samples behind the clock begins
        (duplicates neither break a run nor count: a frozen clock is no restart)."""
        run, first = self._behind, 0  # first: where this run began in the chunk (0: before it)
        for i, (now, before) in enumerate(zip(t.tolist(), previous.tolist(), strict=True)):
            if now > before:
                run = 0
            elif now < before:
                first, run = first if run else i, run + 1
                if run >= self.resync_after:
                    return first
        self._behind = run
        return None

    def _feed_ordered(self, t, x, codes, arrived: float, results: list[Result]) -> None:
        """Drop samples that do not move the clock forward (or resync), then split at gaps."""
        last = -np.inf if self._last_t is None else self._last_t
        previous = np.maximum.accumulate(np.concatenate([[last], t]))[:-1]
        forward = t > previous
        if not forward.all():
            resync = self._resync_at(t, previous)
            if resync is not None:
                if resync:
                    self._feed_ordered(t[:resync], x[:resync], codes[:resync], arrived, results)
                self.resyncs += 1
                self._last_t, self._behind = None, 0
                self._feed_ordered(t[resync:], x[resync:], codes[resync:], arrived, results)
                return
            self._skip("duplicate", t == previous)
            self._skip("out_of_order", t < previous)
            t, x, codes = t[forward], x[forward], codes[forward]
            if len(t) == 0:
                return
        else:
            self._behind = 0
        first = self._last_t is None
        steps = np.diff(np.concatenate([[t[0] if first else self._last_t], t]))
        if first:
            self._start_segment(t[0], None)
        gap = steps > self.max_gap_s
        self.lost += int(np.maximum(np.rint(steps[~gap] * self.rate_hz) - 1, 0).sum())
        self.samples += len(t)
        bounds = [0, *(i for i in np.flatnonzero(gap).tolist() if i), len(t)]  # (np.unique loads numpy.ma)
        for a, b in zip(bounds[:-1], bounds[1:], strict=True):
            if gap[a]:
                self._start_segment(t[a], steps[a])
            self._push(t[a:b], x[a:b], codes[a:b], arrived, results)

    def _next_index(self) -> int:
        return 0 if self._resampler is None else self._offset + self._resampler.k

    def _start_segment(self, t0: float, step: float | None) -> None:
        """Start afresh at source time ``t0``, ``step`` s after the last sample (None: the
        stream starts or resyncs), placing it on the sample axis."""
        following = self._next_index()
        if step is not None and step <= self.clock_jump_s:
            self.gaps += 1
            self._offset = max(following, int(round((t0 - self._index_t0) * self.rate_hz)))
            self.lost += self._offset - following
        else:
            if step is not None:
                self.resyncs += 1
            self._offset, self._index_t0 = following, t0 - following / self.rate_hz
        self._pre = self.pipeline.start()
        self._resampler = Resampler(self.rate_hz)
        self._filled = 0
        """Grid samples of this segment gone through the preprocessor."""
        self._rows = np.zeros((0, len(self.pipeline.channels)), dtype=np.float32)
        self._truth = np.zeros(0, dtype=np.int16)
        """The last ``window`` of those samples' features and labels (0: unlabelled; labels
        are kept only once the input has carried some)."""
        self._block, self._due = [], self.window
        """Grid samples (with their labels) held back, and how many more complete the next window."""
        self.smoother.reset()
        self._label_activities.reset()
        self._smoothed_activities.reset()

    def fast_state(self) -> tuple[float, float, int] | None:
        """For a caller that checks many streams' chunks at once (the gateway): (last sample's time,
        grid origin t0, next grid index k) while a chunk of samples on the grid points t0 + (k + i) /
        rate_hz, each within ``Resampler.tol``, after that time and within the limits, takes
        :meth:`feed`'s usual path (:meth:`_count_usual`, then :meth:`_hold`); None when every chunk
        must go through :meth:`feed` (nothing accepted yet, a sample held back, labelled input,
        steps beyond a gap)."""
        if self._held is None and self._last_t is not None and self._grid_step_fits and not self.labelled:
            return self._last_t, self._resampler.t0, self._resampler.k
        return None

    def _count_usual(self, t) -> None:
        """Count samples continuing the segment in order within ``max_gap_s`` and the limits
        (checked by the caller)."""
        self.lost += max(0, round(float(t[0] - self._last_t) * self.rate_hz) - 1)
        self._behind, self.samples = 0, self.samples + len(t)

    def _push(self, t, x, codes, arrived: float, results: list[Result], on_grid: bool = False) -> None:
        """Samples continuing the current segment -> the 50 Hz grid, held until a window is
        due -> features of the held block -> windows."""
        if self._hold(t, x, codes, on_grid):
            raw, codes = self._take_block()
            self._windows(self._pre.push(raw), codes, arrived, results)

    def _hold(self, t, x, codes, on_grid: bool) -> bool:
        """Hold the grid samples these samples complete; whether a window is now due."""
        k0 = self._resampler.k
        grid = self._resampler.push(t, x, on_grid)
        self._block.append((grid, self._grid_codes(k0, len(grid), t, codes) if self.labelled else None))
        self._last_t, self._last_code = t[-1], codes[-1]
        self._due -= len(grid)
        return self._due <= 0

    def _take_block(self) -> tuple[np.ndarray, np.ndarray | None]:
        """The held block's raw grid samples and labels (None: unlabelled input), taken."""
        block, self._block = self._block, []
        raw = block[0][0] if len(block) == 1 else np.concatenate([g for g, _ in block])
        codes = np.concatenate([np.zeros(len(g), np.int16) if c is None else c for g, c in block]) \
            if self.labelled else None
        return raw, codes

    def _grid_codes(self, k0: int, n: int, t, codes) -> np.ndarray:
        """The label of each new grid sample: that of the last source sample at or before it."""
        grid_t = self._resampler.t0 + (k0 + np.arange(n)) / self.rate_hz
        source_t = np.concatenate([[-np.inf if self._last_t is None else self._last_t], t])
        source_codes = np.concatenate([[self._last_code], codes])
        return source_codes[np.searchsorted(source_t, grid_t + self._resampler.tol, side="right") - 1]

    def _window_end(self, n: int) -> int:
        """Where the first window ending after the segment's first ``n`` samples ends."""
        return self.window if n < self.window else n + self.hop - (n - self.window) % self.hop

    def _windows(self, features: np.ndarray, codes: np.ndarray | None, arrived: float,
                 results: list[Result]) -> None:
        """The segment's next rows of features (and labels, None for unlabelled input):
        classify each window they complete."""
        first, self._filled = self._filled, self._filled + len(features)
        rows = np.concatenate([self._rows, features])
        truth = None if codes is None else np.concatenate([self._truth, codes])
        base = first - len(self._rows)  # the segment sample of rows[0]
        for end in range(self._window_end(first), self._filled + 1, self.hop):
            window = slice(end - self.window - base, end - base)
            labels = None if truth is None else truth[window]
            results.append(self._classify(rows[window], labels, end, arrived))
        self._rows = rows[-self.window:]
        if truth is not None:
            self._truth = truth[-self.window:]
        self._due = self._window_end(self._filled) - self._filled

    def _classify(self, window: np.ndarray, truth: np.ndarray | None, end: int, arrived: float) -> Result:
        """Classify the window of features ending at the segment's sample ``end`` (exclusive)."""
        return self._result(self.classifier.predict_window(window), truth, end, arrived)

    def _result(self, probs: np.ndarray, truth: np.ndarray | None, end: int, arrived: float) -> Result:
        """The result of that window, given its probabilities (the decoder and the counts move on)."""
        values = probs.tolist()
        top = values.index(max(values))  # np.argmax's: the first of the highest
        smoothed = self.classes[self.smoother.update(probs)]
        t_end = self._resampler.t0 + end / self.rate_hz
        end += self._offset
        self.windows += 1
        self.labels[self.classes[top]] += 1
        self.smoothed_labels[smoothed] += 1
        true = None
        if truth is not None and truth[0] > 0 and (truth == truth[0]).all():
            true = self.classes[truth[0] - 1]
            self.scored += 1
            self.correct += true == self.classes[top]
            self.smoothed_correct += true == smoothed
        t_start = round(float(t_end - self.window / self.rate_hz), 6)  # to the µs: 1.28, not 1.27999…
        return Result(start=end - self.window, end=end, t_start=t_start,
                      t_end=float(t_end), label=self.classes[top], confidence=values[top],
                      probs=list(map(ROUNDED.__getitem__, values)), smoothed=smoothed,
                      latency_ms=(time.perf_counter() - arrived) * 1e3,
                      label_activity=self._label_activities.of(self.classes[top], probs),
                      smoothed_activity=self._smoothed_activities.of(smoothed, probs), true=true)

    def schedule(self) -> tuple[int, int] | None:
        """(grid samples so far, grid samples still to come until the next window completes);
        None before the first sample."""
        return None if self._resampler is None else (self._next_index(), self._due)

    def note_skipped(self, skipped: Counter) -> None:
        """Count lines a source dropped before they became samples."""
        if skipped:  # (Counter.update's Mapping check costs more than a chunk of most replays)
            self.skipped.update(skipped)

    def summary(self, end: str) -> dict:
        """Counts so far. ``lost``: 50 Hz samples the timestamps say never arrived (bridged by
        interpolation inside a segment, or in gaps); with labelled input, ``scored`` windows
        lie inside one labelled class and ``accuracy`` is over them."""
        summary = {"end": end, "samples": self.samples, "windows": self.windows, "gaps": self.gaps,
                   "resyncs": self.resyncs, "lost": self.lost,
                   "skipped": dict(sorted(self.skipped.items())), "labels": dict(self.labels),
                   "smoothed": dict(self.smoothed_labels), "smoothing": self.smoother.spec}
        if self.labelled:
            summary["scored"] = self.scored
            for key, correct in (("accuracy", self.correct), ("smoothed_accuracy", self.smoothed_correct)):
                summary[key] = round(correct / self.scored, 4) if self.scored else None
        return summary


def _label_classes(bundle: Bundle) -> dict[str, str]:
    """Recording label -> class, from the class map a bundle trained on recordings stores
    (``bundle_class_map``'s, read here without pandas, which the Pi is spared)."""
    stored = bundle.metadata.get("training", {}).get("recordings", {}).get("classes", {})
    members = stored.get("members", {}) if isinstance(stored, dict) else {}
    return {str(label): c for c, labels in members.items() if c in bundle.classes for label in labels}


class WakePlan:
    """When a live stream whose source queues its samples reads again after a trickle: shortly
    before the sample that completes the next window arrives, as the source has been seen to
    deliver. A sample is expected at the earliest time the last ``POINTS`` trickles project for
    it at the source's rate: samples or packets that came late do not move the schedule. The rate
    (grid samples per second: the sensor's clock against this machine's, within ``DRIFT``) is
    measured between the most punctual trickle of the older half of those and of the newer half,
    so lateness does not bias it either; below 50 Hz only once ``POINTS`` trickles were seen (a
    rate too low would wake the stream late). It wakes one sample before that, and as many more
    as samples came earlier than planned over the last ``ERRORS`` wake-ups. Until the trickles
    span ``BASELINE_S`` it wakes ``START_MARGIN`` samples early, at most ``BASELINE_S`` ahead."""

    START_MARGIN = 4
    BASELINE_S = 1.0
    POINTS = 16
    ERRORS = 16
    DRIFT = 0.1

    def __init__(self, rate_hz: float):
        self.rate_hz = rate_hz
        self._points: deque = deque(maxlen=self.POINTS)
        """(time, grid samples so far) of the trickles a wait started from."""
        self._errors: deque = deque(maxlen=self.ERRORS)
        """Per wake-up: grid samples read beyond those the wait expected."""
        self._waited = None
        """(grid samples so far, samples expected) of the wait just over; None when not waiting."""

    @property
    def margin(self) -> int:
        """Samples before the window-completing one at which to wake."""
        return 1 + max(0, *self._errors) if self._errors else self.START_MARGIN

    def rate(self) -> float | None:
        """The source's rate in grid samples per second; None until the trickles span BASELINE_S."""
        points, half = self._points, len(self._points) // 2
        if not half:
            return None
        lateness = [t - k / self.rate_hz for t, k in points]
        (t0, k0), (t1, k1) = (points[min(part, key=lateness.__getitem__)]
                              for part in (range(half), range(half, len(points))))
        if t1 - t0 < self.BASELINE_S:
            return None
        slowest = self.rate_hz * (1 - self.DRIFT) if len(points) == self.POINTS else self.rate_hz
        return min(max((k1 - k0) / (t1 - t0), slowest), self.rate_hz * (1 + self.DRIFT))

    def wake_at(self, read_at: float, chunk: int, schedule: tuple[int, int] | None) -> float | None:
        """Until when (``time.monotonic()``) to leave the source's samples queued after a read at
        ``read_at`` of ``chunk`` samples (None: read on); ``schedule``: :meth:`Streamer.schedule` after it."""
        if schedule is None:
            return None
        position, due = schedule
        if self._waited is not None:  # the read after a wait: how far ahead of the plan was it?
            (start, expected), self._waited = self._waited, None
            self._errors.append(position - start - expected)
            return None  # (the next read waits for a trickle)
        if not 0 < chunk <= TRICKLE:
            return None
        self._points.append((read_at, position))
        rate = self.rate()
        ahead = due - self.margin if rate else min(due - self.margin, int(self.BASELINE_S * self.rate_hz))
        if ahead <= 0:
            return None
        self._waited = (position, ahead)
        rate = rate or self.rate_hz
        return min(t + (position + ahead - k) / rate for t, k in self._points)


def run(streamer: Streamer, chunks: Iterable[Chunk], emit: Callable[[Result], None], *,
        idle_timeout: float | None = None, queued: bool = False) -> dict:
    """Stream until the source ends, stops or the user interrupts; return the summary.

    ``end`` says why it stopped: 'eof', 'interrupted' (Ctrl-C), 'terminated' (SIGTERM),
    'timeout', 'disconnected', 'output_closed' (whoever read the results went away) or
    'error' (the input became unreadable); for 'timeout', 'disconnected' and 'error' the
    summary's ``detail`` says more.
    ``idle_timeout`` (live sources): stop with 'timeout' when no sample was accepted for
    that long although the source kept sending (garbage, impossible values).
    ``queued`` (live sources that queue what arrives, :func:`~edgehar.runtime.sources.queues`):
    when samples trickle in, leave them queued until the next window is nearly due (:class:`WakePlan`)
    and read what queued up meanwhile at once: two or three wake-ups per window instead of one per
    sample, each label still out with the sample that completes its window (read while the stream
    waits for it, not found queued behind it)."""
    end, detail = "eof", None
    quiet_since, accepted = time.monotonic(), streamer.samples
    plan = WakePlan(streamer.rate_hz) if queued else None
    try:
        for chunk in chunks:
            read_at = time.monotonic()
            streamer.note_skipped(chunk.skipped)
            for result in streamer.feed(chunk.t, chunk.x, labels=chunk.labels):
                emit(result)
            if plan and (wake := plan.wake_at(read_at, len(chunk), streamer.schedule())) \
                    and (wait := wake - time.monotonic()) > 0:
                time.sleep(wait)  # (no sleep(0): it gives up the core, a context switch per sample)
            if idle_timeout is not None:
                if streamer.samples != accepted:
                    quiet_since, accepted = time.monotonic(), streamer.samples
                elif time.monotonic() - quiet_since > idle_timeout:
                    raise SourceStopped("timeout", f"no usable sample for {idle_timeout:g} s")
    except KeyboardInterrupt:
        end = "interrupted"
    except Terminated:
        end = "terminated"
    except BrokenPipeError:
        end = "output_closed"
    except SourceStopped as stop:
        end, detail = stop.reason, stop.detail
    except EdgeharError as err:
        end, detail = "error", str(err)
    if end != "output_closed":
        try:
            for result in streamer.flush():
                emit(result)
        except BrokenPipeError:
            end = "output_closed"
    summary = streamer.summary(end)
    if detail:
        summary["detail"] = detail
    return summary
