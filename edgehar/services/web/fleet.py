"""The fleet page of ``edgehar serve --http``: every device, its status and activity, each linking
to its own live page.

:class:`FleetView` is the gateway's observer (``Gateway.observers``): the gateway's classifying
thread calls :meth:`FleetView.results` after each node message and :meth:`FleetView.offline`
when it forgets a device; both only update a row and a device's :class:`LiveView` under a short
lock. The pusher sends the rows that changed since its last turn as one ``devices`` event, so a
page with 1,000 devices gets a few changed rows at a time, never the whole list again.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from edgehar.runtime.sources import Chunk
from edgehar.services.web.live import LiveView
from edgehar.services.web.server import EventStream, HttpError, Hub, Request, Response, page

DEVICE_PAGE = "/device"


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

    def row(self) -> list:
        return [self.name, self.status, self.label, round(self.confidence, 3), self.windows, self.samples,
                self.dropped, round(self.last_seen, 1)]


class FleetView:
    """The devices of one gateway and their pages."""

    COLUMNS = ("name", "status", "label", "confidence", "windows", "samples", "dropped", "last_seen")

    def __init__(self, classes, model: str, rate_hz: float = 50.0):
        self.classes, self.model, self.rate_hz = list(classes), model, rate_hz
        self.hub = Hub()
        self.devices: dict[str, DeviceRow] = {}
        self.lives: dict[str, LiveView] = {}
        self._dirty: set[str] = set()
        self._lock = threading.Lock()

    # The observer interface the gateway calls (its classifying thread).

    def results(self, device: str, chunk: Chunk, results: list, streamer) -> None:
        """A node message of ``device`` was classified: its samples and the windows it completed."""
        live = self.lives.get(device)
        if live is None:
            live = self.lives[device] = LiveView(self.classes, self.model, f"{device} · edgehar serve",
                                                 self.rate_hz)
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
            row.status, row.last_seen = "online", time.time()
            row.windows, row.samples = streamer.windows, streamer.samples
            row.dropped = sum(streamer.skipped.values()) + streamer.lost
            if results:
                row.label = self.classes.index(results[-1].smoothed)
                row.confidence = results[-1].confidence
            self._dirty.add(device)

    def offline(self, device: str) -> None:
        """The gateway forgot ``device`` (silent for its ``--idle``)."""
        with self._lock:
            if row := self.devices.get(device):
                row.status = "offline"
                self._dirty.add(device)
        if live := self.lives.get(device):
            live.end({**live.counters, "end": "offline"})

    # The pages.

    def snapshot(self) -> dict:
        with self._lock:
            rows = [row.row() for row in self.devices.values()]
        return {"classes": self.classes, "model": self.model, "columns": self.COLUMNS, "devices": rows,
                "now": time.time()}

    def push(self) -> None:
        """Publish the rows that changed as one ``devices`` event; then each device page's update."""
        with self._lock:
            names, self._dirty = self._dirty, set()
            rows = [self.devices[n].row() for n in names] if self.hub.watched else []
        if rows:
            self.hub.publish("devices", {"devices": rows, "now": time.time()})
        for live in list(self.lives.values()):
            live.push()

    def _live(self, request: Request) -> LiveView:
        live = self.lives.get(request.param("name"))
        if live is None:
            raise HttpError(404, f"no device {request.query['name']!r} (yet)")
        return live

    def routes(self) -> dict:
        return {
            ("GET", "/"): lambda request: page("fleet.html", request, title=f"edgehar serve · {self.model}"),
            ("GET", "/events"): lambda request: EventStream(self.hub, self.snapshot),
            ("GET", DEVICE_PAGE): lambda request: self._device_page(request),
            ("GET", DEVICE_PAGE + "/events"): lambda request: self._live(request).events(),
        }

    def _device_page(self, request: Request) -> Response:
        live = self._live(request)
        answer = page("live.html", request, title=live.title, back="/",
                      events=f"{DEVICE_PAGE}/events?name={request.query['name']}")
        return answer
