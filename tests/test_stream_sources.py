"""Sources: the CSV line parser, files, UDP and serial for real, units, pacing, the I2C IMU."""

from __future__ import annotations

import gzip
import math
import os
import socket
import time
from collections import Counter
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgehar.errors import DataError, SourceError
from edgehar.runtime.imu import CHIPS, iter_imu, parse_imu_spec
from edgehar.runtime.sources import (
    MAX_LINE_BYTES,
    LineSplitter,
    SourceStopped,
    _parse_good,
    demo_path,
    iter_csv,
    iter_serial,
    iter_udp,
    open_source,
    paced,
    parse_line,
    parse_lines,
    resolve_units,
)

GOOD = "0.02,0.98,-0.1,0.2,0.01,-0.02,0.03"


@pytest.mark.parametrize("line, reason", [
    ("", "empty"), ("  \n", "empty"), ("t,ax,ay,az,gx,gy,gz", "header"),
    ("0.1,1,2", "short"), ("0.1,1,2,3,4,5,6,7", "malformed"), ("0.1,1,x,3,4,5,6", "malformed"),
    ("0.1,1,nan,3,4,5,6", "non_finite"), ("inf,1,2,3,4,5,6", "non_finite"), (b"\xff\xfe", "malformed"),
    ("t,ax,ay,az,gx,gy,gz,label", "header"), ("0.1," + "1" * 2000 + ",2,3,4,5,6", "too_long"),
    (b"9" * (MAX_LINE_BYTES + 1), "too_long"),
])
def test_parse_line_names_why_a_line_is_dropped(line, reason):
    assert parse_line(line) == (None, reason)


def test_parse_line_reads_a_good_line_as_str_or_bytes():
    expected = (0.02, 0.98, -0.1, 0.2, 0.01, -0.02, 0.03)
    assert parse_line(GOOD + "\r\n") == (expected, None)
    assert parse_line(GOOD.encode()) == (expected, None)


@given(st.one_of(st.text(max_size=80), st.binary(max_size=80),
                 st.lists(st.one_of(st.floats(), st.text(max_size=6)), max_size=9).map(
                     lambda xs: ",".join(map(str, xs)))))
def test_parse_line_never_raises_nor_yields_a_non_finite_sample(line):
    values, reason = parse_line(line)
    assert (values is None) != (reason is None)
    if values is not None:
        assert len(values) == 7 and all(math.isfinite(v) for v in values)


def test_labelled_lines_carry_their_label_field():
    assert parse_line(GOOD + ",WALKING", labelled=True)[0][-1] == "WALKING"
    assert parse_line(GOOD + ", ", labelled=True)[0][-1] == ""
    assert parse_line(GOOD, labelled=True)[0][-1] == ""  # no label field: unlabelled
    assert parse_line(GOOD + ",WALKING", labelled=False) == (None, "malformed")
    assert parse_line(GOOD + ",WALKING,x", labelled=True) == (None, "malformed")
    chunk = parse_lines([GOOD + ",SITTING", "1,2", "0.04,1,1,1,1,1,1,"], labelled=True)
    assert chunk.labels.tolist() == ["SITTING", ""] and chunk.skipped == {"short": 1}


@given(data=st.lists(st.one_of(st.sampled_from([b"", b"\n", b"\r\n", b"0.02,1,0,0,0,0,0\n"]),
                               st.binary(max_size=40), st.just(b"7" * 3000)), max_size=20),
       cuts=st.lists(st.integers(0, 10_000), max_size=8))
def test_line_splitter_gives_the_same_lines_however_the_bytes_arrive(data, cuts):
    """Long lines are cut to one byte over the limit (still too long), never kept whole."""
    stream = b"".join(data)
    expected = [line if len(line) <= MAX_LINE_BYTES else line[:MAX_LINE_BYTES + 1]
                for line in stream.split(b"\n")]
    edges = sorted({0, len(stream), *(c % (len(stream) + 1) for c in cuts)})
    splitter, lines = LineSplitter(), []
    for a, b in zip(edges, edges[1:], strict=False):
        lines += splitter.push(stream[a:b])
    lines += splitter.finish()
    assert lines == expected[:-1] + ([expected[-1]] if expected[-1] else [])
    assert all(len(line) <= MAX_LINE_BYTES + 1 for line in lines)


def test_parse_lines_counts_bad_lines_but_not_blank_ones_or_headers():
    chunk = parse_lines([GOOD, "", "t,ax,ay,az,gx,gy,gz", "1,2", "1,nan,0,0,0,0,0", "0.04,1,1,1,1,1,1"])
    assert chunk.t.tolist() == [0.02, 0.04] and chunk.x.shape == (2, 6)
    assert dict(chunk.skipped) == {"short": 1, "non_finite": 1}


NUMBERISH = st.one_of(st.floats().map(repr), st.integers(-10**20, 10**20).map(str),
                      st.sampled_from(["1e999", "-1e-999", " 1 ", "\t2.5", "1\r", "+.5", "1.", "1_0", "0x1",
                                       "", "nan", "inf", "1\x00", "1 2", "1e", "ax", "SITTING", "--1"]),
                      st.text(alphabet="0123456789.eE+-, \t\r\x00\x0bx", max_size=6))


@settings(deadline=None)
@given(lines=st.lists(st.one_of(st.lists(NUMBERISH, min_size=6, max_size=9).map(",".join),
                                st.text(max_size=12), st.binary(max_size=12),
                                st.sampled_from(["", "t,ax,ay,az,gx,gy,gz", GOOD, GOOD + ",WALKING", "\r"])),
                      max_size=12),
       labelled=st.booleans())
def test_lines_parsed_at_once_give_what_parsing_each_line_gives(lines, labelled):
    lines = [line.encode("utf-8", "surrogatepass") if isinstance(line, str) else line for line in lines]
    parsed = [parse_line(line, labelled) for line in lines]
    rows = [values for values, _ in parsed if values is not None]
    chunk = _parse_good(lines, labelled) or parse_lines(lines, labelled)  # in bulk whenever it takes them
    assert chunk.t.tolist() == [row[0] for row in rows]
    assert chunk.x.tolist() == [list(row[1:7]) for row in rows]
    assert chunk.labels is None if not labelled else chunk.labels.tolist() == [row[7] for row in rows]
    assert chunk.skipped == Counter(reason for _, reason in parsed if reason not in (None, "empty", "header"))


def _halfway(x: float) -> str:
    """The decimal exactly halfway between ``x`` and the next float up: rounding decides."""
    return format((Decimal(x) + Decimal(math.nextafter(x, math.inf))) / 2, "f")


DECIMALS = st.one_of(st.from_regex(r"\A-?(0|[1-9][0-9]{0,24})(\.[0-9]{1,24})?([eE][+-]?[0-9]{1,3})?\Z"),
                     st.floats(allow_nan=False, allow_infinity=False).map(repr),
                     st.floats(-1e3, 1e3).map(_halfway),
                     st.sampled_from(["-0", "-0.0", "0", "-0e0", "1e-0", "-0,", "1e400", "+1", ".5", "1.",
                                      "01"]))


@settings(deadline=None)
@given(rows=st.lists(st.lists(DECIMALS, min_size=7, max_size=7), min_size=1, max_size=12))
def test_numbers_parsed_at_once_are_bit_for_bit_what_float_reads(rows):
    lines = [",".join(row).encode() for row in rows]
    expected = [parse_line(line) for line in lines]
    chunk = _parse_good(lines, False) or parse_lines(lines)  # in bulk whenever it takes them
    kept = [values for values, _ in expected if values is not None]
    got = np.concatenate([chunk.t[:, None], chunk.x], axis=1) if len(chunk) else np.zeros((0, 7))
    assert got.tobytes() == np.array(kept, dtype=np.float64).reshape(-1, 7).tobytes()  # -0.0 too


def test_a_recording_of_good_lines_is_parsed_at_once_exactly():
    lines = gzip.decompress(demo_path().read_bytes()).split(b"\n")[1:-1]
    whole = _parse_good(lines, False)
    assert whole is not None and len(whole) == 14450
    assert whole.t.tolist() == [parse_line(line)[0][0] for line in lines]
    assert whole.x.tolist() == [list(parse_line(line)[0][1:]) for line in lines]
    labelled = [line + b",WALKING" for line in lines[:500]]
    assert _parse_good(labelled, True).labels.tolist() == ["WALKING"] * 500


def test_csv_requires_the_header(tmp_path):
    path = tmp_path / "nohead.csv"
    path.write_text(GOOD + "\n")
    with pytest.raises(DataError, match="header"):
        list(iter_csv(str(path)))


def test_csv_file_with_a_label_column_delivers_the_labels(tmp_path):
    path = tmp_path / "rec.csv"
    path.write_text("t,ax,ay,az,gx,gy,gz,label\n" + "".join(
        f"{i / 50},1,0,0,0,0,0,{'WALKING' if i < 100 else ''}\n" for i in range(150)))
    chunks = list(iter_csv(str(path)))
    labels = np.concatenate([c.labels for c in chunks])
    assert [len(c) for c in chunks] == [64, 64, 22] and labels.tolist() == ["WALKING"] * 100 + [""] * 50
    assert list(paced(iter(chunks), "max"))[0].labels is chunks[0].labels


@pytest.mark.parametrize("damage, message, good_part", [
    (lambda gz: gz[:len(gz) // 2], "truncated", True),
    (lambda gz: b"t,ax,ay,az,gx,gy,gz\n0,1,0,0,0,0,0\n", "bad gzip data", False),
    (lambda gz: gz[:-8] + bytes(8), "bad gzip data", True),  # CRC and length zeroed
])
def test_a_damaged_gzip_recording_is_a_data_error_after_its_good_part(tmp_path, damage, message, good_part):
    path = tmp_path / "rec.csv.gz"
    body = "t,ax,ay,az,gx,gy,gz\n" + "".join(f"{i / 50},{i % 7},0,0,0,0,0\n" for i in range(20000))
    path.write_bytes(damage(gzip.compress(body.encode())))
    delivered = []
    with pytest.raises(DataError, match=f"{path}: {message}"):
        for chunk in iter_csv(str(path)):
            delivered.append(len(chunk))
    assert (sum(delivered) > 0) == good_part


def test_csv_gz_reads_in_chunks(tmp_path):
    path = tmp_path / "rec.csv.gz"
    with gzip.open(path, "wt") as f:
        f.write("t,ax,ay,az,gx,gy,gz\n")
        f.writelines(f"{i / 50},{i},0,0,0,0,0\n" for i in range(150))
    chunks = list(iter_csv(str(path), chunk=64))
    assert [len(c) for c in chunks] == [64, 64, 22]
    assert np.concatenate([c.x[:, 0] for c in chunks]).tolist() == list(range(150))


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_udp_receives_datagrams_and_times_out():
    """Datagrams queued while nobody read come as one chunk; then silence is a timeout."""
    port = free_udp_port()
    chunks = iter_udp("127.0.0.1", port, timeout=0.3)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        sender.sendto(f"{GOOD}\n0.04,1,1,1,1,1,1\n".encode(), ("127.0.0.1", port))
        sender.sendto(b"garbage", ("127.0.0.1", port))
        queued = next(chunks)
        sender.sendto(b"0.06,1,1,1,1,1,1", ("127.0.0.1", port))
        later = next(chunks)
    assert queued.t.tolist() == [0.02, 0.04] and queued.skipped == {"short": 1}
    assert later.t.tolist() == [0.06] and not later.skipped
    with pytest.raises(SourceStopped) as stop:
        next(chunks)
    assert stop.value.reason == "timeout"


def test_udp_port_in_use_is_a_clear_error():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        with pytest.raises(SourceError, match="cannot listen"):
            iter_udp("127.0.0.1", taken.getsockname()[1], timeout=0.1)


def test_serial_reads_lines_from_a_real_pty_and_reports_the_disconnect():
    master, slave = os.openpty()
    try:
        chunks = iter_serial(os.ttyname(slave), 115200, timeout=1.0)
        os.write(master, f"{GOOD}\n".encode())
        assert next(chunks).t.tolist() == [0.02]
        os.close(master)
        with pytest.raises(SourceStopped) as stop:
            next(chunks)
        assert stop.value.reason == "disconnected"
    finally:
        os.close(slave)


def test_serial_silence_is_a_timeout():
    master, slave = os.openpty()
    try:
        chunks = iter_serial(os.ttyname(slave), 115200, timeout=0.2)
        with pytest.raises(SourceStopped) as stop:
            next(chunks)
        assert stop.value.reason == "timeout"
    finally:
        os.close(master)
        os.close(slave)


def test_serial_missing_device_is_a_clear_error():
    with pytest.raises(SourceError, match="cannot open"):
        iter_serial("/dev/ttyNOPE0", 115200, timeout=0.1)


def test_hapt_source_replays_an_experiment_at_50_hz(hapt_raw):
    chunks = list(open_source(f"hapt:{hapt_raw / 'acc_exp01_user01.txt.gz'}"))
    t = np.concatenate([c.t for c in chunks])
    assert len(t) == 20598 and len(chunks[0]) == 64 and t[50] == 1.0
    first = [0.9180555898766518, -0.1124999994242935, 0.5097222514293852,  # acc_ and gyro_ line 1
             -0.05497787147760391, -0.06963863968849182, -0.03084869496524334]
    np.testing.assert_allclose(chunks[0].x[0], first)


def test_units_are_converted_to_g_and_rad_per_s(tmp_path):
    path = tmp_path / "si.csv"
    path.write_text("t,ax,ay,az,gx,gy,gz\n0,9.80665,0,0,180,0,0\n")
    (chunk,) = list(open_source(f"csv:{path}", acc_unit="ms2", gyro_unit="dps"))
    np.testing.assert_allclose(chunk.x[0], [1, 0, 0, math.pi, 0, 0])


def test_realtime_pacing_delivers_samples_at_their_timestamps(tmp_path):
    path = tmp_path / "rt.csv"
    path.write_text("t,ax,ay,az,gx,gy,gz\n" + "".join(f"{i / 50},0,0,1,0,0,0\n" for i in range(11)))
    start = time.perf_counter()
    chunks = list(paced(iter_csv(str(path)), "realtime"))
    assert [len(c) for c in chunks] == [1] * 11
    assert time.perf_counter() - start >= 0.19


def test_realtime_pacing_waits_for_no_stray_timestamp_jump_or_long_pause(tmp_path):
    """A stray 1.7e308 once made the replay sleep past time_t (OverflowError)."""
    times = [i / 50 for i in range(6)] + [1.7e308, float("nan")] + [0.1 + i / 50 for i in range(5)] + [1e3]
    path = tmp_path / "jumpy.csv"
    path.write_text("t,ax,ay,az,gx,gy,gz\n" + "".join(f"{t!r},0,0,1,0,0,0\n" for t in times))
    start = time.perf_counter()
    chunks = list(paced(iter_csv(str(path)), "realtime"))
    assert [c.t[0] for c in chunks if c.t[0] == c.t[0]] == [t for t in times if t == t]
    assert 0.18 <= time.perf_counter() - start < 2


def test_axes_are_remapped_with_signs(tmp_path):
    path = tmp_path / "turned.csv"
    path.write_text("t,ax,ay,az,gx,gy,gz\n0,1,2,3,4,5,6\n")
    (chunk,) = list(open_source(f"csv:{path}", axes="y,-x,z"))
    assert chunk.x[0].tolist() == [2, -1, 3, 5, -4, 6]
    for bad in ("x,y", "x,x,z", "x,y,w"):
        with pytest.raises(SourceError, match="--axes"):
            open_source(f"csv:{path}", axes=bad)
    with pytest.raises(SourceError, match="units"):
        open_source(f"csv:{path}", acc_unit="furlongs")


@pytest.mark.parametrize("spec", ["nope", "csv:", "udp:1234", "serial:", "imu:spi-0"])
def test_unknown_or_incomplete_sources_are_clear_errors(spec):
    with pytest.raises(SourceError):
        open_source(spec)


def test_imu_without_an_i2c_bus_is_a_clear_error():
    assert not os.path.exists("/dev/i2c-7")
    with pytest.raises(SourceError, match=r"no I2C bus /dev/i2c-7.*raspi-config"):
        open_source("imu:i2c-7@0x68")
    with pytest.raises(SourceError):
        iter_imu(7)


def test_imu_spec_and_decoding():
    assert parse_imu_spec("i2c-1") == (1, None) and parse_imu_spec("i2c-1@0x6a") == (1, 0x6A)
    with pytest.raises(SourceError, match="address"):
        parse_imu_spec("i2c-1@zz")
    mpu, lsm = CHIPS
    # MPU-6050 at ±2 g / ±500 °/s: 16384 counts = 1 g, 65.5 counts = 1 °/s (big-endian, temp between).
    block = np.array([16384, 0, -16384, 999, 655, 0, 0], dtype=">i2").tobytes()
    np.testing.assert_allclose(mpu.decode(block), [1, 0, -1, math.radians(10), 0, 0], rtol=1e-6)
    # LSM6DS3: gyro first, little-endian; 0.061 mg and 17.5 m°/s per count.
    block = np.array([0, 5714, 0, 0, 0, 16393], dtype="<i2").tobytes()
    np.testing.assert_allclose(lsm.decode(block), [0, 0, 1, 0, math.radians(100), 0], rtol=1e-3)


def _replay(spec: str, acc_unit=None, gyro_unit=None) -> np.ndarray:
    acc, gyro = resolve_units(spec, acc_unit, gyro_unit)
    return np.concatenate([c.x for c in open_source(spec, acc_unit=acc, gyro_unit=gyro)])


def test_a_replayed_recording_is_read_in_the_units_its_sidecar_names(tmp_path):
    rows = [(i / 50, 0.1, -0.2, 1.0, 0.01, -0.02, 0.5) for i in range(200)]
    (tmp_path / "g.csv").write_text("t,ax,ay,az,gx,gy,gz\n" + "".join(
        f"{t:.2f},{ax},{ay},{az},{gx},{gy},{gz}\n" for t, ax, ay, az, gx, gy, gz in rows))
    (tmp_path / "si.csv").write_text("t,ax,ay,az,gx,gy,gz\n" + "".join(
        f"{t:.2f},{ax * 9.80665!r},{ay * 9.80665!r},{az * 9.80665!r},{math.degrees(gx)!r},"
        f"{math.degrees(gy)!r},{math.degrees(gz)!r}\n" for t, ax, ay, az, gx, gy, gz in rows))
    (tmp_path / "si.json").write_text('{"units": {"acc": "ms2", "gyro": "dps"}}')
    np.testing.assert_allclose(_replay(f"csv:{tmp_path / 'si.csv'}"), _replay(f"csv:{tmp_path / 'g.csv'}"),
                               rtol=1e-6)
    assert resolve_units(f"csv:{tmp_path / 'g.csv'}") == ("g", "rads")
    assert resolve_units("udp:0.0.0.0:5005", "ms2") == ("ms2", "rads")
    with pytest.raises(SourceError, match="--acc-unit g: .*si.json says the recording is in ms2"):
        resolve_units(f"csv:{tmp_path / 'si.csv'}", "g")
    (tmp_path / "si.json").write_text('{"rate_hz": 100}')
    with pytest.raises(DataError, match="rate_hz"):
        resolve_units(f"csv:{tmp_path / 'si.csv'}")
