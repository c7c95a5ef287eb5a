"""Results over MQTT, for home-automation hubs and dashboards (needs ``edgehar[mqtt]``: paho-mqtt).

Under a base topic ``B`` (the path of ``mqtt://HOST/B``) a :class:`ResultPublisher` sends

- ``B/window``: every window's JSON object, as ``stream --jsonl`` prints it (QoS 1, or 0 by choice);
- ``B/state``: retained ``{"activity", "smoothed", "label", "label_activity", "confidence", "t_end"}``:
  ``activity`` is the smoothed activity (``smoothed_activity``: a model's transition label,
  in ``smoothed``, stands for its destination posture, :mod:`edgehar.runtime.activity`); by choice
  retained only when ``activity`` changes (a broker that stores each retained message in a
  replicated log, NATS, then writes one per change, not one per window);
- ``B/availability``: retained ``online`` / ``offline``;
- ``<prefix>/sensor/<id>/activity/config``: Home Assistant MQTT discovery of an ``enum`` sensor
  whose options are the model's activity classes, with the state's fields as attributes.

A :class:`Connection` connects once, failing with one clear line (bad credentials, no broker,
TLS), then paho's network thread does all I/O and reconnects by itself (or the caller's thread
does, with :func:`poll` and :func:`flush`: what a turn publishes goes out together, in a few
segments): publishing only queues, so the stream never waits on the network.
While the broker is away, messages wait in a bounded, ordered queue and go out after
reconnection; what does not fit is dropped and counted.
"""

from __future__ import annotations

import functools
import json
import math
import os
import re
import select
import socket
import ssl
import sys
import threading
import time
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import edgehar
from edgehar.errors import EdgeharError
from edgehar.runtime.activity import activity_classes

USERNAME_ENV, PASSWORD_ENV = "EDGEHAR_MQTT_USERNAME", "EDGEHAR_MQTT_PASSWORD"
DEFAULT_BUFFER = 10_000
"""Messages (two per window) held while the broker is away; about 3.5 h of one stream."""
PACKET_OVERHEAD = 1024
"""Bytes a PUBLISH packet adds around its payload, generously: fixed header, topic, packet id, properties."""


class PublishError(EdgeharError):
    """The broker cannot be reached, refuses us, or the URL is wrong."""


@dataclass(frozen=True)
class BrokerURL:
    """``mqtt[s]://[USER[:PASS]@]HOST[:PORT]/TOPIC``; credentials default to the environment."""

    tls: bool
    host: str
    port: int
    topic: str
    username: str | None = None
    password: str | None = None

    def __str__(self) -> str:  # never shows the password
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}/{self.topic}"


def parse_url(url: str, default_topic: str) -> BrokerURL:
    """Parse a broker URL; USER and PASS come from $EDGEHAR_MQTT_USERNAME/PASSWORD when absent."""
    scheme, _, rest = url.partition("://")
    userinfo, at, hostpart = rest.partition("@")
    if at and "/" in userinfo and ":" in userinfo and not re.match(r"[^/@]*:\d*/", userinfo):
        url = f"{scheme}://{userinfo.replace('/', '%2F')}@{hostpart}"  # a '/' in USER or PASS
    shown = re.sub(r"//.*@", "//***@", url)  # never a password, whatever it holds
    expected = f"{shown}: expected mqtt://[USER[:PASS]@]HOST[:PORT]/TOPIC (or mqtts://)"
    try:
        parts = urlsplit(url)
    except ValueError:  # an unparsable IPv6 address
        raise PublishError(expected) from None
    try:
        port, host = parts.port, parts.hostname
    except ValueError:  # a port beyond 65535, an unparsable IPv6 address
        port = host = -1
    if host == -1 or parts.scheme not in ("mqtt", "mqtts") or not parts.hostname or port == -1 or parts.query:
        raise PublishError(expected)
    topic = unquote(parts.path).strip("/") or default_topic
    if not is_topic(topic):
        raise PublishError(f"{shown}: topic {topic!r} may not hold +, # or empty levels")
    tls = parts.scheme == "mqtts"
    username = unquote(parts.username) if parts.username else os.environ.get(USERNAME_ENV)
    password = unquote(parts.password) if parts.password else os.environ.get(PASSWORD_ENV)
    return BrokerURL(tls, parts.hostname, port or (8883 if tls else 1883), topic, username, password)


def is_topic(topic: str) -> bool:
    """Whether ``topic`` can be published to: no wildcard, NUL or empty level."""
    return bool(topic) and not any(c in topic for c in "+#\0") and "//" not in topic \
        and not topic.startswith("/") and not topic.endswith("/")


def _note(text: str) -> None:
    """One line on stderr about the broker connection (from paho's network thread)."""
    print(f"note: {text}", file=sys.stderr, flush=True)


def _paho():
    try:
        import paho.mqtt.client as mqtt
    except ImportError:
        raise PublishError("MQTT needs paho-mqtt: pip install 'edgehar[mqtt]'") from None
    return mqtt


class Connection:
    """One client session: connect or fail clearly, then queue messages in order, QoS 1.

    ``will_topic`` (if any) gets a retained ``offline`` from the broker if this process vanishes.
    ``on_connect`` callables run on every (re)connection, from paho's network thread.
    ``max_packet`` (bytes): connect with MQTT 5 and announce it as the session's Maximum Packet
    Size, so that the broker never sends a larger packet (it drops the message for this client
    instead: a 60 MB message is never read); a broker that speaks only MQTT 3.1.1 (NATS) gets a
    3.1.1 session and a note."""

    def __init__(self, url: BrokerURL, will_topic: str | None, *, ca_file: str | None = None,
                 buffer: int = DEFAULT_BUFFER, timeout: float = 10.0, max_packet: int | None = None):
        mqtt = _paho()
        self.url, self.timeout, self.buffer, self.max_packet = url, timeout, buffer, max_packet
        if url.tls and ca_file and not os.path.isfile(ca_file):
            raise PublishError(f"--mqtt-ca {ca_file}: no such file")
        self._ca_file, self._will_topic = ca_file, will_topic
        self._routes: dict[str, object] = {}
        """Callbacks of the exact topics subscribed; every other message goes to ``_wildcard``."""
        self._wildcard = None
        self.polled = False
        """Whether the caller's thread does the network I/O (:meth:`open` ``polled``), not paho's."""
        self.client = self._new_client(mqtt.MQTTv5 if max_packet else mqtt.MQTTv311)
        self._sent, self._no_conn = mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN
        self.on_connect: list = []
        self.queued = self.acked = self.dropped = self.connects = 0
        self._answer = threading.Event()
        self._refusal: str | None = None
        self._closing = False
        self._next_try = 0.0

    def _new_client(self, protocol):
        """A paho client for ``protocol``, configured as this connection wants it."""
        mqtt = _paho()
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=protocol)
        client.max_queued_messages_set(self.buffer)
        # no limit on messages awaiting the broker's ack (the buffer bounds them): with one, paho scans every
        # message awaiting its ack at each ack (15-20 % of the CPU a published window costs)
        client.max_inflight_messages_set(0)
        client.reconnect_delay_set(1, 10)
        client.connect_timeout = self.timeout
        if self.url.username:
            client.username_pw_set(self.url.username, self.url.password)
        if self.url.tls:
            try:
                client.tls_set(ca_certs=self._ca_file)
            except (ssl.SSLError, OSError, ValueError) as err:
                raise PublishError(f"--mqtt-ca {self._ca_file}: not a PEM CA certificate ({err})") from None
        if self._will_topic:
            client.will_set(self._will_topic, "offline", qos=1, retain=True)
        client.on_socket_open = lambda client, userdata, sock: sock.setsockopt(
            socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # each result goes out at once, not batched by Nagle
        client.on_connect = self._connected
        client.on_disconnect = self._disconnected
        client.on_publish = self._published
        client.on_message = self._dispatch
        if self.polled:  # publish() only queues: flush() sends a turn's packets together
            client.on_socket_register_write = _queued
        return client

    def _connected(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            self._refusal = str(reason_code)
        else:
            self.connects += 1
            if self.connects > 1:
                _note(f"{self.url}: connected again; {self.pending} queued messages go out now")
            for callback in self.on_connect:
                callback()
        self._answer.set()

    def _disconnected(self, client, userdata, flags, reason_code, properties) -> None:
        if self.connects and not self._closing:
            _note(f"{self.url}: connection lost ({reason_code}); messages wait in the buffer (up to "
                  "--mqtt-buffer) while it reconnects")

    def _published(self, client, userdata, mid, reason_code, properties) -> None:
        self.acked += 1

    def _dispatch(self, client, userdata, msg) -> None:
        """A message to its exact topic's callback, else to the wildcard subscription's: one dict
        look-up, where paho's ``message_callback_add`` walks its topic tree for every message."""
        try:
            callback = self._routes.get(msg.topic, self._wildcard)
        except UnicodeDecodeError:  # not a topic this connection subscribed to
            return
        if callback is not None:
            callback(client, userdata, msg)

    def open(self, polled: bool = False) -> Connection:
        """Connect and wait for the broker's answer; raise :class:`PublishError` if it is not yes.
        ``polled``: paho starts no network thread; until :meth:`close`, the caller's thread does
        this connection's I/O with :func:`poll` and :func:`flush` (no hand-over between threads,
        many packets a wake-up, one send of what a turn published)."""
        if polled and not self.polled:
            self.polled = True
            self.client.on_socket_register_write = _queued
        self._connect()
        if self.max_packet and self._refusal == "Unsupported protocol version":  # NATS: MQTT 3.1.1 only
            _note(f"{self.url}: the broker speaks only MQTT 3.1.1, which cannot announce a largest "
                  f"message ({self.max_packet} bytes): larger ones are read, then refused; limit their "
                  "size at the broker (docs/fleet.md)")
            self.max_packet = None
            # a 3.1.1 client with what was set on this one: its callbacks (the routes stay here)
            old, self.client = self.client, self._new_client(_paho().MQTTv311)
            self.client.on_message, self.client.on_disconnect = old.on_message, old.on_disconnect
            self._connect()
        if self._refusal:
            why = f"broker refused the connection: {self._refusal}"
            hint = f" (check the user name and password, or ${USERNAME_ENV}/${PASSWORD_ENV})" \
                if "authori" in self._refusal or "password" in self._refusal else ""
            raise PublishError(f"{self.url}: {why}{hint}")
        return self

    def _connect(self) -> None:
        """Connect and wait for the broker's answer (a no is left in ``_refusal``)."""
        properties = None
        if self.max_packet:
            from paho.mqtt.packettypes import PacketTypes
            from paho.mqtt.properties import Properties

            properties = Properties(PacketTypes.CONNECT)
            properties.MaximumPacketSize = self.max_packet
        self._refusal = None
        self._answer.clear()
        try:
            self.client.connect(self.url.host, self.url.port, keepalive=30, properties=properties)
        except OSError as err:  # refused, unknown host, timeout, TLS
            why = getattr(err, "reason", None) or err.strerror or err  # TLS errors have a reason
            raise PublishError(f"{self.url}: cannot connect ({why})") from None
        if self.polled:  # never paho's thread: its wake-up socket would get a byte per packet
            deadline = time.monotonic() + self.timeout
            while not self._answer.is_set() and (left := deadline - time.monotonic()) > 0:
                poll([self], min(left, 0.1))
                flush([self])
            answered = self._answer.is_set()
        else:
            self.client.loop_start()
            answered = self._answer.wait(self.timeout)
        if not answered or self._refusal:
            if self.polled:
                self.client.disconnect()
                flush([self])  # (the DISCONNECT only queued)
            else:
                self.client.loop_stop()
                self.client.disconnect()
            if not self._refusal:
                raise PublishError(f"{self.url}: no answer from the broker in {self.timeout:g} s")

    def socket(self):
        """The connection's socket for :func:`poll`; a lost one is reconnected, at most every
        RECONNECT_S (None while the broker is away)."""
        if self.client.socket() is None and time.monotonic() >= self._next_try:
            self._next_try = time.monotonic() + RECONNECT_S
            try:
                self.client.reconnect()
            except OSError:  # the broker is still away
                pass
        return self.client.socket()

    def publish(self, topic: str, payload: str, retain: bool = False, qos: int = 1) -> bool:
        """Queue one message without waiting; False if it was dropped (counted): at QoS 1 when the
        buffer is full, at QoS 0 while the broker is away (QoS 0 messages are never held)."""
        rc = self.client.publish(topic, payload, qos=qos, retain=retain).rc
        if rc == self._sent or (qos and rc == self._no_conn):  # sent, or held until the broker is back
            self.queued += 1
            return True
        self.dropped += 1
        return False

    def subscribe(self, topic: str, callback) -> None:
        """Deliver messages on ``topic`` to ``callback(client, userdata, message)``, on every connection.
        At most one ``topic`` with a wildcard: its callback gets every message on no exact topic."""
        if "+" in topic or "#" in topic:
            if self._wildcard is not None:
                raise ValueError("one wildcard subscription per connection")
            self._wildcard = callback
        else:
            self._routes[topic] = callback
        self.on_connect.append(lambda: self.client.subscribe(topic, qos=1))
        if self.client.is_connected():
            self.client.subscribe(topic, qos=1)

    @property
    def pending(self) -> int:
        return self.queued - self.acked

    def _drain(self, deadline: float) -> None:
        while self.pending and time.monotonic() < deadline:
            time.sleep(0.01)

    def close(self, last: tuple[str, str] | None = None, drain_s: float = 10.0) -> dict:
        """Wait up to ``drain_s`` for queued messages, then send ``last`` (topic, payload; retained)
        and disconnect; return the counts (``undelivered``: still queued when time ran out)."""
        deadline = time.monotonic() + drain_s
        if self.polled:  # paho's thread again, to send what is queued
            self.polled = False
            self.client.on_socket_register_write = None
            self.client.loop_start()
        try:
            self._drain(deadline)
            if last and not self.pending:
                self.publish(*last, retain=True)
                self._drain(deadline)
        except KeyboardInterrupt:  # a second Ctrl-C: stop waiting for the broker, still report
            pass
        undelivered = self.pending
        self._closing = True
        self.client.disconnect()
        self.client.loop_stop()
        return {"broker": str(self.url), "messages": self.queued, "delivered": self.acked,
                "dropped": self.dropped, "undelivered": undelivered, "connections": self.connects}


RECONNECT_S = 1.0
"""How often :func:`poll` tries to reconnect a lost connection."""
CORK = getattr(socket, "TCP_CORK", None)
"""Linux: hold a socket's sends until uncorked, so that many packets go out in few segments."""


def _queued(client, userdata, sock) -> None:
    """paho's ``on_socket_register_write``: with one set, ``publish()`` queues and sends nothing
    (without, it sends each packet at once); :func:`flush` sends."""


def poll(connections: list[Connection], timeout: float, rounds: int = 256) -> None:
    """The network reads of connections opened ``polled``: wait up to ``timeout`` s for one to
    have data (or room for what waits to be sent), read what has come (at most ``rounds`` reads of
    each: a flood cannot keep the caller here) and keep them alive; :func:`flush` sends. A lost one
    is reconnected (at most every RECONNECT_S; an unreachable broker holds the caller up to the
    connection's timeout); its subscriptions and ``on_connect`` follow when the broker answers."""
    socks = {sock: conn.client for conn in connections if (sock := conn.socket()) is not None}

    def readable(wait: float) -> set:
        open_ = [sock for sock, client in socks.items() if client.socket() is sock]
        buffered = {sock for sock in open_ if getattr(sock, "pending", int)()}  # TLS: read, not handed out
        if buffered or not wait:
            return buffered | set(select.select(open_, [], [], 0)[0])
        writing = [sock for sock in open_ if socks[sock].want_write()]
        return set(select.select(open_, writing, [], wait)[0])

    ready = readable(timeout)
    for _ in range(rounds):
        for sock in ready:
            socks[sock].loop_read()
        if not (ready := readable(0)):
            break
    for client in socks.values():
        if client.socket() is not None:
            client.loop_misc()


def flush(connections: list[Connection]) -> None:
    """Send what the connections opened ``polled`` have queued since the last flush, each corked:
    the packets of a turn (a batch's results, acknowledgements) leave in as few segments as fit."""
    for conn in connections:
        client = conn.client
        if not client.want_write() or (sock := client.socket()) is None:
            continue
        if CORK is None:
            client.loop_write()
            continue
        sock.setsockopt(socket.IPPROTO_TCP, CORK, 1)
        try:
            client.loop_write()
        finally:
            if client.socket() is sock:  # still open: what is held goes now
                sock.setsockopt(socket.IPPROTO_TCP, CORK, 0)


def node_id(topic: str) -> str:
    """A Home Assistant object id for a base topic: edgehar/kitchen -> edgehar_kitchen."""
    return re.sub(r"[^A-Za-z0-9_-]+", "_", topic).strip("_")


def discovery_config(topic: str, classes, model: str, availability: list[str]) -> dict:
    """Home Assistant MQTT discovery payload of the activity sensor published under ``topic``."""
    ident = node_id(topic)
    return {
        "name": "Activity",
        "unique_id": f"{ident}_activity",
        "state_topic": f"{topic}/state",
        "value_template": "{{ value_json.activity }}",
        "json_attributes_topic": f"{topic}/state",
        "qos": 1,  # Home Assistant subscribes at the QoS edgehar publishes with
        "device_class": "enum",
        "options": list(activity_classes(classes)),
        "icon": "mdi:run",
        "availability": [{"topic": t} for t in availability],
        "availability_mode": "all",
        "payload_available": "online",
        "payload_not_available": "offline",
        "device": {"identifiers": [ident], "name": topic.rsplit("/", 1)[-1], "manufacturer": "edgehar",
                   "model": model, "sw_version": edgehar.__version__},
        "origin": {"name": "edgehar", "sw_version": edgehar.__version__},
    }


@functools.cache
def _quoted(text: str) -> str:
    """A JSON string (an activity or label: a model's few class names, cached)."""
    return json.dumps(text)


def _number(x: float) -> str:
    return float.__repr__(x) if math.isfinite(x) else json.dumps(x)  # json.dumps's own float form


def state_json(result) -> str:
    """The state message of a window: ``json.dumps`` of its fields, character for character,
    made from cached pieces (a third of the time)."""
    return (f'{{"activity": {_quoted(result.smoothed_activity)}, "smoothed": {_quoted(result.smoothed)}, '
            f'"label": {_quoted(result.label)}, "label_activity": {_quoted(result.label_activity)}, '
            f'"confidence": {_number(round(result.confidence, 4))}, "t_end": {_number(result.t_end)}}}')


class ResultPublisher:
    """Publishes one stream's results under ``topic`` on a :class:`Connection`."""

    def __init__(self, conn: Connection, topic: str, classes, model: str, *,
                 discovery_prefix: str = "homeassistant", availability: tuple[str, ...] = (),
                 qos: int = 1, retain_every_window: bool = True):
        self.conn, self.topic = conn, topic
        self.qos, self.retain_every_window = qos, retain_every_window
        self._retained: str | None = None
        """The activity of the last retained state (with ``retain_every_window`` off, the state
        is retained only when its activity changes; the other windows' states are not retained)."""
        self.availability = f"{topic}/availability"
        self._window, self._state = f"{topic}/window", f"{topic}/state"
        self.discovery = None
        if discovery_prefix:
            self.discovery = (f"{discovery_prefix}/sensor/{node_id(topic)}/activity/config",
                              json.dumps(discovery_config(topic, classes, model,
                                                          [self.availability, *availability])))
        self.windows = self.dropped = 0

    def announce(self) -> None:
        """Discovery config and ``online`` (both retained): on every connection and HA restart."""
        if self.discovery:
            self.conn.publish(*self.discovery, retain=True)
        self.conn.publish(self.availability, "online", retain=True)

    def withdraw(self) -> None:
        """Clear the retained discovery config, state and availability: Home Assistant removes the sensor."""
        config = [self.discovery[0]] if self.discovery else []
        for topic in [*config, self._state, self.availability]:
            self.conn.publish(topic, "", retain=True)
        self._retained = None

    def publish(self, result) -> None:
        """The window's JSON object, then the state (retained); never waits on the network."""
        self.windows += 1
        if not self.conn.publish(self._window, result.to_json(), qos=self.qos):
            self.dropped += 1
            return
        activity = result.smoothed_activity
        retain = self.retain_every_window or activity != self._retained
        if self.conn.publish(self._state, state_json(result), retain=retain, qos=self.qos) and retain:
            self._retained = activity

    def counts(self) -> dict:
        return {"windows": self.windows, "dropped_windows": self.dropped}


def open_publisher(url: str, classes, model: str, *, ca_file: str | None = None,
                   buffer: int = DEFAULT_BUFFER, discovery_prefix: str = "homeassistant"):
    """Connect for ``stream --publish``: returns the publisher, announced, and its connection."""
    target = parse_url(url, default_topic=f"edgehar/{os.uname().nodename}")
    conn = Connection(target, f"{target.topic}/availability", ca_file=ca_file, buffer=buffer)
    publisher = ResultPublisher(conn, target.topic, classes, model, discovery_prefix=discovery_prefix)
    conn.on_connect.append(publisher.announce)
    if discovery_prefix:  # Home Assistant says "online" when it (re)starts: announce again
        conn.subscribe(f"{discovery_prefix}/status",
                       lambda client, userdata, msg: msg.payload == b"online" and publisher.announce())
    return publisher, conn.open()
