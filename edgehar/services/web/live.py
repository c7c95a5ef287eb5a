"""The live page of one stream (``edgehar stream --http``, and each device of ``serve --http``).

The stream's chunks pass through :meth:`LiveView.tap`, which keeps each in a bounded deque
without running any Python per chunk (a realtime source gives one sample per chunk, and every
line run per sample shows in the stream's CPU); each window's result goes to a ring
(:meth:`LiveView.result`). While a page is open, the last window of a chunk also encodes what
came since the last update as one server-sent event, once for all the pages, and wakes them:
each page's thread (:class:`LiveFeed`) sleeps until then and only writes those bytes. Nothing
wakes on a timer while windows come; nothing runs while no page is open. The signal travels as base64
of little-endian floats, which costs a fraction of writing 350 numbers a second as JSON.
"""

from __future__ import annotations

import contextlib
import threading
import time
from binascii import b2a_base64
from collections import deque
from collections.abc import Iterable, Iterator
from itertools import filterfalse, islice, repeat

import numpy as np

from edgehar.runtime.sources import Chunk
from edgehar.services.web.server import KEEPALIVE_S, Feed, Request, Response, WebServer, event, page

SIGNAL_S = 10.0
"""Seconds of accelerometer and gyroscope signal a page shows (and gets on connect)."""
HISTORY = 2880
"""Windows in the label timeline: an hour at the usual hop of 64 samples (1.28 s); 14 bytes each."""
ROW = np.dtype([("t", "f8"), ("label", "i1"), ("smoothed", "i1"), ("confidence", "f4")])
"""A window in the timeline: its end (source time), label and smoothed label (class indices), confidence."""
PUSH_MIN_S = 0.25
"""Windows send an update at most this often (a replay at full speed makes hundreds a second:
the windows in between go with the next update)."""
QUIET_S = 2.0
"""A page that heard of no window for this long (more than a hop) is sent what came meanwhile:
the tail of a burst, or samples that make no window. After a turn that found nothing new at all
it waits for the next window, or the keep-alive."""
BACKLOG = 64
"""Updates kept for pages still writing earlier ones; a page further behind gets a new snapshot."""


def _rounded(values, digits: int) -> list:
    return [round(v, digits) for v in np.asarray(values, dtype=np.float64).tolist()]


def signal_json(t: np.ndarray, x: np.ndarray) -> dict:
    """Samples as the page reads them: ``t`` (float64) and ``x`` (float32, row by row), base64."""
    return {"n": len(t), "t": b2a_base64(t.astype("<f8").tobytes(), newline=False).decode(),
            "x": b2a_base64(x.astype("<f4").tobytes(), newline=False).decode()}


def results_json(rows: np.ndarray) -> dict:
    return {"t": _rounded(rows["t"], 3), "label": rows["label"].tolist(),
            "smoothed": rows["smoothed"].tolist(), "confidence": _rounded(rows["confidence"], 3)}


class LiveView:
    """The recent results, signals and counters of one stream, and its open pages."""

    def __init__(self, classes: Iterable[str], model: str, title: str = "", rate_hz: float = 50.0,
                 history: int = HISTORY, hop_s: float = 1.28):
        self.classes, self.model, self.title = list(classes), model, title
        self._lock = threading.Lock()
        self._results = np.zeros(history, ROW)
        """A ring of the last windows."""
        self.windows = 0
        """Windows recorded in all."""
        self._probs: list[float] = []
        """The last window's probabilities."""
        self._keep = int(SIGNAL_S * rate_hz)
        self._blocks: deque[tuple[np.ndarray, np.ndarray]] = deque()
        """The signal as of the last :meth:`_join`: blocks (t, x) of ``_kept`` samples in all, the
        oldest dropped once the others hold ``_keep``; each joined once, never changed."""
        self._kept = 0
        self._chunks: deque[Chunk] = deque(maxlen=self._keep)
        """Chunks since (appended by the stream's thread, taken under the lock); at most the last
        ``_keep``, which hold at least ``SIGNAL_S`` (a chunk has a sample or more)."""
        self._pending = 0
        """Samples given to :meth:`samples` since the last join."""
        self._hop_s = hop_s
        """Seconds between windows: a window that leaves less of its chunk is the chunk's last."""
        self.samples_in = 0
        """Samples joined in all."""
        self.counters: dict = {}
        self.ended: dict | None = None
        """The stream's summary once it ended."""
        self._pages: list[LiveFeed] = []
        self._log: deque[tuple[int, bytes, bool]] = deque(maxlen=BACKLOG)
        """The last updates sent: (number, the event's bytes, whether it ends the stream)."""
        self._seq = 0
        """Updates sent in all."""
        self._sent = (0, 0, None, None)
        """Samples and windows sent, and the counters and end sent (by identity)."""
        self._next_push = 0.0

    def samples(self, t: np.ndarray, x: np.ndarray) -> None:
        """Record a chunk's samples (the gateway's thread, a node message at a time): an append
        to the deque, which needs no lock; joined onto the signal once they make 10 s."""
        self._chunks.append(Chunk(t, x))
        self._pending += len(t)
        if self._pending >= self._keep:
            with self._lock:
                self._join()

    def tap(self, chunks: Iterable[Chunk]) -> Iterator[Chunk]:
        """``chunks`` unchanged, each appended to the deque on the way, in C (``deque.append``
        returns None, so ``filterfalse`` passes every chunk)."""
        return filterfalse(self._chunks.append, chunks)

    def _join(self) -> None:
        """(Lock held.) Join the gathered chunks into one block of the signal, keeping at least
        its last ``_keep`` samples."""
        # the chunks there now, taken with C-level loops (a window at 50 Hz is 64 chunks)
        chunks = [*map(deque.popleft, repeat(self._chunks, len(self._chunks)))]
        self._pending = 0
        if chunks:
            t = np.concatenate([chunk.t for chunk in chunks])
            self._blocks.append((t, np.concatenate([chunk.x for chunk in chunks])))
            self.samples_in += len(t)
            self._kept += len(t)
            while self._kept - len(self._blocks[0][0]) >= self._keep:
                self._kept -= len(self._blocks.popleft()[0])

    def _signal(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """(Lock held.) The last ``n`` samples kept (t, x)."""
        ts: list = []
        xs: list = []
        have = 0
        for t, x in reversed(self._blocks):
            if have >= n:
                break
            ts.append(t)
            xs.append(x)
            have += len(t)
        if not ts:
            return np.zeros(0), np.zeros((0, 6))
        t, x = (ts[0], xs[0]) if len(ts) == 1 else (np.concatenate(ts[::-1]), np.concatenate(xs[::-1]))
        n = min(n, len(t))
        return t[len(t) - n:], x[len(x) - n:]

    def result(self, result, counters: dict) -> None:
        """Record one window's result and the stream's counters after its chunk (the stream's
        thread). With a page open, the chunk's last window sends the update (the counters are
        the chunk's: its last window's results go with them), at most every ``PUSH_MIN_S``."""
        row = (result.t_end, self.classes.index(result.label), self.classes.index(result.smoothed),
               result.confidence)
        with self._lock:
            self._results[self.windows % len(self._results)] = row
            self.windows += 1
            self._probs, self.counters = result.probs, counters
            if self._pages and self._newest_t() - result.t_end < self._hop_s \
                    and (now := time.monotonic()) >= self._next_push:
                self._next_push = now + PUSH_MIN_S
                self._publish()

    def _newest_t(self) -> float:
        """(Lock held.) The time of the newest sample (of the chunk the stream is at)."""
        for t in (self._chunks[-1].t if self._chunks else (), self._blocks[-1][0] if self._blocks else ()):
            if len(t):
                return t[-1]
        return -np.inf

    def end(self, summary: dict) -> None:
        """The stream ended: its pages get what is left, then ``summary`` as an ``end`` event."""
        with self._lock:
            self.counters = self.ended = summary
            self._publish()

    def _last(self, n: int) -> np.ndarray:
        """(Lock held.) A copy of the last ``n`` windows of the ring, oldest first."""
        ring = self._results
        n = min(n, self.windows, len(ring))
        start = (self.windows - n) % len(ring)
        end = start + n
        if end <= len(ring):
            return ring[start:end].copy()
        return np.concatenate((ring[start:], ring[:end - len(ring)]))

    def _publish(self) -> None:
        """(Lock held.) Encode what came since the last update (one ``update`` event: the samples,
        the windows with the probabilities now, the counters if they changed; then ``end`` once
        the stream ended), keep it for the pages and wake them."""
        self._join()
        samples, windows, counters, ended = self._sent
        data = b""
        new_samples = min(self.samples_in - samples, self._keep)
        if new_samples or self.windows > windows:
            update: dict = {"signal": signal_json(*self._signal(new_samples))}
            if self.windows > windows:
                update["results"] = results_json(self._last(self.windows - windows))
                update["probs"] = _rounded(self._probs, 3)
            if self.counters is not counters:
                update["counters"] = counters = self.counters
            data = event("update", update)
        ends = self.ended is not None and self.ended is not ended
        if ends:
            data += event("end", self.ended)
        self._sent = (self.samples_in, self.windows, counters, self.ended)
        if data:
            self._seq += 1
            self._log.append((self._seq, data, ends))
            for feed in self._pages:
                feed.wake()

    def snapshot(self) -> dict:
        """(Lock held.) A page's first event: the kept windows and signal, probabilities, counters."""
        return {"classes": self.classes, "model": self.model, "title": self.title,
                "results": results_json(self._last(len(self._results))), "probs": _rounded(self._probs, 3),
                "signal": signal_json(*self._signal(self._keep)), "counters": self.counters,
                "signal_s": SIGNAL_S}

    def routes(self, prefix: str = "") -> dict:
        """The page at ``prefix/`` and its event stream at ``prefix/events``."""
        return {("GET", prefix + "/"): lambda request: self.page(request),
                ("GET", prefix + "/events"): lambda request: LiveFeed(self)}

    def page(self, request: Request, back: str = "") -> Response:
        return page("live.html", request, title=self.title or "edgehar live", events="events", back=back)


class LiveFeed(Feed):
    """One live page: a ``snapshot`` (the kept hour of windows, 10 s of signal), then the
    ``update`` events its view sends (:meth:`LiveView._publish`), as they come, and ``end``."""

    def __init__(self, view: LiveView):
        self.view = view
        self._seq = 0
        """The last update this page got."""
        self._wake = threading.Lock()
        """Released when an update is there (a lock, not an Event: waking costs one C call)."""
        self._wake.acquire()
        self._quiet = False
        """The last turn found nothing new: wait for a window (or the keep-alive)."""

    def first(self) -> list:
        view = self.view
        with view._lock:
            view._publish()  # what came before goes to the other pages; this one starts after it
            self._seq = view._seq
            if self not in view._pages:
                view._pages.append(self)
            snapshot, ended = view.snapshot(), view.ended
        if ended is None:
            return [("snapshot", snapshot)]
        self.done = True
        return [("snapshot", snapshot), ("end", ended)]

    def wait(self, server: WebServer) -> bool:
        self._wake.acquire(timeout=KEEPALIVE_S if self._quiet else QUIET_S)
        return server.closing

    def wake(self) -> None:
        with contextlib.suppress(RuntimeError):  # already woken
            self._wake.release()

    def next(self) -> list:
        view = self.view
        with view._lock:
            if self._seq == view._seq:  # no window came for QUIET_S: send what came meanwhile
                view._publish()
                self._wake.acquire(blocking=False)  # this page needs no waking for it
            missed = view._seq - self._seq
            behind = missed > len(view._log)
            new = [] if behind else list(islice(view._log, len(view._log) - missed, None))
            self._seq = view._seq
        if behind:
            return self.first()
        self._quiet = not new
        self.done = any(ends for _, _, ends in new)
        return [data for _, data, _ in new]

    def close(self) -> None:
        with self.view._lock, contextlib.suppress(ValueError):
            self.view._pages.remove(self)
