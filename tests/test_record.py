"""`edgehar record` as a real process: files and sidecar, keys through a real terminal, UDP,
stdin, signals, SIGKILL, and the mistakes it refuses."""

from __future__ import annotations

import gzip
import json
import math
import os
import select
import signal
import socket
import subprocess
import sys
import termios
import time
from pathlib import Path

import numpy as np
import pytest
from test_stream_cli import free_udp_port

from edgehar.data.recordings import read_recording
from edgehar.errors import DataError
from edgehar.runtime.sources import demo_path

RECORD = [sys.executable, "-m", "edgehar", "record"]
HEADER = "t,ax,ay,az,gx,gy,gz,label"


def read_csv(path: Path) -> tuple[np.ndarray, list[str]]:
    """A recording's rows (n, 7) and labels, checking every line is whole."""
    text = path.read_text()
    lines = text.splitlines()
    assert lines[0] == HEADER and text.endswith("\n")
    fields = [line.split(",") for line in lines[1:]]
    assert all(len(f) == 8 for f in fields)
    rows = np.array([[float(v) for v in f[:7]] for f in fields]).reshape(-1, 7)
    return rows, [f[7] for f in fields]


def demo_rows() -> np.ndarray:
    with gzip.open(demo_path(), "rt") as f:
        return np.loadtxt(f, delimiter=",", skiprows=1)


def lines_of(rows: range, acc: str = "1,0,0", gyro: str = "0,0,0") -> str:
    return "".join(f"{i / 50},{acc},{gyro}\n" for i in rows)


def test_record_demo_to_a_recording_with_its_sidecar_without_tensorflow_or_pandas(tmp_path):
    code = (
        "import sys\n"
        "from edgehar.cli import main\n"
        f"sys.argv = ['edgehar', 'record', '--source', 'demo', '--out', {str(tmp_path)!r}, '--subject',\n"
        "            'alice', '--session', 's1', '--device', 'wrist IMU', '--label', 'walking',\n"
        "            '--keys', 'sitting,walking']\n"
        "try:\n    main()\nexcept SystemExit as exit:\n    assert not exit.code, exit.code\n"
        "assert 'tensorflow' not in sys.modules and 'pandas' not in sys.modules\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    rows, labels = read_csv(tmp_path / "alice-s1.csv")
    demo = demo_rows()
    np.testing.assert_array_equal(rows, demo)  # bit for bit: floats are written in their exact form
    assert set(labels) == {"walking"}
    sidecar = json.loads((tmp_path / "alice-s1.json").read_text())
    assert {k: sidecar[k] for k in ("format", "rate_hz", "units", "axes", "subject", "session", "device",
                                    "source", "labels", "samples", "label_samples", "unlabelled",
                                    "end", "dropped")} == {
        "format": "edgehar.recording/1", "rate_hz": 50.0, "units": {"acc": "g", "gyro": "rads"},
        "axes": "x,y,z", "subject": "alice", "session": "s1", "device": "wrist IMU", "source": "demo",
        "labels": ["sitting", "walking"], "samples": len(demo), "label_samples": {"walking": len(demo)},
        "unlabelled": 0, "end": "eof", "dropped": {}}
    assert sidecar["started"] <= sidecar["ended"] and sidecar["seconds"] == demo[-1, 0]
    assert sidecar["measured_rate_hz"] == pytest.approx(50, abs=0.01)
    assert sidecar["label_seconds"] == {"walking": sidecar["seconds"]} and sidecar["unlabelled_seconds"] == 0
    assert sorted(os.listdir(tmp_path)) == ["alice-s1.csv", "alice-s1.json"]
    back = read_recording(tmp_path / "alice-s1.csv")  # what training reads
    np.testing.assert_array_equal(np.column_stack([back.t, back.raw]), demo)
    assert (back.subject, back.session, back.label_names, back.rate_hz) == ("alice", "s1", ("walking",), 50.0)
    assert (back.labels == 1).all()
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(f"recorded {len(demo)} samples, {demo[-1, 0]:.1f} s (walking ")
    assert last.endswith("end: eof")
    assert "labelling keys are off: no terminal" in done.stderr


def test_record_a_csv_in_si_units_turned_axes_with_one_label_for_the_session(tmp_path):
    """Also: a timestamp that goes back is dropped, a device restart (25 in a row) continues the
    timeline, --duration stops by the samples' own clock and the session name defaults to the time."""
    t = [i / 50 for i in range(100)] + [0.5] + [i / 50 for i in range(200)]
    src = tmp_path / "si.csv"
    src.write_text("t,ax,ay,az,gx,gy,gz\n" + "".join(f"{ti},9.80665,0,-19.6133,180,0,90\n" for ti in t))
    out = tmp_path / "rec"
    done = subprocess.run([*RECORD, "--source", f"csv:{src}", "--out", str(out), "--label", "cycling",
                           "--acc-unit", "ms2", "--gyro-unit", "dps", "--axes", "y,-x,z", "--duration", "5"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    (csv,) = out.glob("*.csv")
    rows, labels = read_csv(csv)
    assert len(rows) == 250 and set(labels) == {"cycling"}
    np.testing.assert_allclose(rows[:, 1:], np.tile([0, -1, -2, 0, -math.pi, math.pi / 2], (250, 1)))
    assert (np.diff(rows[:, 0]) > 0).all() and rows[100, 0] == pytest.approx(2.0)  # 1.98 + 1/50
    sidecar = json.loads(csv.with_suffix(".json").read_text())
    assert sidecar["end"] == "duration" and sidecar["subject"] == "" and csv.stem == sidecar["session"]
    assert sidecar["dropped"] == {"t_not_increasing": 24} and sidecar["clock_restarts"] == 1  # 25th kept
    assert sidecar["source_units"] == {"acc": "ms2", "gyro": "dps"} and sidecar["axes"] == "y,-x,z"
    assert sidecar["labels"] == ["cycling"] and sidecar["units"] == {"acc": "g", "gyro": "rads"}
    np.testing.assert_array_equal(read_recording(csv).raw, rows[:, 1:])  # converted once, not twice


def test_a_source_label_column_is_kept_where_no_label_is_set(tmp_path):
    src = tmp_path / "labelled.csv"
    src.write_text("t,ax,ay,az,gx,gy,gz,label\n" + "".join(
        f"{i / 50},1,0,0,0,0,0,{['WALKING', '', 'not a name'][i // 10]}\n" for i in range(30)))
    done = subprocess.run([*RECORD, "--source", f"csv:{src}", "--out", str(tmp_path), "--name", "x"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    _, labels = read_csv(tmp_path / "x.csv")
    assert labels == ["WALKING"] * 10 + [""] * 20
    sidecar = json.loads((tmp_path / "x.json").read_text())
    assert sidecar["label_samples"] == {"WALKING": 10} and sidecar["unlabelled"] == 20
    assert sidecar["dropped"] == {} and sidecar["invalid_labels"] == 10


def test_record_udp_datagrams_then_a_silent_source_exits_1_with_the_recording_finalised(tmp_path):
    port = free_udp_port()
    proc = subprocess.Popen([*RECORD, "--source", f"udp:127.0.0.1:{port}", "--out", str(tmp_path),
                             "--name", "udp", "--timeout", "0.5", "--label", "standing"],
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr.readline().startswith("recording udp:")  # printed once the socket listens
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            for start in range(0, 200, 20):
                datagram = lines_of(range(start, start + 20)) + "garbage\n"
                sender.sendto(datagram.encode(), ("127.0.0.1", port))
        err = proc.communicate(timeout=60)[1]
    finally:
        proc.kill()
    assert proc.returncode == 1, err
    rows, labels = read_csv(tmp_path / "udp.csv")
    assert rows[:, 0].tolist() == [i / 50 for i in range(200)] and set(labels) == {"standing"}
    sidecar = json.loads((tmp_path / "udp.json").read_text())
    assert sidecar["end"] == "timeout" and sidecar["samples"] == 200 and sidecar["dropped"] == {"short": 10}
    assert "no datagram" in sidecar["detail"] and "end: timeout" in err


def test_record_a_serial_port_until_it_disconnects_exit_1_with_the_recording_kept(tmp_path):
    master, slave = os.openpty()  # the serial device: a real pty the test writes to
    proc = subprocess.Popen([*RECORD, "--source", f"serial:{os.ttyname(slave)}@115200", "--name", "serial",
                             "--out", str(tmp_path)], stderr=subprocess.PIPE, text=True)
    try:
        assert read_line(proc.stderr).startswith("recording serial:")
        os.write(master, ("t,ax,ay,az,gx,gy,gz\n" + lines_of(range(75))).encode())
        wait_for(lambda: rows_in(tmp_path / "serial.csv") == 75)
        os.close(master)  # unplugged
        proc.wait(timeout=30)
        err = proc.stderr.read()
    finally:
        proc.kill()
        os.close(slave)
    assert proc.returncode == 1, err
    sidecar = json.loads((tmp_path / "serial.json").read_text())
    assert sidecar["end"] == "disconnected" and sidecar["samples"] == 75 and sidecar["unlabelled"] == 75


def wait_for(predicate, limit_s: float = 30) -> None:
    deadline = time.monotonic() + limit_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def rows_in(path: Path) -> int:
    return max(path.read_text().count("\n") - 1, 0) if path.exists() else 0


def read_line(stream, limit_s: float = 30) -> str:
    assert select.select([stream], [], [], limit_s)[0], "no line"
    return stream.readline()


def feed(proc: subprocess.Popen, csv: Path, rows: range) -> None:
    """Send samples ``rows`` to the recorder's stdin and wait until its CSV holds them all."""
    proc.stdin.write(lines_of(rows))
    proc.stdin.flush()
    wait_for(lambda: rows_in(csv) == rows.stop)


def stop_from_the_terminal(proc: subprocess.Popen, master: int, slave: int, key: bytes) -> tuple[str, list]:
    """Type ``key`` on the terminal, wait for the recorder to exit: its stderr and the terminal's mode."""
    os.write(master, key)
    proc.wait(timeout=30)
    return proc.stderr.read(), termios.tcgetattr(slave)


def record_on_a_terminal(slave: int, *args: str) -> subprocess.Popen:
    """`edgehar record --source csv:- ARGS` in a new session whose controlling terminal is the
    pty ``slave``: the recorder's /dev/tty, while its stdin is a pipe of data."""
    name = os.ttyname(slave)

    def controlling_terminal():  # in the child, after setsid(): opening a tty makes it the session's
        os.close(os.open(name, os.O_RDWR))

    return subprocess.Popen([*RECORD, "--source", "csv:-", "--timeout", "20", *args],
                            stdin=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, preexec_fn=controlling_terminal)


def test_keys_from_the_controlling_terminal_label_the_samples_after_them_while_stdin_is_the_data(tmp_path):
    """A real pty is made the recorder's controlling terminal: it reads keys from /dev/tty in
    cbreak mode and leaves the terminal as it found it."""
    master, slave = os.openpty()
    before = termios.tcgetattr(slave)
    csv = tmp_path / "keys.csv"
    proc = record_on_a_terminal(slave, "--out", str(tmp_path), "--name", "keys", "--keys", "walking,sitting")
    try:
        assert "keys: 1 walking 2 sitting, 0 unlabelled, q stop" in read_line(proc.stderr)
        assert termios.tcgetattr(slave)[3] & termios.ICANON == 0  # cbreak while recording
        for n, (key, note) in enumerate(((b"1", "label walking"), (b"5", "key 5 has no label"),
                                         (b"2", "label sitting"), (b"0", "unlabelled"))):
            feed(proc, csv, range(50 * n, 50 * n + 50))  # written before the key is pressed
            os.write(master, key)
            assert note in read_line(proc.stderr)
        feed(proc, csv, range(200, 250))
        err, after = stop_from_the_terminal(proc, master, slave, b"q")  # although stdin stays open
    finally:
        proc.kill()
        os.close(master)
        os.close(slave)
    assert proc.returncode == 0, err
    assert after == before
    _, labels = read_csv(csv)
    assert labels == [""] * 50 + ["walking"] * 100 + ["sitting"] * 50 + [""] * 50
    sidecar = json.loads((tmp_path / "keys.json").read_text())
    back = read_recording(csv)
    assert back.label_names == ("walking", "sitting")
    assert back.labels.tolist() == [0] * 50 + [1] * 100 + [2] * 50 + [0] * 50
    assert back.t.tolist() == [i / 50 for i in range(250)]
    assert back.subject == "" and back.session == sidecar["session"] != "keys"  # --name is only the file
    assert sidecar["end"] == "quit" and sidecar["labels"] == ["walking", "sitting"]
    assert sidecar["label_samples"] == {"walking": 100, "sitting": 50} and sidecar["unlabelled"] == 100
    assert "walking 2.0 s, sitting 1.0 s, unlabelled 2.0 s" in err.splitlines()[-1]


@pytest.mark.parametrize("signum, end", [(signal.SIGINT, "interrupted"), (signal.SIGTERM, "terminated")])
def test_ctrl_c_or_sigterm_is_a_clean_stop_exit_0_with_every_sample_and_the_sidecar_final(tmp_path, signum,
                                                                                           end):
    proc = subprocess.Popen([*RECORD, "--source", "csv:-", "--out", str(tmp_path), "--name", "r",
                             "--label", "laying"], stdin=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        proc.stdin.write("t,ax,ay,az,gx,gy,gz\n" + lines_of(range(120)))
        proc.stdin.flush()
        wait_for(lambda: rows_in(tmp_path / "r.csv") == 120)
        proc.send_signal(signum)
        err = proc.communicate(timeout=30)[1]
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    sidecar = json.loads((tmp_path / "r.json").read_text())
    assert sidecar["end"] == end and sidecar["samples"] == 120 and "Traceback" not in err
    assert len(read_csv(tmp_path / "r.csv")[0]) == 120


def test_sigkill_mid_recording_leaves_whole_lines_of_every_sample_read_and_the_sidecar(tmp_path):
    proc = subprocess.Popen([*RECORD, "--source", "csv:-", "--out", str(tmp_path), "--name", "k",
                             "--subject", "bob"], stdin=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    csv = tmp_path / "k.csv"
    try:
        for start in range(0, 150, 10):  # 3 s of samples at 50 Hz, in bursts of 0.2 s
            proc.stdin.write(lines_of(range(start, start + 10)))
            proc.stdin.flush()
            time.sleep(0.2)
        wait_for(lambda: rows_in(csv) >= 100)
        proc.kill()
        proc.wait(timeout=30)
    finally:
        proc.kill()
    rows, labels = read_csv(csv)
    assert rows[:, 0].tolist() == [i / 50 for i in range(len(rows))] and len(rows) >= 150 - 50
    sidecar = json.loads((tmp_path / "k.json").read_text())
    assert sidecar["subject"] == "bob" and sidecar["session"] and "samples" not in sidecar  # the start's
    back = read_recording(csv)
    assert back.t.tolist() == rows[:, 0].tolist() and back.subject == "bob"
    text = csv.read_bytes()
    csv.write_bytes(text[:-9])  # a power cut in the middle of the last write: the line is cut short
    assert read_recording(csv).t.tolist() == rows[:-1, 0].tolist()
    sidecar["ended"] = "2026-11-29T10:00:00+00:00"  # the same cut in a finished recording is an error
    (tmp_path / "k.json").write_text(json.dumps(sidecar))
    with pytest.raises(DataError, match=rf"{csv}, line {len(rows) + 1}, column \d.*not a finite number"):
        read_recording(csv)


def test_a_source_that_never_sends_exits_1_and_keeps_no_empty_recording(tmp_path):
    proc = subprocess.Popen([*RECORD, "--source", "csv:-", "--out", str(tmp_path), "--name", "e",
                             "--timeout", "0.3"], stdin=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        proc.wait(timeout=60)  # stdin open but silent until the timeout
        err = proc.stderr.read()
    finally:
        proc.kill()
        proc.stdin.close()
    assert proc.returncode == 1 and "nothing recorded" in err and os.listdir(tmp_path) == []


def test_mistakes_are_one_error_line_exit_2_and_an_existing_recording_is_never_touched(tmp_path):
    (tmp_path / "alice-s1.csv").write_text("precious\n")
    (tmp_path / "only-sidecar.json").write_text("{}")
    out = str(tmp_path)
    for args, says in ((["--subject", "alice", "--session", "s1"], "alice-s1.csv exists"),
                       (["--name", "only-sidecar"], "only-sidecar.json exists"),
                       (["--label", "two words"], "--label 'two words'"),
                       (["--label", "-dash"], "--label '-dash'"),
                       (["--label", "x" * 65], "--label"),
                       (["--keys", "walking,,sitting"], "--keys label ''"),
                       (["--keys", "a,b,a"], "named twice"),
                       (["--keys", ",".join("abcdefghij")], "at most 9"),
                       (["--subject", "a/b"], "--subject 'a/b'"),
                       (["--name", "../up"], "--name '../up'"),
                       (["--duration", "0"], "--duration"),
                       (["--source", "nope"], "unknown source"),
                       (["--out", str(tmp_path / "alice-s1.csv" / "x")], "--out")):
        source = [] if "--source" in args else ["--source", "demo"]
        outdir = [] if "--out" in args else ["--out", out]
        done = subprocess.run([*RECORD, *source, *outdir, *args], capture_output=True, text=True,
                              timeout=60, env={**os.environ, "COLUMNS": "200"})
        lines = done.stderr.strip().splitlines()
        assert done.returncode == 2 and len(lines) == 1 and lines[0].startswith("error:"), (args, done.stderr)
        assert says in lines[0], (args, lines)
    master, slave = os.openpty()
    try:  # csv:- on a terminal: typed keys would be taken for samples
        done = subprocess.run([*RECORD, "--source", "csv:-", "--out", out], stdin=slave, capture_output=True,
                              text=True, timeout=60)
    finally:
        os.close(master)
        os.close(slave)
    assert done.returncode == 2 and "pipe the samples in" in done.stderr
    assert sorted(os.listdir(tmp_path)) == ["alice-s1.csv", "only-sidecar.json"]
    assert (tmp_path / "alice-s1.csv").read_text() == "precious\n"


def test_ctrl_c_typed_on_the_terminal_stops_cleanly_and_restores_its_mode(tmp_path):
    master, slave = os.openpty()
    before = termios.tcgetattr(slave)
    proc = record_on_a_terminal(slave, "--out", str(tmp_path), "--name", "c", "--label", "walking")
    try:
        read_line(proc.stderr)
        feed(proc, tmp_path / "c.csv", range(30))
        err, after = stop_from_the_terminal(proc, master, slave, b"\x03")  # the terminal sends SIGINT
    finally:
        proc.kill()
        os.close(master)
        os.close(slave)
    assert proc.returncode == 0 and after == before, err
    sidecar = json.loads((tmp_path / "c.json").read_text())
    assert sidecar["end"] == "interrupted" and sidecar["label_samples"] == {"walking": 30}
