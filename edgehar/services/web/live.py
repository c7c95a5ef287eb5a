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
HISTORY = 512
"""Windows in the label timeline (at the usual hop of 64 samples: about 11 minutes)."""


def _round(values, digits: int) -> list:
    return np.round(np.asarray(values, dtype=np.float64), digits).tolist()


class LiveView:
    """The recent results, signals and counters of one stream, and its page's events."""

    def __init__(self, classes: Iterable[str], model: str, title: str = "", rate_hz: float = 50.0):
        self.classes, self.model, self.title = list(classes), model, title
        self.hub = Hub()
        self._lock = threading.Lock()
        self._results: deque = deque(maxlen=HISTORY)
        self._signal: deque = deque(maxlen=int(SIGNAL_S * rate_hz))
        self._new_results: list = []
        self._new_samples: list = []
        self.counters: dict = {}
        self._counters_sent: dict | None = None

    def samples(self, t: np.ndarray, x: np.ndarray) -> None:
        """Record a chunk's samples (the stream's thread)."""
        if not len(t):
            return
        rows = np.column_stack([t, x]).tolist()
        with self._lock:
            self._signal.extend(rows)
            if self.hub.watched:
                self._new_samples.extend(rows)

    def result(self, result, counters: dict) -> None:
        """Record one window's result and the stream's counters after it (the stream's thread)."""
        row = (result.t_end, self.classes.index(result.label), self.classes.index(result.smoothed),
               result.confidence, result.probs)
        with self._lock:
            self._results.append(row)
            self.counters = counters
            if self.hub.watched:
                self._new_results.append(row)

    def tap(self, chunks: Iterable[Chunk]) -> Iterator[Chunk]:
        """``chunks`` unchanged, their samples recorded on the way."""
        for chunk in chunks:
            self.samples(chunk.t, chunk.x)
            yield chunk

    @staticmethod
    def _results_json(rows) -> dict:
        if not rows:
            return {"t": [], "label": [], "smoothed": [], "confidence": [], "probs": []}
        t, label, smoothed, confidence, probs = zip(*rows, strict=True)
        return {"t": _round(t, 3), "label": list(label), "smoothed": list(smoothed),
                "confidence": _round(confidence, 3), "probs": _round(probs, 3)}

    @staticmethod
    def _signal_json(rows) -> dict:
        array = np.asarray(rows, dtype=np.float64).reshape(-1, 7)
        return {"t": _round(array[:, 0], 3), "x": _round(array[:, 1:].T, 4)}

    def snapshot(self) -> dict:
        with self._lock:
            results, signal, counters = list(self._results), list(self._signal), dict(self.counters)
        return {"classes": self.classes, "model": self.model, "title": self.title,
                "results": self._results_json(results), "signal": self._signal_json(signal),
                "counters": counters, "signal_s": SIGNAL_S}

    def push(self) -> None:
        """Publish what came since the last push as one ``update`` event (the pusher's thread)."""
        if not self.hub.watched:
            return
        with self._lock:
            results, samples = self._new_results, self._new_samples
            self._new_results, self._new_samples = [], []
            counters = self.counters
        if not results and not samples:
            return
        update: dict = {"results": self._results_json(results), "signal": self._signal_json(samples)}
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
