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
and bad-input handling as ``edgehar stream``) and its results go out under ``<root>/<device>/`` as
:mod:`edgehar.services.mqtt` describes. The gateway works in batches: it takes the next message of
up to ``BATCH_MESSAGES`` waiting devices, runs them through their streamers' pipeline together
(:mod:`edgehar.services.batch`: the usual messages checked, filtered and windowed with numpy over
all devices at once, the others through their own streamer's checks), classifies all the windows
they complete in one interpreter call per batch (:meth:`TFLiteClassifier.predict`, the same
numbers as one window at a time), then publishes. A device silent for ``idle_s`` is marked offline
and forgotten. Bad payloads are counted, never classified.
"""

from __future__ import annotations

import functools
import json
import math
import re
import struct
import sys
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field

import numpy as np

from edgehar.bundle import Bundle
from edgehar.runtime.interpreter import TFLiteClassifier
from edgehar.runtime.limits import SampleLimits
from edgehar.runtime.smoothing import make_smoother
from edgehar.runtime.sources import Chunk, parse_lines
from edgehar.runtime.stream import Terminated
from edgehar.services.batch import DeviceStreamer, classify_batch
from edgehar.services.mqtt import Connection, ResultPublisher, flush, poll

DEVICE_ID = re.compile(r"[A-Za-z0-9-][A-Za-z0-9_-]{0,63}")
HEADER = struct.Struct("<2sBBQff")
RECORD = np.dtype([("dt_us", "<u4"), ("raw", "<i2", (6,))])
MAGIC, VERSION = b"EH", 1
BATCH_MESSAGES = 128
"""Messages (of as many devices) fed before their windows are classified together."""
GATHER_S = 0.005
"""Batches are taken at most this often: messages gather meanwhile, so that the gateway's thread
wakes once for many (reads them in one go, classifies them in one call), not once each."""


def pack_binary(t0_us: int, dt_us, raw, acc_scale: float, gyro_scale: float) -> bytes:
    """The compact form of one batch: ``dt_us`` (n,) offsets, ``raw`` (n, 6) sensor counts."""
    records = np.zeros(len(dt_us), RECORD)
    records["dt_us"], records["raw"] = dt_us, raw
    return HEADER.pack(MAGIC, VERSION, len(records), t0_us, acc_scale, gyro_scale) + records.tobytes()


def _bad(reason: str) -> Chunk:
    return Chunk(np.empty(0), np.empty((0, 6)), Counter({reason: 1}))


def _header(payload: bytes) -> tuple[int, float, float, float] | None:
    """(n, t0_us, acc_scale, gyro_scale) of a well-formed binary batch, else None."""
    if len(payload) < HEADER.size:
        return None
    _, version, n, t0_us, acc_scale, gyro_scale = HEADER.unpack_from(payload)
    if version != VERSION or n == 0 or len(payload) != HEADER.size + n * RECORD.itemsize \
            or not (0 < acc_scale < math.inf and 0 < gyro_scale < math.inf):
        return None
    return n, float(t0_us), acc_scale, gyro_scale


def decode_batch(payload: bytes) -> Chunk:
    """A node's message -> samples in seconds, g and rad/s; what is unusable is counted in ``skipped``."""
    return decode_batches([payload])[0]


def decode_batches(payloads: list[bytes]) -> list[Chunk]:
    """:func:`decode_batch` of each message, the binary ones' samples in one numpy pass."""
    joined = decode_joined(payloads)
    return [Chunk(joined.t[a:b].copy(), joined.x[a:b].copy()) if chunk is None else chunk
            for chunk, a, b in zip(joined.chunks, joined.starts.tolist(), joined.ends.tolist(), strict=True)]


@dataclass
class Joined:
    """Messages decoded together: the binary ones' samples one after the other (message i's are
    ``t[starts[i]:ends[i]]``, ``x[...]``; none for the others), the others as chunks."""

    t: np.ndarray
    x: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    chunks: list[Chunk | None]
    """Each text or malformed message's chunk; None for a binary one."""


def decode_joined(payloads: list[bytes]) -> Joined:
    """Messages -> their samples in seconds, g and rad/s, the binary ones' in one numpy pass."""
    chunks: list[Chunk | None] = [None] * len(payloads)
    counts = np.zeros(len(payloads), np.int64)
    binary, headers = [], []
    for i, payload in enumerate(payloads):
        if payload[:2] != MAGIC:
            chunks[i] = parse_lines(payload.split(b"\n"))
        elif (header := _header(payload)) is None:
            chunks[i] = _bad("bad_binary")
        else:
            binary.append(i)
            headers.append(header)
    t, x = np.empty(0), np.empty((0, 6))
    if binary:
        records = np.frombuffer(b"".join(memoryview(payloads[i])[HEADER.size:] for i in binary), RECORD)
        n, t0_us, acc, gyro = (np.array(column) for column in zip(*headers, strict=True))
        t = (np.repeat(t0_us, n) + records["dt_us"]) / 1e6
        scale = np.repeat(np.stack([acc, gyro], axis=1), 3, axis=1)  # a, a, a, g, g, g (np.c_ costs 18 µs)
        x = records["raw"] * np.repeat(scale, n, axis=0)
        counts[binary] = n
    ends = np.cumsum(counts)
    return Joined(t, x, ends - counts, ends, chunks)


@dataclass(frozen=True)
class Limits:
    """What one device may cost the gateway; beyond, its own messages are dropped and counted."""

    max_devices: int = 8_000
    """Devices known at once; a new one beyond is refused until others are forgotten."""
    max_message: int = 65_536
    """Bytes of one message (a 255-sample binary batch is 4,100; 255 text lines about 25,000)."""
    rate_hz: float = 200.0
    """Samples a second one device may send on average (4x the 50 Hz a node needs) ..."""
    burst: int = 15_000
    """... and at once (a node sending what it held through a 5-minute outage)."""
    queue_bytes: int = 64 * 2**20
    """Bytes of all devices' waiting messages together."""


def batch_samples(payload: bytes) -> int:
    """How many samples a message carries, told without parsing it (text: its lines)."""
    if payload[:2] == MAGIC and len(payload) >= HEADER.size:
        return payload[3]
    return payload.count(b"\n") + 1


@dataclass(eq=False)
class Device:
    """One node. Its queue and drop counts belong to :class:`Inbox` (under its lock), its stream
    to the classifying thread (created at its first message)."""

    tokens: float
    last_seen: float
    queue: deque = field(default_factory=deque)
    """(payload, arrival time, samples) waiting to be classified."""
    queued_bytes: int = 0
    served: bool = False
    """Whether a message of it was handed to the classifying thread."""
    lane: str = "main"
    """Which connection its messages are taken from: "main" (the wildcard subscription), "moving"
    (still main, while the quiet one catches up), "quiet" (its own subscription on the quiet
    connection), "demoted" (main for good: it sent more than its share)."""
    last_hash: int = 0
    quiet_hash: int = 0
    """hash() of its last message on the main and on the quiet connection: once they are equal
    (both delivered its latest message) the quiet connection takes over."""
    dropped: Counter = field(default_factory=Counter)
    streamer: DeviceStreamer | None = None
    publisher: ResultPublisher | None = None


class Inbox:
    """Per-device bounded queues between the network reads (:meth:`put`) and the classifying
    thread (:meth:`get`: one message of each waiting device in turn; devices not yet served wait in a
    lane of their own, served as often as the known ones, so new ids cannot crowd out known devices).

    A device that sends more than its share loses its own messages, counted in its ``dropped``
    (``too_large``: messages over ``max_message`` bytes, refused before parsing; ``rate_limited``,
    ``memory_budget``: samples); another device's never wait behind them. While all queues together
    hold more than ``queue_bytes``, the device holding most loses its oldest."""

    def __init__(self, limits: Limits):
        self.limits = limits
        self.devices: dict[str, Device] = {}
        self.refused = 0
        """Messages of new devices refused at ``max_devices``."""
        self.lock = threading.Lock()
        self._ready: deque[str] = deque()
        """Devices already served with messages waiting, in the order they are served."""
        self._new: deque[str] = deque()
        """Devices never served yet with messages waiting."""
        self._new_turn = False
        self._bytes = 0
        self.demoted: list[str] = []
        """Devices taken off the quiet connection, to unsubscribe there."""

    def put(self, name: str, payload: bytes, arrived: float, quiet: bool = False) -> None:
        """Queue a message that came on the main connection or (``quiet``) on the quiet one."""
        with self.lock:
            device = self.devices.get(name)
            if quiet:
                if device is not None:
                    self._from_quiet(name, device, payload, arrived)
                return
            if device is None:
                if len(self.devices) >= self.limits.max_devices:
                    self.refused += 1
                    return
                device = self.devices[name] = Device(tokens=self.limits.burst, last_seen=arrived)
            elif device.lane == "quiet":
                return
            device.last_hash = hash(payload)
            self._queue(name, device, payload, arrived)
            if device.lane == "moving" and device.last_hash == device.quiet_hash:
                device.lane = "quiet"  # the quiet connection had it too: its next message is new

    def _from_quiet(self, name: str, device: Device, payload: bytes, arrived: float) -> None:
        if device.lane == "quiet":
            self._queue(name, device, payload, arrived)
        elif device.lane == "moving":
            device.quiet_hash = hash(payload)
            if device.quiet_hash == device.last_hash:  # the main connection had it already
                device.lane = "quiet"

    def _queue(self, name: str, device: Device, payload: bytes, arrived: float) -> None:
        limits = self.limits
        device.tokens = min(limits.burst, device.tokens + (arrived - device.last_seen) * limits.rate_hz)
        device.last_seen = arrived
        if len(payload) > limits.max_message:
            device.dropped["too_large"] += 1
            return
        n = batch_samples(payload)
        if n > device.tokens:
            device.dropped["rate_limited"] += n
            self._demote(name, device)
            return
        device.tokens -= n
        if not device.queue:
            (self._ready if device.served else self._new).append(name)
        device.queue.append((payload, arrived, n))
        device.queued_bytes += len(payload)
        self._bytes += len(payload)
        while self._bytes > limits.queue_bytes:
            self._evict()

    def _evict(self) -> None:
        name = max((*self._ready, *self._new), key=lambda n: self.devices[n].queued_bytes)
        device = self.devices[name]
        payload, _, n = device.queue.popleft()
        device.dropped["memory_budget"] += n
        self._demote(name, device)
        device.queued_bytes -= len(payload)
        self._bytes -= len(payload)
        if not device.queue:
            (self._ready if device.served else self._new).remove(name)

    def _demote(self, name: str, device: Device) -> None:
        if device.lane in ("moving", "quiet"):
            self.demoted.append(name)
        device.lane = "demoted"

    def promote(self, device: Device) -> bool:
        """Start moving a well-behaved device to the quiet connection; False if it may not."""
        with self.lock:
            if device.lane != "main" or device.dropped:
                return False
            device.lane = "moving"
            return True

    def quiet_lost(self) -> list[str]:
        """The quiet connection went away: its devices are taken from the main one until it is back
        and has caught up again; returns them (to subscribe again)."""
        with self.lock:
            moved = [name for name, d in self.devices.items() if d.lane in ("moving", "quiet")]
            for name in moved:
                self.devices[name].lane = "moving"
                self.devices[name].quiet_hash = 0
            return moved

    def take_demoted(self) -> list[str]:
        with self.lock:
            demoted, self.demoted = self.demoted, []
            return demoted

    @property
    def waiting(self) -> bool:
        """Whether a message waits to be classified."""
        return bool(self._ready or self._new)

    def get(self) -> tuple[str, Device, bytes, float] | None:
        """The next device's oldest message, if one waits."""
        batch = self.get_batch(1)
        return batch[0] if batch else None

    def get_batch(self, limit: int) -> list[tuple[str, Device, bytes, float]]:
        """The oldest message of each of the next devices in turn, up to ``limit`` messages and at
        most one of each device (none if nothing waits: the serving thread reads the network itself)."""
        batch: list[tuple[str, Device, bytes, float]] = []
        with self.lock:
            taken = set()
            while len(batch) < limit and (self._ready or self._new):
                lane = self._new if self._new and (not self._new_turn or not self._ready
                                                   or self._ready[0] in taken) else self._ready
                if lane[0] in taken:  # every device waiting has a message in this batch
                    break
                self._new_turn = not self._new_turn
                name = lane.popleft()
                taken.add(name)
                device = self.devices[name]
                device.served = True
                payload, arrived, _ = device.queue.popleft()
                device.queued_bytes -= len(payload)
                self._bytes -= len(payload)
                if device.queue:
                    self._ready.append(name)
                batch.append((name, device, payload, arrived))
        return batch

    def idle(self, before: float) -> list[tuple[str, Device]]:
        """Remove and return the devices silent since ``before`` that have nothing waiting."""
        with self.lock:
            gone = [(n, d) for n, d in self.devices.items() if d.last_seen < before and not d.queue]
            for name, _ in gone:
                del self.devices[name]
        return gone

    def dropped(self, device: Device) -> dict:
        with self.lock:
            return dict(sorted(device.dropped.items()))


def _log(event: str, **fields) -> None:
    sys.stderr.write(json.dumps({"event": event, **fields}) + "\n")  # one write: SIGTERM cannot tear it
    sys.stderr.flush()


def availability_topic(root: str, partition: tuple[int, int] | None) -> str:
    """The gateway's own retained online/offline (one per partition): its devices' sensors need it."""
    name = "_gateway" if partition is None else f"_gateway_{partition[0]}"
    return f"{root}/{name}/availability"


ANNOUNCE_INTERVAL_S = 30.0
"""Devices are announced again (Home Assistant restarted, reconnection) at most this often."""
CAP_LOG_INTERVAL_S = 60.0


class Gateway:
    """Subscribes to ``<root>/+/imu`` on ``conn`` (``<root>/+/imu/K`` for ``partition`` (K, N),
    where the broker maps each device to one of N partitions) and classifies each device's stream.

    A device silent for ``idle_s`` is forgotten: its retained messages (Home Assistant discovery,
    availability, state) are cleared, or with ``keep_retained`` it is only marked offline.
    ``result_qos`` and ``retain_every_window``: how each window's results go out
    (:class:`~edgehar.services.mqtt.ResultPublisher`)."""

    def __init__(self, conn: Connection, bundle: Bundle, root: str, *, variant: str = "int8",
                 hop: int | None = None, smooth: str = "none", max_gap_s: float = 0.1, idle_s: float = 60.0,
                 discovery_prefix: str = "homeassistant", limits: Limits = Limits(),
                 keep_retained: bool = False, partition: tuple[int, int] | None = None,
                 quiet: Connection | None = None, result_qos: int = 1, retain_every_window: bool = True):
        self.conn, self.bundle, self.root = conn, bundle, root
        self.result_qos, self.retain_every_window = result_qos, retain_every_window
        self.classifier = TFLiteClassifier.of_bundle(bundle, variant)
        self.hop = bundle.hop if hop is None else hop
        self.smooth, self.max_gap_s, self.idle_s = smooth, max_gap_s, idle_s
        self.limits = SampleLimits.of_bundle(bundle)
        self._streamer()  # a bad hop, gap or smoothing fails now, not at the first device
        self.discovery_prefix, self.keep_retained = discovery_prefix, keep_retained
        self.availability = availability_topic(root, partition)
        self._suffix = "" if partition is None else f"/{partition[0]}"
        self.nodes = f"{root}/+/imu{self._suffix}"
        self.inbox = Inbox(limits)
        self.forgotten = 0
        self.rejected: Counter = Counter()
        self._announce = threading.Event()
        self.observers: list = []
        """Objects told, on the classifying thread, ``results(device, chunk, results, streamer)``
        after each message and ``offline(device)`` when a device is forgotten (the web page's hook:
        they must return at once)."""
        self._next_announce = 0.0
        self._announcing: list[tuple[str, Device]] = []
        self._withdrawing: list[tuple[str, Device]] = []
        self._refused_logged, self._next_cap_log = 0, 0.0
        conn.on_connect.append(self._connected)
        conn.subscribe(self.nodes, self._received)
        self.quiet = quiet
        """A second connection on which each well-behaved device (one window, nothing dropped) gets
        a subscription of its own (QoS 0: on NATS a QoS 1 subscription is a JetStream consumer,
        slow to make by the thousand), and on which the results go out: a flood on the main connection's
        wildcard subscription, which the broker queues and drops from as it likes, never delays or
        drops their messages, nor the broker's acknowledgements of the results."""
        self.out = quiet or conn
        if quiet is not None:
            quiet.client.on_message = functools.partial(self._received, quiet=True)
            quiet.client.on_disconnect = lambda *args: self.inbox.quiet_lost()
            quiet.on_connect.append(self._quiet_connected)
        if discovery_prefix:
            conn.subscribe(f"{discovery_prefix}/status",
                           lambda client, userdata, msg: msg.payload == b"online" and self._announce.set())

    def _received(self, client, userdata, msg, quiet: bool = False) -> None:  # a network read: no parsing
        name = msg.topic[len(self.root) + 1:].split("/", 1)[0]
        if DEVICE_ID.fullmatch(name):
            self.inbox.put(name, msg.payload, time.perf_counter(), quiet)
        else:
            self.rejected["bad_device_id"] += 1

    def _topic(self, name: str) -> str:
        return f"{self.root}/{name}/imu{self._suffix}"

    def _quiet_connected(self) -> None:  # subscribe again after a reconnection
        for name in self.inbox.quiet_lost():
            self.quiet.client.subscribe(self._topic(name), qos=0)

    def _connected(self) -> None:  # the devices are announced again, paced
        self.conn.publish(self.availability, "online", retain=True)
        self._announce.set()

    def _streamer(self) -> DeviceStreamer:
        return DeviceStreamer(self.classifier, self.bundle.pipeline, self.bundle.classes,
                              window=self.bundle.window, hop=self.hop,
                              smoother=make_smoother(self.smooth, self.bundle),
                              max_gap_s=self.max_gap_s, limits=self.limits)

    def _start(self, name: str, device: Device) -> None:
        device.streamer = self._streamer()
        device.publisher = ResultPublisher(self.out, f"{self.root}/{name}", self.bundle.classes,
                                           self.bundle.name, discovery_prefix=self.discovery_prefix,
                                           availability=(self.availability,), qos=self.result_qos,
                                           retain_every_window=self.retain_every_window)
        self._announcing.append((name, device))  # paced: thousands of new ids must not delay results
        _log("device", device=name)

    def handle(self, messages: list[tuple[str, Device, bytes, float]]) -> None:
        """Feed node messages (at most one of each device) through their devices' streamers,
        classify all the windows they complete in one batch, and publish the results."""
        joined = decode_joined([payload for _, _, payload, _ in messages])
        for name, device, _, _ in messages:
            if device.streamer is None:
                self._start(name, device)
        streamers = [device.streamer for _, device, _, _ in messages]
        done = classify_batch(self.classifier, streamers, joined, [arrived for *_, arrived in messages])
        for i, ((name, device, _, _), results) in enumerate(zip(messages, done, strict=True)):
            streamer = device.streamer
            for result in results:
                device.publisher.publish(result)
            if self.observers and (chunk := joined.chunks[i]) is None:  # (the web page keeps them)
                a, b = joined.starts[i], joined.ends[i]
                chunk = Chunk(joined.t[a:b].copy(), joined.x[a:b].copy())
            for observer in self.observers:
                observer.results(name, chunk, results, streamer)
            if self.quiet is not None and device.lane == "main" and streamer.windows \
                    and self.inbox.promote(device):
                self.quiet.client.subscribe(self._topic(name), qos=0)

    def forget_idle(self, now: float) -> None:
        """Forget devices silent for ``idle_s``; their retained messages are cleared (or they are
        marked offline) by :meth:`_pace_retained`."""
        for name, device in self.inbox.idle(now - self.idle_s):
            if device.lane in ("moving", "quiet"):
                self.quiet.client.unsubscribe(self._topic(name))
            if device.publisher is not None:
                self._withdrawing.append((name, device))
            self.forgotten += 1
            _log("forgotten", device=name, **self._counts(device))
            for observer in self.observers:
                observer.offline(name)

    def _pace_retained(self, now: float) -> None:
        """Announce every device again (at most every ANNOUNCE_INTERVAL_S) and clear the retained
        messages of forgotten ones, a few at a time: they never fill the connection's queue, which
        the devices' results need."""
        if self._announce.is_set() and now >= self._next_announce:
            self._announce.clear()
            self._next_announce = now + ANNOUNCE_INTERVAL_S
            with self.inbox.lock:
                self._announcing = list(self.inbox.devices.items())
        while (self._announcing or self._withdrawing) and self.out.pending < self.out.buffer // 4:
            if self._withdrawing:
                self._withdraw(*self._withdrawing.pop())
            else:
                name, device = self._announcing.pop()
                if device.publisher is not None and self.inbox.devices.get(name) is device:
                    device.publisher.announce()

    def _withdraw(self, name: str, device: Device) -> None:
        if name in self.inbox.devices:  # back already, and announced anew
            return
        if self.keep_retained:
            self.out.publish(device.publisher.availability, "offline", retain=True)
        else:
            device.publisher.withdraw()

    def _log_cap(self, now: float) -> None:
        if self.inbox.refused > self._refused_logged and now >= self._next_cap_log:
            _log("device_cap", max_devices=self.inbox.limits.max_devices, refused_messages=self.inbox.refused,
                 detail="new devices are refused until known ones are forgotten (--idle)")
            self._refused_logged, self._next_cap_log = self.inbox.refused, now + CAP_LOG_INTERVAL_S

    def _counts(self, device: Device) -> dict:
        counts = {"dropped": self.inbox.dropped(device), "lane": device.lane}
        if (s := device.streamer) is not None:
            counts.update({"samples": s.samples, "windows": s.windows, "gaps": s.gaps, "resyncs": s.resyncs,
                           "skipped": dict(sorted(s.skipped.items())), "labels": dict(s.labels),
                           "dropped_windows": device.publisher.dropped})
        return counts

    def serve(self) -> str:
        """Classify until Ctrl-C ('interrupted') or SIGTERM raising :class:`Terminated`
        ('terminated'). One thread does it all (:func:`~edgehar.services.mqtt.poll`): every
        ``GATHER_S`` it reads what has come on both connections, classifies it and publishes, with
        no hand-over between threads; what a turn published goes out together at its end
        (:func:`~edgehar.services.mqtt.flush`); it reconnects to a broker that went away (results
        queue meanwhile)."""
        connections = [self.conn] if self.quiet is None else [self.conn, self.quiet]
        for conn in connections:
            conn.open(polled=True)
        _log("serving", broker=str(self.conn.url), nodes=self.nodes)
        sweep, next_batch = time.perf_counter() + 1.0, 0.0
        try:
            while True:
                self._pace_retained(time.perf_counter())
                if (wait := next_batch - time.perf_counter()) > 0:
                    time.sleep(wait)
                poll(connections, 0 if self.inbox.waiting else 0.2)
                if messages := self.inbox.get_batch(BATCH_MESSAGES):
                    next_batch = time.perf_counter() + GATHER_S
                    self.handle(messages)
                if self.inbox.demoted:
                    for name in self.inbox.take_demoted():
                        self.quiet.client.unsubscribe(self._topic(name))
                if (now := time.perf_counter()) >= sweep:
                    self.forget_idle(now)
                    self._log_cap(now)
                    sweep = now + 1.0
                flush(connections)
        except KeyboardInterrupt:
            return "interrupted"
        except Terminated:
            return "terminated"

    def close(self) -> dict:
        """Mark every device and the gateway offline and disconnect; return the per-device counts."""
        with self.inbox.lock:
            known = sorted(self.inbox.devices.items())
        devices = {name: self._counts(device) for name, device in known}
        rejected = self.rejected + Counter({"device_cap": self.inbox.refused})
        summary = {"model": self.bundle.name, "devices": devices,
                   "forgotten": self.forgotten, "rejected": dict(rejected)}
        for forgotten in self._withdrawing:
            self._withdraw(*forgotten)
        for _, device in known:
            if device.publisher is not None:
                self.out.publish(device.publisher.availability, "offline", retain=True)
        if self.quiet is not None:  # the results' connection is the one whose counts matter
            summary["mqtt"] = self.quiet.close()
            self.conn.close(last=(self.availability, "offline"))
        else:
            summary["mqtt"] = self.conn.close(last=(self.availability, "offline"))
        return summary
