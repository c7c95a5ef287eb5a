"""A real Mosquitto broker on a free loopback port, and a subscriber that records what arrives."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

mqtt = pytest.importorskip("paho.mqtt.client", reason="paho-mqtt is not installed: pip install -e '.[test]'")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Mosquitto:
    """Debian's mosquitto with a generated config; ``users`` turns on password authentication.

    Persistence is on, so a restart keeps sessions, queued messages and retained ones."""

    def __init__(self, folder: Path, users: dict[str, str] | None = None, tls: bool = False):
        if not shutil.which("mosquitto"):
            pytest.skip("mosquitto is not installed (apt-get install -y mosquitto): "
                        "the MQTT tests need a broker")
        self.folder, self.port = folder, free_port()
        lines = [f"listener {self.port} 127.0.0.1", "persistence true", f"persistence_location {folder}/",
                 "max_queued_messages 100000", f"log_dest file {folder}/mosquitto.log"]
        if os.geteuid() == 0:  # else it drops to user mosquitto, who may not read the test's folder
            lines.append("user root")
        if tls:  # folder holds ca.pem, server.pem and server.key
            lines += [f"cafile {folder}/ca.pem", f"certfile {folder}/server.pem",
                      f"keyfile {folder}/server.key"]
        if users:
            passwords = folder / "passwd"
            passwords.touch()
            for user, password in users.items():
                subprocess.run(["mosquitto_passwd", "-b", str(passwords), user, password], check=True)
            lines += ["allow_anonymous false", f"password_file {passwords}"]
        else:
            lines += ["allow_anonymous true"]
        self.config = folder / "mosquitto.conf"
        self.config.write_text("\n".join(lines) + "\n")
        self.process = None
        self.start()

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = subprocess.Popen(["mosquitto", "-c", str(self.config)], stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                if self.process.poll() is not None:
                    raise RuntimeError(f"mosquitto exited: {self.process.stderr.read().decode()}") from None
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not start listening in 10 s")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


class Recorder:
    """A persistent-session subscriber (QoS 1) that survives broker restarts."""

    def __init__(self, broker: Mosquitto, topic: str | list[str] = "#", username=None, password=None):
        self.messages: list[tuple[str, bytes, bool]] = []
        self._lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"recorder-{broker.port}",
                                  clean_session=False, protocol=mqtt.MQTTv311)
        self.client.reconnect_delay_set(0.2, 1)
        if username:
            self.client.username_pw_set(username, password)
        subscribed = threading.Event()
        topics = [topic] if isinstance(topic, str) else topic
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe([(t, 1) for t in topics])
        self.client.on_subscribe = lambda *args: subscribed.set()
        self.client.on_message = self._message
        self.client.connect("127.0.0.1", broker.port)
        self.client.loop_start()
        assert subscribed.wait(10), "the recorder could not subscribe"

    def _message(self, client, userdata, message) -> None:
        with self._lock:
            self.messages.append((message.topic, message.payload, bool(message.retain)))

    def on(self, topic: str) -> list[bytes]:
        with self._lock:
            return [payload for t, payload, _ in self.messages if t == topic]

    def json_on(self, topic: str) -> list[dict]:
        return [json.loads(p) for p in self.on(topic)]

    def wait_for(self, topic: str, count: int, timeout: float = 20.0) -> list[bytes]:
        deadline = time.monotonic() + timeout
        while len(self.on(topic)) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.on(topic)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def broker(tmp_path):
    server = Mosquitto(tmp_path)
    yield server
    server.stop()


@pytest.fixture
def recorder(broker):
    rec = Recorder(broker)
    yield rec
    rec.close()
