"""The live page of one stream (``edgehar stream --http``, and each device of ``serve --http``).

The stream's thread only appends to bounded buffers under a short lock (:meth:`LiveView.samples`,
:meth:`LiveView.result`), the same whether a page is open or not. Each open page is a
:class:`LiveFeed` on its connection's thread: every second it takes what came since its last turn
(nothing runs while no page is open). The signal travels as base64 of little-endian floats, which
costs a fraction of writing 350 numbers a second as JSON.
"""

from __future__ import annotations

import base64
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from itertools import repeat

import numpy as np

from edgehar.runtime.sources import Chunk
from edgehar.services.web.server import Feed, Request, Response, page

SIGNAL_S = 10.0
"""Seconds of accelerometer and gyroscope signal a page shows (and gets on connect)."""
HISTORY = 2880
"""Windows in the label timeline: an hour at the usual hop of 64 samples (1.28 s); 14 bytes each."""
ROW = np.dtype([("t", "f8"), ("label", "i1"), ("smoothed", "i1"), ("confidence", "f4")])
"""A window in the timeline: its end (source time), label and smoothed label (class indices), confidence."""
COMPACT = 256
"""Chunks gathered before they are joined into the signal's arrays (a realtime source gives one
sample per chunk: the stream's thread only appends)."""


def _rounded(values, digits: int) -> list:
    return [round(v, digits) for v in np.asarray(values, dtype=np.float64).tolist()]


def signal_json(t: np.ndarray, x: np.ndarray) -> dict:
    """Samples as the page reads them: ``t`` (float64) and ``x`` (float32, row by row), base64."""
    return {"n": len(t), "t": base64.b64encode(t.astype("<f8").tobytes()).decode(),
            "x": base64.b64encode(x.astype("<f4").tobytes()).decode()}


def results_json(rows: np.ndarray) -> dict:
    return {"t": _rounded(rows["t"], 3), "label": rows["label"].tolist(),
            "smoothed": rows["smoothed"].tolist(), "confidence": _rounded(rows["confidence"], 3)}


class LiveView:
    """The recent results, signals and counters of one stream."""

    def __init__(self, classes: Iterable[str], model: str, title: str = "", rate_hz: float = 50.0,
                 history: int = HISTORY):
        self.classes, self.model, self.title = list(classes), model, title
        self._lock = threading.Lock()
        self._results = np.zeros(history, ROW)
        """A ring of the last windows."""
        self.windows = 0
        """Windows recorded in all."""
        self._probs: list[float] = []
        """The last window's probabilities."""
        self._keep = int(SIGNAL_S * rate_hz)
        self._t, self._x = np.zeros(0), np.zeros((0, 6))
        """The last ``_keep`` samples, as of the last :meth:`_compact`."""
        self._chunks: deque = deque()
        """Chunks (t, x) since (appended by the stream's thread, taken under the lock)."""
        self.samples_in = 0
        """Samples recorded in all."""
        self.counters: dict = {}
        self.ended: dict | None = None
        """The stream's summary once it ended."""

    def samples(self, t: np.ndarray, x: np.ndarray) -> None:
        """Record a chunk's samples (the stream's thread): one append to a deque, which needs no
        lock; every ``COMPACT`` chunks they are joined onto the signal."""
        self._chunks.append((t, x))
        if len(self._chunks) >= COMPACT:
            self._compact()

    def _compact(self) -> None:
        """Join the gathered chunks onto the signal, keeping its last ``_keep`` samples."""
        with self._lock:
            # the chunks there now, taken with C-level loops (a second at 50 Hz is 50 chunks)
            chunks = [*map(deque.popleft, repeat(self._chunks, len(self._chunks)))]
            if chunks:
                ts, xs = zip(*chunks, strict=True)
                before = len(self._t)
                self._t = np.concatenate((self._t, *ts))
                self.samples_in += len(self._t) - before
                self._t = self._t[-self._keep:]
                self._x = np.concatenate((self._x, *xs))[-self._keep:]

    def result(self, result, counters: dict) -> None:
        """Record one window's result and the stream's counters after it (the stream's thread)."""
        row = (result.t_end, self.classes.index(result.label), self.classes.index(result.smoothed),
               result.confidence)
        with self._lock:
            self._results[self.windows % len(self._results)] = row
            self.windows += 1
            self._probs, self.counters = result.probs, counters

    def tap(self, chunks: Iterable[Chunk]) -> Iterator[Chunk]:
        """``chunks`` unchanged, their samples recorded on the way."""
        for chunk in chunks:
            self.samples(chunk.t, chunk.x)
            yield chunk

    def since(self, samples: int, windows: int) -> dict:
        """What came after the first ``samples`` samples and ``windows`` windows (as much as is
        kept: ``t``, ``x``, ``results``), with the totals, counters and probabilities now."""
        self._compact()
        with self._lock:
            t, x, ring = self._t, self._x, self._results
            new = {"samples_in": self.samples_in, "windows": self.windows, "probs": self._probs,
                   "counters": self.counters, "ended": self.ended}
            new_windows = min(self.windows - windows, len(ring))
            new["results"] = ring[(self.windows - new_windows + np.arange(new_windows)) % len(ring)] \
                if new_windows else ring[:0]
        new_samples = min(new["samples_in"] - samples, len(t))  # t and x are replaced, never changed
        new["t"], new["x"] = t[len(t) - new_samples:], x[len(x) - new_samples:]
        return new

    def end(self, summary: dict) -> None:
        """The stream ended: its pages get what is left, then ``summary`` as an ``end`` event."""
        with self._lock:
            self.counters = self.ended = summary

    def routes(self, prefix: str = "") -> dict:
        """The page at ``prefix/`` and its event stream at ``prefix/events``."""
        return {("GET", prefix + "/"): lambda request: self.page(request),
                ("GET", prefix + "/events"): lambda request: LiveFeed(self)}

    def page(self, request: Request, back: str = "") -> Response:
        return page("live.html", request, title=self.title or "edgehar live", events="events", back=back)


class LiveFeed(Feed):
    """One live page: a ``snapshot`` (the kept hour of windows, 10 s of signal), then each
    second an ``update`` with the samples since and the windows since (with the probabilities;
    none: no ``results``), nothing when nothing came, and ``end`` at the end."""

    def __init__(self, view: LiveView):
        self.view = view
        self._samples = self._windows = 0
        self._counters: dict | None = None

    def _take(self) -> dict:
        new = self.view.since(self._samples, self._windows)
        self._samples, self._windows = new["samples_in"], new["windows"]
        return new

    def first(self) -> list:
        new = self._take()
        self._counters = new["counters"]
        view = self.view
        return [("snapshot", {"classes": view.classes, "model": view.model, "title": view.title,
                              "results": results_json(new["results"]), "probs": _rounded(new["probs"], 3),
                              "signal": signal_json(new["t"], new["x"]), "counters": new["counters"],
                              "signal_s": SIGNAL_S})] + self._end(new)

    def next(self) -> list:
        new = self._take()
        events = []
        if len(new["t"]) or len(new["results"]):
            update: dict = {"signal": signal_json(new["t"], new["x"])}
            if len(new["results"]):
                update["results"], update["probs"] = results_json(new["results"]), _rounded(new["probs"], 3)
            if new["counters"] is not self._counters:
                update["counters"] = self._counters = new["counters"]
            events.append(("update", update))
        return events + self._end(new)

    def _end(self, new: dict) -> list:
        if new["ended"] is None:
            return []
        self.done = True
        return [("end", new["ended"])]
