"""One device cannot take `edgehar serve` down or cost another device its windows: bounded,
fair per-device queues, a message size limit, a device cap, retained state cleared when a device
is forgotten, rate-limited re-announcement, and options checked before anything starts."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from mqtt_broker import Recorder, broker, mqtt  # noqa: F401  (fixtures)
from test_gateway import ACC_SCALE, GYRO_SCALE, counts_to_binary, demo, expected, node  # noqa: F401
from typer.testing import CliRunner

from edgehar.cli import app
from edgehar.errors import OptionError
from edgehar.services.gateway import Inbox, Limits, pack_binary

FLOOD = """
import sys, numpy as np, paho.mqtt.client as mqtt
from edgehar.services.gateway import pack_binary
client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
client.max_queued_messages_set(1000)
client.connect("127.0.0.1", int(sys.argv[1]))
client.loop_start()
message = pack_binary(0, np.arange(255) * 20_000, np.ones((255, 6), np.int16), 1 / 4096, 1 / 1000)
while True:
    client.publish("edgehar/flood/imu", message, qos=0)
"""
"""A node publishing valid 255-sample batches as fast as it can."""


def binary(n: int, t0_us: int = 0) -> bytes:
    return pack_binary(t0_us, np.arange(n) * 20_000, np.zeros((n, 6), np.int16), ACC_SCALE, GYRO_SCALE)


def test_a_flooding_device_loses_its_own_samples_and_never_delays_another_devices():
    inbox = Inbox(Limits(rate_hz=100.0, burst=1_000))
    for name in ("flood", "calm"):
        inbox.put(name, binary(1), arrived=0.0)
        assert inbox.get()[0] == name  # both known
    for _ in range(200):  # 200 x 255 samples at once: past its burst
        inbox.put("flood", binary(255), arrived=0.0)
    for _ in range(3):
        inbox.put("calm", binary(25), arrived=0.0)
    served = [inbox.get()[0] for _ in range(6)]
    assert served[:4] == ["flood", "calm", "flood", "calm"]  # in turn, not behind the flood's backlog
    assert inbox.devices["flood"].dropped == {"rate_limited": 255 * (200 - 3)}  # 3 x 255 fit the rest
    assert inbox.devices["calm"].dropped == {}
    inbox.put("flood", binary(200), arrived=2.0)  # 2 s at 100 samples/s: room again
    assert inbox.devices["flood"].dropped == {"rate_limited": 255 * (200 - 3)}


def test_made_up_ids_wait_in_their_own_lane_and_never_crowd_out_a_known_device():
    inbox = Inbox(Limits())
    inbox.put("calm", binary(25), arrived=0.0)
    assert inbox.get()[0] == "calm"  # now known
    for k in range(100):
        inbox.put(f"made-up-{k}", binary(1), arrived=0.0)
    for _ in range(3):
        inbox.put("calm", binary(25), arrived=0.0)
    served = [inbox.get()[0] for _ in range(6)]
    assert served.count("calm") == 3 and served[:2].count("calm") == 1  # every other turn
    assert len([inbox.get() for _ in range(97)]) == 97 and inbox.get() is None


def known(inbox: Inbox, name: str):
    inbox.put(name, binary(1, t0_us=1), arrived=0.0)
    device = inbox.devices[name]
    assert inbox.get()[0] == name and inbox.promote(device) and device.lane == "moving"
    return device


def queued(inbox: Inbox) -> list[bytes]:
    return [message[2] for message in iter(lambda: inbox.get(), None)]


def test_a_device_moves_to_its_own_subscription_without_losing_or_repeating_a_message():
    m = [binary(25, t0_us=k) for k in range(2, 8)]
    inbox = Inbox(Limits())
    device = known(inbox, "ahead")  # the quiet connection delivers first
    for message in m[:3]:
        inbox.put("ahead", message, arrived=1.0, quiet=True)
    for message in m[:2]:
        inbox.put("ahead", message, arrived=1.0)
    assert device.lane == "moving"
    inbox.put("ahead", m[2], arrived=1.0)  # both had m[2]: the quiet connection from now on
    assert device.lane == "quiet"
    inbox.put("ahead", m[3], arrived=1.0, quiet=True)
    inbox.put("ahead", m[3], arrived=1.0)
    assert queued(inbox) == m[:4]

    device = known(inbox, "behind")  # the main connection delivers first
    for message in m[:2]:
        inbox.put("behind", message, arrived=1.0)
    for message in m[:2]:
        inbox.put("behind", message, arrived=1.0, quiet=True)
    assert device.lane == "quiet"
    inbox.put("behind", m[2], arrived=1.0)
    inbox.put("behind", m[2], arrived=1.0, quiet=True)
    assert queued(inbox) == m[:3]


def test_a_device_sending_more_than_its_share_goes_back_to_the_shared_subscription_for_good():
    inbox = Inbox(Limits(burst=300))
    device = known(inbox, "flood")
    inbox.put("flood", binary(255, t0_us=2), arrived=1.0)
    inbox.put("flood", binary(255, t0_us=2), arrived=1.0, quiet=True)
    assert device.lane == "quiet"
    inbox.put("flood", binary(255, t0_us=3), arrived=1.0, quiet=True)  # past its burst
    assert device.lane == "demoted" and inbox.take_demoted() == ["flood"] and not inbox.promote(device)
    inbox.put("flood", binary(255, t0_us=4), arrived=1.0, quiet=True)  # ignored: its subscription goes
    assert device.dropped == {"rate_limited": 255} and len(queued(inbox)) == 1


def test_the_memory_budget_takes_from_the_device_holding_most():
    message = binary(255)
    inbox = Inbox(Limits(queue_bytes=10 * len(message), burst=10**6))
    for _ in range(12):
        inbox.put("flood", message, arrived=0.0)
    inbox.put("calm", message, arrived=0.0)
    assert inbox.devices["flood"].dropped == {"memory_budget": 3 * 255}
    assert len(inbox.devices["flood"].queue) == 9 and len(inbox.devices["calm"].queue) == 1
    assert inbox.devices["calm"].dropped == {}


def test_a_message_over_the_size_limit_is_refused_unread_and_new_devices_stop_at_the_cap():
    inbox = Inbox(Limits(max_message=1000, max_devices=2))
    inbox.put("big", b"0,0,0,0,0,0,0\n" * 1000, arrived=0.0)
    inbox.put("ok", binary(10), arrived=0.0)
    inbox.put("third", binary(10), arrived=0.0)
    assert inbox.devices["big"].dropped == {"too_large": 1} and not inbox.devices["big"].queue
    assert set(inbox.devices) == {"big", "ok"} and inbox.refused == 1
    assert [name for name, _ in inbox.idle(before=1.0)] == ["big"]  # "ok" still has a message waiting
    inbox.put("third", binary(10), arrived=0.0)
    assert "third" in inbox.devices


@pytest.mark.parametrize("option, value, expected", [
    ("--idle", "-1", "--idle -1.0: must be a finite number above 0"),
    ("--idle", "nan", "--idle nan: must be"),
    ("--idle", "inf", "--idle inf: must be"), ("--hop", "0", "--hop 0: must be"),
    ("--hop", "200", "--hop must be 1 to the window's 128"), ("--hop", "100000", "--hop 100000: must be"),
    ("--max-gap", "0", "--max-gap 0.0: must be a finite number above 0 and at most 3600"),
    ("--max-gap", "nan", "--max-gap nan: must be"), ("--max-devices", "0", "--max-devices 0: must be"),
    ("--max-message", "-5", "--max-message -5: must be"), ("--max-rate", "inf", "--max-rate inf: must be"),
    ("--partition", "2/2", "--partition '2/2': expected K/N"), ("--partition", "x", "--partition 'x'"),
])
def test_serve_refuses_bad_options_before_connecting(option, value, expected):
    result = CliRunner().invoke(app, ["serve", "--mqtt", "mqtt://127.0.0.1:1/edgehar", option, value])
    assert isinstance(result.exception, OptionError), result.output
    assert str(result.exception).startswith(expected)


def test_under_a_flood_a_huge_message_made_up_ids_and_announce_spam_a_calm_device_keeps_every_window(
        broker, demo):
    t, x = demo
    raw, values = counts_to_binary(t, x)
    gateway = subprocess.Popen([sys.executable, "-m", "edgehar", "serve", "--mqtt", f"{broker.url}/edgehar",
                                "--idle", "20", "--max-devices", "40", "--max-message", "100000"],
                               stderr=subprocess.PIPE, text=True)
    calm = Recorder(broker, ["edgehar/calm/#", "homeassistant/sensor/edgehar_calm/#"])
    flooder = client = None
    try:
        while "serving" not in (line := gateway.stderr.readline()):
            assert line, "the gateway exited before serving"
        client = node(broker)
        want = expected(t, values)

        def send_calm(start: int, stop: int) -> None:  # at 10x its real pace
            for i in range(start, stop, 50):
                t0_us = int(round(t[i] * 1e6))
                dt_us = np.rint(t[i:i + 50] * 1e6).astype(np.int64) - t0_us
                batch = pack_binary(t0_us, dt_us, raw[i:i + 50], ACC_SCALE, GYRO_SCALE)
                client.publish("edgehar/calm/imu", batch, qos=1)
                time.sleep(0.1)

        send_calm(0, 300)  # known, a window out: it gets a subscription of its own
        assert len(calm.wait_for("edgehar/calm/window", 3)) == 3  # ends 128, 192, 256
        flooder = subprocess.Popen([sys.executable, "-c", FLOOD, str(broker.port)])
        while '"flood"' not in (line := gateway.stderr.readline()):  # the flood is under way
            assert line, "the gateway exited"
        client.publish("edgehar/big/imu", b"0,0,0,0,0,0,0\n" * 20_000, qos=1)  # 280 kB
        for k in range(100):  # 100 made-up ids against a cap of 40, and Home Assistant spam
            client.publish(f"edgehar/made-up-{k}/imu", b"0,0,0,0,0,0,0", qos=0)
            client.publish("homeassistant/status", b"online", qos=0)
        send_calm(300, len(t))
        got = [json.loads(p) for p in calm.wait_for("edgehar/calm/window", len(want), timeout=60)]
        assert flooder.poll() is None  # every window came while the flood went on
        assert len(got) == len(want)
        assert [{k: g[k] for k in ("end", "label", "probs")} for g in got] == \
            [{k: w[k] for k in ("end", "label", "probs")} for w in want]
        flooder.kill()
        # forgotten after 20 s of silence: its Home Assistant sensor and retained state are cleared
        config = "homeassistant/sensor/edgehar_calm/activity/config"
        deadline = time.monotonic() + 60
        while calm.on(config)[-1:] != [b""] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert calm.on(config)[-1] == calm.on("edgehar/calm/availability")[-1] == b""
        assert calm.on("edgehar/calm/state")[-1] == b""
        # announced at its start, then for 100 "online"s at most twice: at once and 30 s later
        assert 1 <= len([c for c in calm.on(config) if c]) <= 3
    finally:
        if flooder:
            flooder.kill()
            flooder.wait()
        calm.close()
        if client:
            client.loop_stop()
            client.disconnect()
        gateway.send_signal(signal.SIGTERM)
        _, err = gateway.communicate(timeout=60)
    assert gateway.returncode == 143, err[-3000:]
    events = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    forgotten = {e["device"]: e for e in events if e.get("event") == "forgotten"}
    assert forgotten["calm"]["dropped"] == {} and forgotten["calm"]["samples"] == len(t)
    assert forgotten["calm"]["lane"] == "quiet"
    assert "big" not in forgotten  # over --max-message: Mosquitto never sends it (MQTT 5 Maximum Packet Size)
    flood = forgotten.get("flood") or events[-1]["devices"]["flood"]
    assert flood["dropped"]["rate_limited"] > 0 and flood["samples"] <= 15_000 + 200 * 60
    assert flood["lane"] == "demoted"
    (cap,) = [e for e in events if e.get("event") == "device_cap"]
    assert cap["max_devices"] == 40
    assert events[-1]["rejected"]["device_cap"] == 100 - (40 - 2)  # calm and flood are known
