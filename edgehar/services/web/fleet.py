"""The fleet page of ``edgehar serve --http``: every device, its status and activity, each linking
to its own live page.

:class:`FleetView` is the gateway's observer (``Gateway.observers``): the gateway's classifying
thread calls :meth:`FleetView.results` after each node message and :meth:`FleetView.offline`
when it forgets a device; both only update a row and a device's :class:`LiveView` under a short
lock. Each change stamps the row with a new version; each open page (:class:`FleetFeed`) sends,
every second, the rows stamped since its last turn as one ``devices`` event, so a page with 1,000
devices gets a few changed rows at a time, never the whole list again.

Offline devices are kept, with their live pages, until ``keep_offline`` newer ones went offline:
a gateway whose devices come and go does not grow without end.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass

from edgehar.runtime.sources import Chunk
from edgehar.services.web.live import LiveFeed, LiveView
from edgehar.services.web.server import Feed, HttpError, Request, Response, page

DEVICE_PAGE = "/device"
KEEP_OFFLINE = 1000
"""Offline devices the page keeps (the most recently gone); older ones are dropped from it."""


@dataclass
class DeviceRow:
    name: str
    status: str = "online"
    label: int = -1
    """Index of the smoothed label of the last window (-1: none yet)."""
    confidence: float = 0.0
    windows: int = 0
    samples: int = 0
    dropped: int = 0
    """Samples skipped (by any reason) and lost (missing by their timestamps)."""
    last_seen: float = 0.0
    """Wall-clock time (s since the epoch) of the device's last message."""
    version: int = 0
    """The fleet's version when the row last changed."""

    def row(self) -> list:
        return [self.name, self.status, self.label, round(self.confidence, 3), self.windows, self.samples,
                self.dropped, round(self.last_seen, 1)]


class FleetView:
    """The devices of one gateway and their pages."""

    COLUMNS = ("name", "status", "label", "confidence", "windows", "samples", "dropped", "last_seen")

    def __init__(self, classes, model: str, rate_hz: float = 50.0, keep_offline: int = KEEP_OFFLINE):
        self.classes, self.model, self.rate_hz = list(classes), model, rate_hz
        self.keep_offline = keep_offline
        self.devices: dict[str, DeviceRow] = {}
        self.lives: dict[str, LiveView] = {}
        self.version = 0
        self._offline: dict[str, None] = {}
        """The offline devices, oldest first."""
        self._removed: deque = deque(maxlen=max(keep_offline, 1))
        """(version, name) of the devices dropped lately."""
        self._removed_floor = 0
        """Pages older than this version may have missed a dropped device: they get a snapshot."""
        self._lock = threading.Lock()

    # The observer interface the gateway calls (its classifying thread).

    def results(self, device: str, chunk: Chunk, results: list, streamer) -> None:
        """A node message of ``device`` was classified: its samples and the windows it completed."""
        live = self.lives.get(device)
        if live is None:
            live = self.lives[device] = LiveView(self.classes, self.model, f"{device} · edgehar serve",
                                                 self.rate_hz, hop_s=streamer.hop / streamer.rate_hz)
        live.samples(chunk.t, chunk.x)
        counters = None
        if results:
            counters = streamer.summary("online")
            for result in results:
                live.result(result, counters)
        with self._lock:
            row = self.devices.get(device)
            if row is None:
                row = self.devices[device] = DeviceRow(device)
            if device in self._offline:  # it came back: its page is live again
                del self._offline[device]
                live.ended = None
            row.status, row.last_seen = "online", time.time()
            row.windows, row.samples = streamer.windows, streamer.samples
            row.dropped = sum(streamer.skipped.values()) + streamer.lost
            if results:
                row.label = self.classes.index(results[-1].smoothed)
                row.confidence = results[-1].confidence
            self._stamp(row)

    def offline(self, device: str) -> None:
        """The gateway forgot ``device`` (silent for its ``--idle``); the oldest offline device
        beyond ``keep_offline`` is dropped."""
        if live := self.lives.get(device):
            live.end({**live.counters, "end": "offline"})
        with self._lock:
            if row := self.devices.get(device):
                row.status = "offline"
                self._stamp(row)
                self._offline[device] = None
            while len(self._offline) > self.keep_offline:
                gone = next(iter(self._offline))
                del self._offline[gone], self.devices[gone]
                self.lives.pop(gone, None)
                self.version += 1
                if len(self._removed) == self._removed.maxlen:
                    self._removed_floor = self._removed[0][0]
                self._removed.append((self.version, gone))

    def _stamp(self, row: DeviceRow) -> None:
        self.version += 1
        row.version = self.version

    # The pages.

    def snapshot(self) -> tuple[dict, int]:
        """The page's first event, and the version it shows."""
        with self._lock:
            rows = [row.row() for row in self.devices.values()]
            version = self.version
        return {"classes": self.classes, "model": self.model, "columns": self.COLUMNS, "devices": rows,
                "now": time.time()}, version

    def changes(self, version: int) -> tuple[list, list, int] | None:
        """The rows changed and the names dropped after ``version``, and the version now; None
        when a drop since may be forgotten (the page needs a snapshot)."""
        with self._lock:
            if version < self._removed_floor:
                return None
            if version == self.version:
                return [], [], version
            rows = [row.row() for row in self.devices.values() if row.version > version]
            removed = [name for v, name in self._removed if v > version]
            return rows, removed, self.version

    def _live(self, request: Request) -> LiveView:
        live = self.lives.get(request.param("name"))
        if live is None:
            raise HttpError(404, f"no device {request.query['name']!r} (yet)")
        return live

    def routes(self) -> dict:
        return {
            ("GET", "/"): lambda request: page("fleet.html", request, title=f"edgehar serve · {self.model}"),
            ("GET", "/events"): lambda request: FleetFeed(self),
            ("GET", DEVICE_PAGE): lambda request: self._device_page(request),
            ("GET", DEVICE_PAGE + "/events"): lambda request: LiveFeed(self._live(request)),
        }

    def _device_page(self, request: Request) -> Response:
        live = self._live(request)
        return page("live.html", request, title=live.title, back="/",
                    events=f"{DEVICE_PAGE}/events?name={request.query['name']}")


class FleetFeed(Feed):
    """One fleet page: a ``snapshot`` of every row, then each second a ``devices`` event with
    the rows changed and the devices dropped since (nothing when nothing changed)."""

    def __init__(self, view: FleetView):
        self.view = view
        self._version = 0

    def first(self) -> list:
        snapshot, self._version = self.view.snapshot()
        return [("snapshot", snapshot)]

    def next(self) -> list:
        changes = self.view.changes(self._version)
        if changes is None:
            return self.first()
        rows, removed, self._version = changes
        if not rows and not removed:
            return []
        return [("devices", {"devices": rows, "removed": removed, "now": time.time()})]
