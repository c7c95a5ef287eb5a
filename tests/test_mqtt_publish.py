"""`stream --publish` against a real Mosquitto broker: order, discovery, restarts, errors, TLS."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
from mqtt_broker import Mosquitto, Recorder, broker, free_port, recorder  # noqa: F401  (fixtures)

from edgehar.bundle import Bundle
from edgehar.runtime.sources import demo_path, iter_csv
from edgehar.runtime.stream import Streamer, run
from edgehar.services.mqtt import PublishError, open_publisher, parse_url


def edgehar(*args, env=None, timeout=120):
    return subprocess.run([sys.executable, "-m", "edgehar", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=timeout)


def error_lines(stderr: str) -> list[str]:
    assert "Traceback" not in stderr
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def without_latency(line: str) -> dict:
    return {k: v for k, v in json.loads(line).items() if k != "latency_ms"}


@pytest.fixture(scope="module")
def demo_results():
    """The default model's results over the demo recording, as `stream --source demo` makes them."""
    bundle = Bundle.default()
    results = []
    run(Streamer.from_bundle(bundle, "int8"), iter_csv(str(demo_path())), results.append)
    return bundle, results


def test_every_demo_window_arrives_in_order_with_discovery_state_and_availability(broker, recorder):
    done = edgehar("stream", "--source", "demo", "--jsonl", "--publish", f"{broker.url}/edgehar/den")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 224
    alone = edgehar("stream", "--source", "demo", "--jsonl").stdout.splitlines()
    assert [without_latency(line) for line in lines] == [without_latency(line) for line in alone]
    assert [p.decode() for p in recorder.wait_for("edgehar/den/window", 224)] == lines
    summary = json.loads(done.stderr.splitlines()[-1])["mqtt"]
    assert summary["windows"] == 224 and summary["dropped"] == summary["undelivered"] == 0

    (config,) = recorder.json_on("homeassistant/sensor/edgehar_den/activity/config")
    assert config["device_class"] == "enum"
    assert config["options"] == list(Bundle.default().classes)
    assert config["state_topic"] == config["json_attributes_topic"] == "edgehar/den/state"
    assert config["value_template"] == "{{ value_json.activity }}"
    assert config["availability"] == [{"topic": "edgehar/den/availability"}]
    assert config["unique_id"] == "edgehar_den_activity"
    assert config["device"]["identifiers"] == ["edgehar_den"]
    states = recorder.json_on("edgehar/den/state")
    last = json.loads(lines[-1])
    assert len(states) == 224 and states[-1] == {"activity": last["smoothed_activity"],
                                                 "smoothed": last["smoothed"], "label": last["label"],
                                                 "label_activity": last["label_activity"],
                                                 "confidence": round(last["confidence"], 4),
                                                 "t_end": last["t_end"]}
    assert last["smoothed_activity"] == last["smoothed"]  # a model without transition outputs
    assert recorder.on("edgehar/den/availability") == [b"online", b"offline"]

    late = Recorder(broker, "edgehar/den/#")  # a dashboard that starts later sees the retained values
    try:
        assert late.wait_for("edgehar/den/availability", 1) == [b"offline"]
        late.wait_for("edgehar/den/state", 1)  # retained messages of two topics arrive in either order
        assert late.json_on("edgehar/den/state") == [states[-1]]
    finally:
        late.close()


def test_a_broker_restart_mid_stream_loses_nothing_and_publishing_never_waits(broker, recorder, demo_results):
    bundle, results = demo_results
    publisher, conn = open_publisher(f"{broker.url}/edgehar/restart", bundle.classes, bundle.name)
    for result in results[:80]:
        publisher.publish(result)
    recorder.wait_for("edgehar/restart/window", 80)
    broker.stop()
    slowest = 0.0
    for result in results[80:160]:
        t = time.perf_counter()
        publisher.publish(result)
        slowest = max(slowest, time.perf_counter() - t)
    broker.start()
    for result in results[160:]:
        publisher.publish(result)
    counts = conn.close(last=(publisher.availability, "offline"), drain_s=30)
    assert counts["dropped"] == counts["undelivered"] == 0 and counts["connections"] == 2
    arrived = [json.loads(p)["start"] for p in recorder.wait_for("edgehar/restart/window", len(results))]
    first_seen = list(dict.fromkeys(arrived))  # QoS 1 is at least once: a resent window may repeat
    assert first_seen == [r.start for r in results]
    assert slowest < 0.05, f"publish() waited {slowest * 1e3:.1f} ms with the broker down"


def test_a_full_buffer_drops_the_newest_windows_counts_them_and_delivers_the_rest_in_order(
        broker, recorder, demo_results):
    bundle, results = demo_results
    publisher, conn = open_publisher(f"{broker.url}/edgehar/small", bundle.classes, bundle.name, buffer=40)
    time.sleep(0.5)  # the announcements are delivered: the buffer is empty
    broker.stop()
    for result in results[:50]:
        publisher.publish(result)
    broker.start()
    counts = {**publisher.counts(), **conn.close(drain_s=30)}
    assert counts["windows"] == 50 and counts["dropped_windows"] == 30 and counts["undelivered"] == 0
    arrived = [json.loads(p)["start"] for p in recorder.wait_for("edgehar/small/window", 20)]
    assert list(dict.fromkeys(arrived)) == [r.start for r in results[:20]]


def test_bad_credentials_are_one_clear_error_and_good_ones_may_come_from_the_environment(tmp_path):
    secured = Mosquitto(tmp_path, users={"pi": "s3cret"})
    try:
        url = f"{secured.url}/edgehar/auth"
        refused = edgehar("stream", "--source", "demo", "--publish", url.replace("//", "//pi:wrong@"))
        assert refused.returncode == 2
        (line,) = error_lines(refused.stderr)
        assert "refused the connection: Not authorized" in line and "wrong" not in line
        assert refused.stdout == ""
        accepted = edgehar("stream", "--source", "demo", "--publish", url,
                           env={"EDGEHAR_MQTT_USERNAME": "pi", "EDGEHAR_MQTT_PASSWORD": "s3cret"})
        assert accepted.returncode == 0, accepted.stderr
        assert json.loads(accepted.stderr.splitlines()[-1])["mqtt"]["delivered"] > 2 * 224
    finally:
        secured.stop()


@pytest.mark.parametrize("command", [["stream", "--source", "demo", "--publish"], ["serve", "--mqtt"]])
def test_an_unreachable_broker_is_one_clear_error(command):
    done = edgehar(*command, f"mqtt://127.0.0.1:{free_port()}/x")
    assert done.returncode == 2
    (line,) = error_lines(done.stderr)
    assert "cannot connect (Connection refused)" in line


def test_broker_urls_take_credentials_from_the_environment_and_reject_bad_forms(monkeypatch):
    monkeypatch.setenv("EDGEHAR_MQTT_USERNAME", "env-user")
    monkeypatch.setenv("EDGEHAR_MQTT_PASSWORD", "env-pass")
    url = parse_url("mqtts://broker.lan/home/pi", default_topic="edgehar/x")
    assert (url.tls, url.host, url.port, url.topic, url.username, url.password) == \
        (True, "broker.lan", 8883, "home/pi", "env-user", "env-pass")
    url = parse_url("mqtt://me:p%40ss@10.0.0.2:1884", default_topic="edgehar/x")
    assert (url.port, url.topic, url.username, url.password) == (1884, "edgehar/x", "me", "p@ss")
    assert "p%40ss" not in str(url) and "p@ss" not in str(url)
    for bad in ("http://broker/x", "mqtt:///x", "mqtt://broker:99999/x", "mqtt://broker/a/+/b"):
        with pytest.raises(PublishError, match="mqtt"):
            parse_url(bad, default_topic="edgehar/x")
    with pytest.raises(PublishError) as err:
        parse_url("ftp://me:topsecret@broker/x", default_topic="x")
    assert "topsecret" not in str(err.value)


def _certificates(folder):
    """A throwaway CA and a server certificate for 127.0.0.1 it signed."""
    def openssl(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=folder)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=edgehar test CA",
            "-keyout", "ca.key", "-out", "ca.pem")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", "server.key",
            "-out", "server.csr")
    (folder / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-days", "2", "-extfile", "san.ext", "-out", "server.pem")


def test_mqtts_verifies_the_broker_with_the_given_ca_file(tmp_path):
    _certificates(tmp_path)
    tls = Mosquitto(tmp_path, tls=True)
    try:
        url = f"mqtts://127.0.0.1:{tls.port}/edgehar/tls"
        untrusted = edgehar("stream", "--source", "demo", "--publish", url)
        assert untrusted.returncode == 2
        (line,) = error_lines(untrusted.stderr)
        assert "CERTIFICATE_VERIFY_FAILED" in line or "certificate verify failed" in line
        trusted = edgehar("stream", "--source", "demo", "--publish", url,
                          "--mqtt-ca", str(tmp_path / "ca.pem"))
        assert trusted.returncode == 0, trusted.stderr
        assert json.loads(trusted.stderr.splitlines()[-1])["mqtt"]["undelivered"] == 0
    finally:
        tls.stop()
