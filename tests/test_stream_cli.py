"""`edgehar stream` as a real process: LiteRT only, JSON lines, signals, timeouts, errors."""

from __future__ import annotations

import gzip
import json
import os
import select
import signal
import socket
import subprocess
import sys
import time

import pytest

from edgehar.runtime.sources import demo_path

EDGEHAR = [sys.executable, "-m", "edgehar"]


def summary_of(stderr: str) -> dict:
    return json.loads(stderr.strip().splitlines()[-1])


def test_stream_runs_on_litert_alone_never_importing_tensorflow(tiny_bundle, tmp_path):
    """Also: without --model the stream uses the bundle models/DEFAULT names."""
    (tmp_path / "DEFAULT").write_text(str(tiny_bundle.path))
    out = tmp_path / "labels.jsonl"
    code = (
        "import sys\n"
        "from edgehar.cli import main\n"
        f"sys.argv = ['edgehar', 'stream', '--source', 'demo', '--jsonl', '--out', {str(out)!r},\n"
        "            '--smooth', 'vote:5', '--variant', 'int8']\n"
        "try:\n    main()\nexcept SystemExit as exit:\n    assert not exit.code, exit.code\n"
        "assert 'tensorflow' not in sys.modules, [m for m in sys.modules if 'tensorflow' in m]\n"
        "# raw6 needs no filter: the Pi is spared scipy.signal (80 MB) and pandas\n"
        "assert 'scipy.signal' not in sys.modules and 'pandas' not in sys.modules\n"
        "# nor pydantic (13.5 MB): typer 0.29 parses every option through it (pyproject: typer<0.29)\n"
        "assert 'pydantic' not in sys.modules, [m for m in sys.modules if 'pydantic' in m]\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "EDGEHAR_MODELS": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in out.read_text().splitlines()]
    summary = summary_of(done.stderr)
    assert len(records) == summary["windows"] == (summary["samples"] - 128) // 64 + 1
    assert summary["end"] == "eof" and summary["smoothing"] == "vote:5" and summary["variant"] == "int8"
    assert summary["model"] == tiny_bundle.name
    with gzip.open(demo_path(), "rt") as demo:
        assert summary["samples"] == len(demo.readlines()) - 1 and summary["skipped"] == {}
    assert [r["end"] for r in records] == list(range(128, summary["samples"] + 1, 64))


@pytest.mark.parametrize("jsonl", [True, False])
def test_a_full_speed_replay_writes_every_result_line_once_in_order(tiny_bundle, tmp_path, jsonl):
    """Lines are written in blocks at --speed max (even where stdout is unbuffered): every window's
    line comes out once, in order, the last block too, and they are the in-memory stream's."""
    from edgehar.runtime.sources import iter_csv
    from edgehar.runtime.stream import Result, Streamer

    with gzip.open(demo_path(), "rt") as demo:
        lines = demo.readlines()[:1 + 128 + 99 * 64 + 10]  # 100 windows: a block of 64 and a part
    recording = tmp_path / "part.csv"
    recording.write_text("".join(lines))
    args = ["stream", "--model", str(tiny_bundle.path), "--source", f"csv:{recording}", "--smooth", "none"]
    done = subprocess.run([*EDGEHAR, *args, *(["--jsonl"] if jsonl else [])], capture_output=True,
                          text=True, timeout=120, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert done.returncode == 0, done.stderr
    streamer = Streamer.from_bundle(tiny_bundle, "int8")
    expected = [r for chunk in iter_csv(str(recording)) for r in streamer.feed(chunk.t, chunk.x)]
    out = done.stdout.splitlines()
    assert len(expected) == 100 and len(out) == 100 + (not jsonl)
    if jsonl:
        records = [json.loads(line) for line in out]
        assert [{**r, "latency_ms": 0} for r in records] == \
            [{**json.loads(r.to_json()), "latency_ms": 0} for r in expected]
    else:
        assert out[0] == Result.TEXT_HEADER
        assert [line.rsplit(")", 1)[0] for line in out[1:]] == \
            [r.to_text().rsplit(")", 1)[0] for r in expected]  # (all but the latency)


def wait_for_lines(stream, n: int, limit_s: float = 60) -> list[str]:
    lines, deadline = [], time.monotonic() + limit_s
    while len(lines) < n and time.monotonic() < deadline:
        lines.append(stream.readline())
    return lines


@pytest.mark.parametrize("signum, code, end", [(signal.SIGINT, 130, "interrupted"),
                                               (signal.SIGTERM, 143, "terminated")])
def test_a_signal_stops_a_live_stream_cleanly_with_a_summary_and_128_plus_its_number(tiny_bundle, signum,
                                                                                     code, end):
    args = ["stream", "--model", str(tiny_bundle.path), "--source", "csv:-", "--jsonl"]
    # As in a terminal: SIGINT not ignored (a shell's background job, e.g. this test run's, ignores it).
    proc = subprocess.Popen([*EDGEHAR, *args],
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = ["t,ax,ay,az,gx,gy,gz", "garbage", "0.0,1,0,0,0,0,nan"]
        lines += [f"{i / 50},1,0,0,0,0,0" for i in range(192)]
        proc.stdin.write("\n".join(lines) + "\n")
        proc.stdin.flush()
        results = wait_for_lines(proc.stdout, 2)
        assert [json.loads(r)["end"] for r in results] == [128, 192]
        proc.send_signal(signum)
        proc.wait(timeout=30)  # stdin stays open: the signal, not the end of the input, must stop it
        out, err = proc.communicate()
    finally:
        proc.kill()
    assert proc.returncode == code, err
    summary = summary_of(err)
    assert summary["end"] == end and summary["samples"] == 192 and summary["windows"] == 2
    assert summary["skipped"] == {"short": 1, "non_finite": 1}
    assert "Traceback" not in err


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_stream_labels_udp_datagrams_end_to_end(tiny_bundle):
    port = free_udp_port()
    args = ["stream", "--model", str(tiny_bundle.path), "--jsonl", "--timeout", "1",
            "--source", f"udp:127.0.0.1:{port}"]
    proc = subprocess.Popen([*EDGEHAR, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            sent, deadline = 0, time.monotonic() + 60
            while not select.select([proc.stdout], [], [], 0.05)[0] and time.monotonic() < deadline:
                lines = "".join(f"{i / 50},0.1,0.2,0.97,0.01,0,0\n" for i in range(sent, sent + 32))
                sender.sendto(lines.encode(), ("127.0.0.1", port))  # lost until the process listens
                sent += 32
        first = json.loads(proc.stdout.readline())
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert first["label"] in tiny_bundle.classes and first["end"] - first["start"] == 128
    summary = summary_of(err)
    assert proc.returncode == 1 and summary["end"] == "timeout" and summary["windows"] >= 1


def test_a_closed_output_pipe_ends_the_stream_quietly(tiny_bundle):
    args = ["stream", "--model", str(tiny_bundle.path), "--source", "demo", "--speed", "realtime"]
    reader = subprocess.Popen([*EDGEHAR, *args],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        reader.stdout.readline()
        reader.stdout.close()  # like `| head -1`
        err = reader.stderr.read()
        reader.wait(timeout=60)
    finally:
        reader.kill()
    assert reader.returncode == 0 and "Traceback" not in err
    assert summary_of(err)["end"] == "output_closed"


@pytest.mark.parametrize("source", ["udp", "csv:-"])
def test_a_silent_source_times_out_with_exit_code_1(tiny_bundle, source):
    spec = f"udp:127.0.0.1:{free_udp_port()}" if source == "udp" else source
    proc = subprocess.Popen([*EDGEHAR, "stream", "--model", str(tiny_bundle.path), "--timeout", "0.5",
                             "--source", spec], stdin=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        proc.wait(timeout=60)  # stdin stays open but silent
        err = proc.stderr.read()
    finally:
        proc.kill()
        proc.stdin.close()
    assert proc.returncode == 1 and summary_of(err)["end"] == "timeout"


def test_user_errors_are_one_red_line_exit_2(tiny_bundle, tmp_path):
    for args in (["--model", str(tmp_path), "--source", "demo"],
                 ["--model", str(tiny_bundle.path), "--source", "imu:i2c-9"],
                 ["--model", str(tiny_bundle.path), "--source", "demo", "--variant", "int4"],
                 ["--model", str(tiny_bundle.path), "--source", "demo", "--smooth", "vote"],
                 ["--model", str(tiny_bundle.path), "--source", "demo", "--hop", "0"],
                 ["--model", str(tiny_bundle.path), "--source", "csv:-", "--timeout", "-1"],
                 ["--model", str(tiny_bundle.path), "--source", "csv:-", "--timeout", "nan"],
                 ["--model", str(tiny_bundle.path), "--source", "demo", "--max-gap", "-1"],
                 ["--model", str(tiny_bundle.path), "--source", "demo", "--max-acc", "nan"],
                 ["--model", str(tiny_bundle.path), "--source", "udp:127.0.0.1:99999"],
                 ["--model", str(tiny_bundle.path), "--source", "demo", "--out", str(tmp_path / "no" / "x")]):
        done = subprocess.run([*EDGEHAR, "stream", *args], capture_output=True, text=True, timeout=60,
                              env={**os.environ, "COLUMNS": "200"})
        assert done.returncode == 2 and "error:" in done.stderr and "Traceback" not in done.stderr, args
