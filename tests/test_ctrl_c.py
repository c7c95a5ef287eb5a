"""Ctrl-C twice on `edgehar stream` as a real process (SIGINT at its default, as in a terminal):
the first stops the stream with its summary, a second one never loses that summary nor shows a
traceback, whenever it comes; while the last MQTT messages drain it stops the waiting."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest

STREAM = [sys.executable, "-m", "edgehar", "stream", "--model", "models/dscnn9", "--source", "demo",
          "--speed", "realtime", "--jsonl"]
INTERRUPTED = (130, -signal.SIGINT)  # exit 130, or killed by SIGINT after the summary (a shell says 130)


def started(*args: str) -> subprocess.Popen:
    return subprocess.Popen([*STREAM, *args], preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def summary_of(err: str) -> dict:
    assert "Traceback" not in err and "Exception ignored" not in err, err
    return json.loads(err.strip().splitlines()[-1])


@pytest.mark.parametrize("gap_s", [0, 0.001, 0.005, 0.02, 0.1, 0.5])
def test_a_second_ctrl_c_soon_after_the_first_keeps_the_summary_and_shows_no_traceback(gap_s):
    for _ in range(2):
        proc = started()
        try:
            assert json.loads(proc.stdout.readline())["end"] == 128
            proc.send_signal(signal.SIGINT)
            time.sleep(gap_s)
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=60)
        finally:
            proc.kill()
        assert proc.returncode in INTERRUPTED, err
        assert summary_of(err)["end"] == "interrupted"


def test_a_second_ctrl_c_while_mqtt_messages_drain_stops_the_wait_and_still_reports(tmp_path):
    from mqtt_broker import Mosquitto

    broker = Mosquitto(tmp_path)
    proc = started("--publish", f"{broker.url}/edgehar/ctrlc")
    try:
        assert json.loads(proc.stdout.readline())["end"] == 128
        broker.stop()
        lines = []
        while not any("connection lost" in line for line in lines):
            lines.append(proc.stderr.readline())
            assert lines[-1], f"no line when the broker went away: {lines}"
        for _ in range(2):  # two more windows, queued for a broker that is gone
            proc.stdout.readline()
        proc.send_signal(signal.SIGINT)
        time.sleep(2)
        assert proc.poll() is None, "the stream did not wait for its undelivered messages"
        proc.send_signal(signal.SIGINT)
        started_s = time.monotonic()
        _, err = proc.communicate(timeout=30)
        waited_s = time.monotonic() - started_s
    finally:
        proc.kill()
        if broker.process.poll() is None:
            broker.stop()
    assert proc.returncode == 130, err
    summary = summary_of(err)
    assert summary["end"] == "interrupted" and summary["mqtt"]["undelivered"] >= 2, summary
    assert waited_s < 5  # not the 10 s the drain would wait
