"""A huge message never reaches `edgehar serve` whole: the gateway connects with MQTT 5 and
announces `--max-message` as its Maximum Packet Size, so Mosquitto drops larger messages for it
instead of sending them; and the broker's own `max_packet_size` refuses them from the publisher."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from mqtt_broker import Mosquitto, Recorder, mqtt

HUGE = 60 * 2**20  # the 60 MB message of issue 19
CALM = [("".join(f"{i / 50},0.01,0.02,0.98,0.001,0,0\n" for i in range(k, k + 50))).encode()
        for k in range(0, 300, 50)]  # six seconds of a device at rest, a second per message


def kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for process {pid}")


def publisher(broker: Mosquitto, disconnected: list | None = None):
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    if disconnected is not None:
        client.on_disconnect = lambda c, u, f, rc, p: disconnected.append(str(rc))
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    return client


def serving(broker: Mosquitto) -> subprocess.Popen:
    gateway = subprocess.Popen([sys.executable, "-m", "edgehar", "serve", "--model", "models/dscnn9",
                                "--mqtt", f"{broker.url}/edgehar", "--idle", "600",
                                "--max-message", "100000"], stderr=subprocess.PIPE, text=True)
    while "serving" not in (line := gateway.stderr.readline()):
        assert line, "the gateway exited before serving"
    return gateway


def stopped(gateway: subprocess.Popen) -> dict:
    gateway.send_signal(signal.SIGTERM)
    _, err = gateway.communicate(timeout=60)
    assert gateway.returncode == 143 and "Traceback" not in err, err[-3000:]
    return [json.loads(line) for line in err.splitlines() if line.startswith("{")][-1]


def test_a_huge_message_is_dropped_by_the_broker_for_the_gateway_and_never_read(tmp_path):
    broker = Mosquitto(tmp_path)  # accepts messages up to 256 MB, as Mosquitto does by default
    gateway = serving(broker)
    windows = Recorder(broker, "edgehar/calm/window")
    client = None
    try:
        before = kib(gateway.pid, "VmRSS")
        client = publisher(broker)
        assert client.publish("edgehar/big/imu", b"0" * HUGE, qos=1).wait_for_publish(120) is None
        for batch in CALM:
            client.publish("edgehar/calm/imu", batch, qos=1).wait_for_publish(30)
            time.sleep(0.1)
        assert len(windows.wait_for("edgehar/calm/window", 3, timeout=60)) == 3  # ends 128, 192, 256
        grown_mib = (kib(gateway.pid, "VmHWM") - before) / 1024
    finally:
        windows.close()
        if client:
            client.loop_stop()
            client.disconnect()
        summary = stopped(gateway) if gateway.poll() is None else {}
        broker.stop()
    assert grown_mib < 20, f"the gateway grew by {grown_mib:.0f} MiB: it read the huge message"
    assert "big" not in summary["devices"] and summary["devices"]["calm"]["samples"] == 300, summary


def test_the_brokers_max_packet_size_refuses_a_huge_message_from_its_publisher(tmp_path):
    broker = Mosquitto(tmp_path)
    broker.stop()
    broker.config.write_text(broker.config.read_text() + "max_packet_size 1048576\n")  # docs/fleet.md
    broker.start()
    gateway = serving(broker)
    disconnected: list[str] = []
    client = publisher(broker, disconnected)
    try:
        client.publish("edgehar/big/imu", b"0" * HUGE, qos=1)
        deadline = time.monotonic() + 60
        while not disconnected and time.monotonic() < deadline:
            time.sleep(0.1)
        assert disconnected, "the broker took the 60 MB message"
    finally:
        client.loop_stop()
        client.disconnect()
        summary = stopped(gateway)
        broker.stop()
    assert "big" not in summary["devices"], summary
