"""The live page of one stream (``edgehar stream --http``, and each device of ``serve --http``).

The stream's thread only appends to bounded buffers under a short lock (:meth:`LiveView.samples`,
:meth:`LiveView.result`), and nothing at all while no page is open; the pusher thread turns
what came since its last turn into one ``update`` event.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable, Iterator

import numpy as np

from edgehar.runtime.sources import Chunk
from edgehar.services.web.server import EventStream, Hub, Request, Response, page

SIGNAL_S = 10.0
"""Seconds of accelerometer and gyroscope signal a page shows (and gets on connect)."""
HISTORY = 2880
"""Windows in the label timeline: an hour at the usual hop of 64 samples (1.28 s); 14 bytes each."""
ROW = np.dtype([("t", "f8"), ("label", "i1"), ("smoothed", "i1"), ("confidence", "f4")])
"""A window in the timeline: its end (source time), label and smoothed label (class indices), confidence."""


def _round(values, digits: int) -> list:
    return np.round(np.asarray(values, dtype=np.float64), digits).tolist()


class LiveView:
    """The recent results, signals and counters of one stream, and its page's events."""

    def __init__(self, classes: Iterable[str], model: str, title: str = "", rate_hz: float = 50.0,
                 history: int = HISTORY):
        self.classes, self.model, self.title = list(classes), model, title
        self.hub = Hub()
        self._lock = threading.Lock()
        self._results = np.zeros(history, ROW)
        """A ring of the last windows."""
        self._count = 0
        self._probs: list[float] = []
        """The last window's probabilities."""
        self._signal: deque = deque()
        """Chunks (t, x) as the source delivered them: the last ``_keep`` samples and a chunk at most."""
        self._signal_n, self._keep = 0, int(SIGNAL_S * rate_hz)
        self._new_results: list = []
        self._new_samples: list = []
        self.counters: dict = {}
        self._counters_sent: dict | None = None

    def samples(self, t: np.ndarray, x: np.ndarray) -> None:
        """Record a chunk's samples (the stream's thread): two appends under the lock."""
        if not len(t):
            return
        with self._lock:
            self._signal.append((t, x))
            self._signal_n += len(t)
            while self._signal_n - len(self._signal[0][0]) >= self._keep:
                self._signal_n -= len(self._signal.popleft()[0])
            if self.hub.watched:
                self._new_samples.append((t, x))

    def result(self, result, counters: dict) -> None:
        """Record one window's result and the stream's counters after it (the stream's thread)."""
        row = (result.t_end, self.classes.index(result.label), self.classes.index(result.smoothed),
               result.confidence)
        with self._lock:
            self._results[self._count % len(self._results)] = row
            self._count += 1
            self._probs, self.counters = result.probs, counters
            if self.hub.watched:
                self._new_results.append(row)

    def tap(self, chunks: Iterable[Chunk]) -> Iterator[Chunk]:
        """``chunks`` unchanged, their samples recorded on the way."""
        for chunk in chunks:
            self.samples(chunk.t, chunk.x)
            yield chunk

    @staticmethod
    def _results_json(rows: np.ndarray) -> dict:
        return {"t": _round(rows["t"], 3), "label": rows["label"].tolist(),
                "smoothed": rows["smoothed"].tolist(), "confidence": _round(rows["confidence"], 3)}

    @staticmethod
    def _signal_json(chunks) -> dict:
        if not chunks:
            return {"t": [], "x": [[] for _ in range(6)]}
        t, x = np.concatenate([c[0] for c in chunks]), np.concatenate([c[1] for c in chunks])
        return {"t": _round(t, 3), "x": _round(x.T, 4)}

    def snapshot(self) -> dict:
        with self._lock:
            n = min(self._count, len(self._results))
            order = (self._count - n + np.arange(n)) % len(self._results)
            results, signal, counters = self._results[order], list(self._signal), dict(self.counters)
            probs = self._probs
        return {"classes": self.classes, "model": self.model, "title": self.title,
                "results": self._results_json(results), "probs": _round(probs, 3),
                "signal": self._signal_json(signal),
                "counters": counters, "signal_s": SIGNAL_S}

    def push(self) -> None:
        """Publish what came since the last push as one ``update`` event (the pusher's thread)."""
        if not self.hub.watched:
            return
        with self._lock:
            results, samples = self._new_results, self._new_samples
            self._new_results, self._new_samples = [], []
            counters, probs = self.counters, self._probs
        if not results and not samples:
            return
        update: dict = {"results": self._results_json(np.array(results, ROW)), "probs": _round(probs, 3),
                        "signal": self._signal_json(samples)}
        if counters is not self._counters_sent:
            update["counters"], self._counters_sent = counters, counters
        self.hub.publish("update", update)

    def end(self, summary: dict) -> None:
        """The stream ended: publish what is left, then its summary as an ``end`` event."""
        with self._lock:
            self.counters = summary
        self.push()
        self.hub.publish("end", summary)

    def routes(self, prefix: str = "") -> dict:
        """The page at ``prefix/`` and its event stream at ``prefix/events``."""
        return {("GET", prefix + "/"): lambda request: self.page(request),
                ("GET", prefix + "/events"): lambda request: self.events()}

    def page(self, request: Request, back: str = "") -> Response:
        return page("live.html", request, title=self.title or "edgehar live", events="events", back=back)

    def events(self) -> EventStream:
        return EventStream(self.hub, self.snapshot)
