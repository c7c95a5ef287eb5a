"""`edgehar serve`: one process classifies many sensor nodes too small to run a model.

Nodes publish batches of raw samples to ``<root>/<device>/imu`` (``device``: 1-64 of
``A-Z a-z 0-9 _ -``, not starting with ``_``), either as text lines ``t,ax,ay,az,gx,gy,gz``
(seconds, g, rad/s; a header line is allowed) or in the compact binary form (little-endian)::

    offset  size    type  field
    0       2       char  magic "EH"
    2       1       u8    version = 1
    3       1       u8    n, samples in this batch (1-255)
    4       8       u64   t0_us: time of the batch, microseconds (any clock that moves forward)
    12      4       f32   acc_scale: g per count
    16      4       f32   gyro_scale: rad/s per count
    20      16 * n  n records: u32 dt_us (sample time - t0_us), i16 ax, ay, az, gx, gy, gz (counts)

Every device gets its own :class:`~edgehar.runtime.stream.Streamer` (the same preprocessing, gap
and bad-input handling as ``edgehar stream``; all share one interpreter) and its results go out
under ``<root>/<device>/`` as :mod:`edgehar.services.mqtt` describes. A device silent for
``idle_s`` is marked offline and forgotten. Bad payloads are counted, never classified.
"""

from __future__ import annotations

import contextlib
import json
import queue
import re
import struct
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass

import numpy as np

from edgehar.bundle import Bundle
from edgehar.runtime.interpreter import TFLiteClassifier
from edgehar.runtime.limits import SampleLimits
from edgehar.runtime.smoothing import make_smoother
from edgehar.runtime.sources import Chunk, parse_lines
from edgehar.runtime.stream import Streamer, Terminated
from edgehar.services.mqtt import Connection, ResultPublisher

DEVICE_ID = re.compile(r"[A-Za-z0-9-][A-Za-z0-9_-]{0,63}")
HEADER = struct.Struct("<2sBBQff")
RECORD = np.dtype([("dt_us", "<u4"), ("raw", "<i2", (6,))])
MAGIC, VERSION = b"EH", 1


def pack_binary(t0_us: int, dt_us, raw, acc_scale: float, gyro_scale: float) -> bytes:
    """The compact form of one batch: ``dt_us`` (n,) offsets, ``raw`` (n, 6) sensor counts."""
    records = np.zeros(len(dt_us), RECORD)
    records["dt_us"], records["raw"] = dt_us, raw
    return HEADER.pack(MAGIC, VERSION, len(records), t0_us, acc_scale, gyro_scale) + records.tobytes()


def _bad(reason: str) -> Chunk:
    return Chunk(np.empty(0), np.empty((0, 6)), Counter({reason: 1}))


def decode_batch(payload: bytes) -> Chunk:
    """A node's message -> samples in seconds, g and rad/s; what is unusable is counted in ``skipped``."""
    if payload[:2] != MAGIC:
        return parse_lines(payload.split(b"\n"))
    if len(payload) < HEADER.size:
        return _bad("bad_binary")
    _, version, n, t0_us, acc_scale, gyro_scale = HEADER.unpack_from(payload)
    scales = np.array([acc_scale] * 3 + [gyro_scale] * 3)
    if version != VERSION or n == 0 or len(payload) != HEADER.size + n * RECORD.itemsize \
            or not (np.isfinite(scales).all() and (scales > 0).all()):
        return _bad("bad_binary")
    records = np.frombuffer(payload, RECORD, n, HEADER.size)
    return Chunk((float(t0_us) + records["dt_us"]) / 1e6, records["raw"] * scales)


@dataclass
class Device:
    streamer: Streamer
    publisher: ResultPublisher
    last_seen: float


def _log(event: str, **fields) -> None:
    print(json.dumps({"event": event, **fields}), file=sys.stderr, flush=True)


class Gateway:
    """Subscribes to ``<root>/+/imu`` on ``conn`` and classifies each device's stream."""

    def __init__(self, conn: Connection, bundle: Bundle, root: str, *, variant: str = "int8",
                 hop: int | None = None, smooth: str = "none", max_gap_s: float = 0.1, idle_s: float = 60.0,
                 discovery_prefix: str = "homeassistant"):
        self.conn, self.bundle, self.root = conn, bundle, root
        self.classifier = TFLiteClassifier.of_bundle(bundle, variant)
        self.hop = bundle.hop if hop is None else hop
        self.smooth, self.max_gap_s, self.idle_s = smooth, max_gap_s, idle_s
        make_smoother(smooth, bundle)  # a bad spec fails now, not at the first device
        self.limits = SampleLimits.of_bundle(bundle)
        self.discovery_prefix = discovery_prefix
        self.availability = f"{root}/_gateway/availability"
        self.devices: dict[str, Device] = {}
        self.forgotten = 0
        self.rejected: Counter = Counter()
        self.inbox: queue.SimpleQueue = queue.SimpleQueue()
        """(topic, payload, arrival time) from paho's network thread to the classifying one."""
        self._announce = threading.Event()
        self.observers: list = []
        """Objects told, on the classifying thread, ``results(device, chunk, results, streamer)``
        after each message and ``offline(device)`` when a device is forgotten (the web page's hook:
        they must return at once)."""
        conn.on_connect.append(self._connected)
        conn.subscribe(f"{root}/+/imu", lambda client, userdata, msg: self.inbox.put(
            (msg.topic, msg.payload, time.perf_counter())))
        if discovery_prefix:
            conn.subscribe(f"{discovery_prefix}/status",
                           lambda client, userdata, msg: msg.payload == b"online" and self._announce.set())

    def _connected(self) -> None:  # paho's thread: the classifying thread re-announces the devices
        self.conn.publish(self.availability, "online", retain=True)
        self._announce.set()

    def _device(self, name: str, now: float) -> Device:
        streamer = Streamer(self.classifier, self.bundle.pipeline, self.bundle.classes,
                            window=self.bundle.window, hop=self.hop,
                            smoother=make_smoother(self.smooth, self.bundle),
                            max_gap_s=self.max_gap_s, limits=self.limits)
        publisher = ResultPublisher(self.conn, f"{self.root}/{name}", self.bundle.classes, self.bundle.name,
                                    discovery_prefix=self.discovery_prefix, availability=(self.availability,))
        publisher.announce()
        _log("device", device=name)
        return Device(streamer, publisher, now)

    def handle(self, topic: str, payload: bytes, arrived: float) -> None:
        """Feed one node message through its device's streamer and publish the results."""
        name = topic[len(self.root) + 1:-len("/imu")]
        if not DEVICE_ID.fullmatch(name):
            self.rejected["bad_device_id"] += 1
            return
        device = self.devices.get(name)
        if device is None:
            device = self.devices[name] = self._device(name, arrived)
        device.last_seen = arrived
        chunk = decode_batch(payload)
        device.streamer.note_skipped(chunk.skipped)
        results = device.streamer.feed(chunk.t, chunk.x, arrived)
        for result in results:
            device.publisher.publish(result)
        for observer in self.observers:
            observer.results(name, chunk, results, device.streamer)

    def forget_idle(self, now: float) -> None:
        """Mark devices silent for ``idle_s`` offline and drop their state."""
        for name in [n for n, d in self.devices.items() if now - d.last_seen > self.idle_s]:
            device = self.devices.pop(name)
            self.conn.publish(device.publisher.availability, "offline", retain=True)
            self.forgotten += 1
            _log("forgotten", device=name, **self._counts(device))
            for observer in self.observers:
                observer.offline(name)

    @staticmethod
    def _counts(device: Device) -> dict:
        s = device.streamer
        return {"samples": s.samples, "windows": s.windows, "gaps": s.gaps, "resyncs": s.resyncs,
                "skipped": dict(sorted(s.skipped.items())), "labels": dict(s.labels),
                "dropped_windows": device.publisher.dropped}

    def serve(self) -> str:
        """Classify until Ctrl-C ('interrupted') or SIGTERM raising :class:`Terminated`
        ('terminated'). paho's thread receives, sends and reconnects to a broker that went away
        (results queue meanwhile); this thread classifies and publishes."""
        sys.setswitchinterval(0.0005)  # paho's thread gets the GIL within 0.5 ms, not 5: no backlog
        self.conn.open()
        _log("serving", broker=str(self.conn.url), nodes=f"{self.root}/+/imu")
        sweep = time.perf_counter() + 1.0
        try:
            while True:
                if self._announce.is_set():
                    self._announce.clear()
                    for device in self.devices.values():
                        device.publisher.announce()
                with contextlib.suppress(queue.Empty):
                    self.handle(*self.inbox.get(timeout=0.2))
                if (now := time.perf_counter()) >= sweep:
                    self.forget_idle(now)
                    sweep = now + 1.0
        except KeyboardInterrupt:
            return "interrupted"
        except Terminated:
            return "terminated"

    def close(self) -> dict:
        """Mark every device and the gateway offline and disconnect; return the per-device counts."""
        devices = {name: self._counts(device) for name, device in sorted(self.devices.items())}
        summary = {"model": self.bundle.name, "devices": devices,
                   "forgotten": self.forgotten, "rejected": dict(self.rejected)}
        for device in self.devices.values():
            self.conn.publish(device.publisher.availability, "offline", retain=True)
        summary["mqtt"] = self.conn.close(last=(self.availability, "offline"))
        return summary
