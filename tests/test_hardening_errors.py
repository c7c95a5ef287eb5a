"""Every OSError (a full disk, a file size limit, a read-only folder) and every bad MQTT setting is
one `error:` line naming the path or option, never a traceback; credentials are never printed."""

from __future__ import annotations

import resource
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from test_hardening_cli import run_cli

from edgehar.bundle import Bundle
from edgehar.services.mqtt import PublishError, parse_url

SECRET = "S3CRET"


def limited(*args: str, file_bytes: int = 1000) -> subprocess.CompletedProcess:
    """`edgehar ARGS` unable to write files over ``file_bytes`` (binds root too, like a full disk)."""
    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (file_bytes, file_bytes))

    return subprocess.run([sys.executable, "-m", "edgehar", *args], capture_output=True, text=True,
                          timeout=300, preexec_fn=limit)


def one_error_line(run: subprocess.CompletedProcess, says: str) -> None:
    lines = run.stderr.strip().splitlines()
    assert run.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: "), run.stderr[-3000:]
    assert says in lines[0], lines[0]


def test_a_full_disk_while_storing_the_decoder_is_one_line_and_the_bundle_is_unchanged(tmp_path,
                                                                                      one_experiment):
    bundle = tmp_path / "b"
    shutil.copytree("models/dscnn9", bundle)
    before = (bundle / "metadata.json").read_bytes()
    one_error_line(limited("decoder", str(bundle), "--hapt", str(one_experiment)),
                   f"{bundle / 'metadata.json'}: File too large")
    assert (bundle / "metadata.json").read_bytes() == before and Bundle.load(bundle).classes
    assert sorted(p.name for p in bundle.iterdir()) == sorted(p.name for p in Path("models/dscnn9").iterdir())


def test_a_picture_that_cannot_be_written_is_one_line(tmp_path, one_experiment):
    png = tmp_path / "confusion.png"
    run = limited("evaluate", "models/dscnn9", "--recordings", str(one_experiment), "--png", str(png))
    one_error_line(run, f"{png}: File too large")
    assert not png.exists()


@pytest.mark.parametrize(("url", "host", "username", "password", "topic"), [
    (f"mqtt://us/er:{SECRET}@broker", "broker", "us/er", SECRET, "t"),
    (f"mqtt://user:pa/ss{SECRET}@broker:1884/a/b", "broker", "user", f"pa/ss{SECRET}", "a/b"),
    ("mqtt://broker:1883/t@x", "broker", None, None, "t@x"),
    (f"mqtts://u:{SECRET}@[::1]:8884/x", "::1", "u", SECRET, "x"),
])
def test_credentials_holding_a_slash_are_parsed_as_credentials(url, host, username, password, topic):
    parsed = parse_url(url, "t")
    assert (parsed.host, parsed.username, parsed.password, parsed.topic) == (host, username, password, topic)
    assert SECRET not in str(parsed)


@pytest.mark.parametrize("url", [f"mqtt://u:{SECRET}@[::1/t", f"mqtt://us/er:{SECRET}@[::1/t",
                                 f"mqtt://u:a/{SECRET}@host:99999/t", f"http://u:{SECRET}/x@host/t"])
def test_a_bad_broker_url_is_one_error_that_never_shows_the_password(url):
    with pytest.raises(PublishError) as err:
        parse_url(url, "t")
    assert SECRET not in str(err.value) and "***@" in str(err.value)


def test_bad_mqtt_options_are_one_error_line(tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text("not a certificate\n")
    code, err = run_cli("stream", "--discovery-prefix", "#")
    assert code == 2 and err.startswith("error: --discovery-prefix '#'") and len(err.splitlines()) == 1, err
    code, err = run_cli("stream", "--source", "demo", "--publish", "mqtts://127.0.0.1:1/x",
                        "--mqtt-ca", str(ca))
    assert code == 2 and err.startswith(f"error: --mqtt-ca {ca}: not a PEM CA certificate"), err
    code, err = run_cli("stream", "--source", "demo", "--publish", f"mqtt://us/er:{SECRET}@[::1/x")
    assert code == 2 and err.startswith("error: mqtt://***@[::1/x") and SECRET not in err, err


def test_a_broker_outage_is_one_line_each_way_and_a_second_ctrl_c_still_reports(tmp_path, capsys):
    import signal
    import threading
    import time

    from mqtt_broker import Mosquitto

    from edgehar.services.mqtt import open_publisher

    broker = Mosquitto(tmp_path)
    # Ctrl-C as in a terminal, whatever this test run inherited (a background job ignores SIGINT).
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        publisher, conn = open_publisher(f"{broker.url}/edgehar/outage", ("A", "B"), "m")
        broker.stop()
        deadline = time.monotonic() + 20
        while "connection lost" not in capsys.readouterr().err and time.monotonic() < deadline:
            time.sleep(0.05)
        assert time.monotonic() < deadline, "no line when the broker went away"
        conn.publish("edgehar/outage/window", "{}")
        broker.start()
        deadline = time.monotonic() + 30
        while "connected again" not in capsys.readouterr().err and time.monotonic() < deadline:
            time.sleep(0.05)
        assert time.monotonic() < deadline, "no line when the broker came back"
        broker.stop()
        for _ in range(5):
            conn.publish("edgehar/outage/window", "{}")
        main = threading.main_thread().ident
        threading.Timer(0.5, signal.pthread_kill, (main, signal.SIGINT)).start()
        started = time.monotonic()
        counts = conn.close(drain_s=30)  # waits for a broker that is gone, until the Ctrl-C
        assert time.monotonic() - started < 10 and counts["undelivered"] >= 5
    finally:
        signal.signal(signal.SIGINT, previous)
        if broker.process.poll() is None:
            broker.stop()


@pytest.mark.parametrize("jsonl", [False, True])
def test_stream_results_to_a_full_disk_are_one_line_with_the_path(jsonl):
    code, err = run_cli("stream", "--source", "demo", "--out", "/dev/full", *(["--jsonl"] if jsonl else []))
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert code == 2 and errors == ["error: --out /dev/full: cannot write (No space left on device)"], err
    assert "Traceback" not in err
