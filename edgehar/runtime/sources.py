"""Live and replayed IMU sources, each a small generator of :class:`Chunk` objects.

A chunk is what a source delivered in one read: timestamps in seconds and raw rows of
``RAW_COLUMNS`` (total acceleration in g, angular velocity in rad/s), plus how many lines
it had to drop and why. Text sources speak CSV lines ``t,ax,ay,az,gx,gy,gz`` (optionally
after a header line, which may add a ``label`` column), read in bounded memory.

A source that stops delivering raises :class:`SourceStopped` (timeout, disconnect); one that
cannot be opened raises :class:`SourceError` with a message saying what to fix.
"""

from __future__ import annotations

import gzip
import io
import math
import os
import select
import socket
import sys
import time
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from importlib import resources
from itertools import dropwhile
from pathlib import Path

import msgspec
import numpy as np

from edgehar.data.sidecar import read_sidecar, sidecar_path
from edgehar.errors import DataError, SourceError, excerpt
from edgehar.ranges import Range
from edgehar.spec import ACC_UNITS, GYRO_UNITS, RAW_COLUMNS, SAMPLE_RATE_HZ

CSV_HEADER = ("t", *RAW_COLUMNS)
LABELLED_HEADER = (*CSV_HEADER, "label")
REPLAY_CHUNK = 64
"""Samples per chunk when a recording is replayed at full speed."""
MAX_LINE_BYTES = 1024
"""The longest line a text source takes (a sample line needs under 200 bytes); a longer one
is dropped and counted as 'too_long', and never held in memory whole."""
READ_BYTES = 65536
MAX_DATAGRAMS = 1024
"""The most UDP datagrams read into one chunk."""
MAX_PAUSE_S = 10.0
"""The longest pause a realtime replay waits out."""


class SourceStopped(SourceError):
    """The source stopped delivering mid-stream; ``reason`` is 'timeout' or 'disconnected'."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail


@dataclass
class Chunk:
    """Samples a source delivered together: ``t`` (n,) seconds, ``x`` (n, 6) raw rows."""

    t: np.ndarray
    x: np.ndarray
    skipped: Counter = field(default_factory=Counter)
    """Lines the source dropped before they became samples, by reason."""
    labels: np.ndarray | None = None
    """(n,) each sample's label column (a string, '' when empty) when the input has one."""

    def __len__(self) -> int:
        return len(self.t)


def parse_line(line: str | bytes, labelled: bool = False) -> tuple[tuple | None, str | None]:
    """One CSV line -> ``((t, ax, ay, az, gx, gy, gz), None)`` or ``(None, reason)``; with
    ``labelled`` input the values end with the label field (a string, '' if absent).

    Reasons: 'empty', 'header', 'too_long', 'short', 'malformed', 'non_finite'. Never raises."""
    if len(line) > MAX_LINE_BYTES:
        return None, "too_long"
    if isinstance(line, bytes):
        try:
            line = line.decode("ascii")
        except UnicodeDecodeError:
            return None, "malformed"
    fields = line.strip().split(",")
    if fields == [""]:
        return None, "empty"
    if fields[0].strip() == CSV_HEADER[0] \
            and tuple(f.strip() for f in fields) in (CSV_HEADER, LABELLED_HEADER):
        return None, "header"
    if len(fields) < len(CSV_HEADER):
        return None, "short"
    if len(fields) > len(CSV_HEADER) + labelled:
        return None, "malformed"
    try:
        values = tuple(map(float, fields[:len(CSV_HEADER)]))
    except ValueError:
        return None, "malformed"
    if not all(map(math.isfinite, values)):
        return None, "non_finite"
    if labelled:
        return (*values, fields[-1].strip() if len(fields) > len(CSV_HEADER) else ""), None
    return values, None


BULK_LINES = 8
"""From this many lines on, a chunk is first tried in bulk (:func:`_parse_good`): below, its
dozen numpy calls cost more than reading each line (a live source's trickle of samples)."""


def parse_lines(lines: Iterable[str | bytes], labelled: bool = False) -> Chunk:
    """Parse lines into one chunk; blank lines and repeated headers are dropped uncounted.

    Lines that are all good samples are parsed together (:func:`_parse_good`); otherwise (or
    when it refuses them, or for fewer than BULK_LINES lines) each line by :func:`parse_line`,
    which says why a line is dropped."""
    lines = list(lines)
    return (len(lines) >= BULK_LINES and _parse_good(lines, labelled)) or _parse_each(lines, labelled)


NUMBER_BYTES = b"0123456789.eE+-, \t\n"
"""All that lines of plain decimal numbers hold: other bytes (letters of a header, nan or inf,
NUL, lone CR...) leave a line to :func:`parse_line`."""


def _parse_good(lines: list[str | bytes], labelled: bool) -> Chunk | None:
    """The chunk of ``lines`` when each is a line of plain decimal numbers that
    :func:`parse_line` takes as it is, parsed at once by numpy's C parser (which reads a
    number as ``float`` does); else None."""
    if not lines or max(map(len, lines)) > MAX_LINE_BYTES:
        return None
    blob = "\n".join(lines).encode("utf-8", "replace") if isinstance(lines[0], str) else b"\n".join(lines)
    if b"\r" in blob:  # (replace scans the whole blob even when there is nothing to replace)
        blob = blob.replace(b"\r\n", b"\n")
    labels = None
    if labelled:  # each line has its label field (perhaps empty) after exactly seven numbers
        rows = blob.split(b"\n")
        if not blob.isascii() or any(row.count(b",") != len(CSV_HEADER) for row in rows):
            return None
        cut = [row.rindex(b",") for row in rows]
        labels = np.array([row[i + 1:].decode("ascii").strip() for row, i in zip(rows, cut, strict=True)],
                          dtype=object)
        blob = b"\n".join(row[:i] for row, i in zip(rows, cut, strict=True))
    if blob.translate(None, NUMBER_BYTES):
        return None
    data = _read_numbers(blob, len(lines), len(CSV_HEADER))
    if data is None:
        try:
            data = np.loadtxt(io.BytesIO(blob), delimiter=",", comments=None, dtype=np.float64, ndmin=2)
        except ValueError:
            return None
    if data.shape != (len(lines), len(CSV_HEADER)) or not np.isfinite(data).all():
        return None
    return Chunk(data[:, 0].copy(), data[:, 1:].copy(), Counter(), labels)


_JSON_NUMBERS = msgspec.json.Decoder(list[float])


def _read_numbers(blob: bytes, rows: int, columns: int) -> np.ndarray | None:
    """``rows`` lines (of plain decimal numbers, see :data:`NUMBER_BYTES`) of ``columns`` fields
    each -> (rows, columns) float64, each number read as ``float`` reads it, by msgspec's JSON
    parser (correctly rounded, about 3x faster than numpy's loadtxt); None when a line has
    another number of fields or a number is in a form JSON lacks (+1, .5, 1., 01) or reads
    otherwise (an integer -0 is 0 to JSON, -0.0 to ``float``)."""
    codes = np.frombuffer(blob + b"\n", np.uint8)
    commas, ends = np.flatnonzero(codes == ord(",")), np.flatnonzero(codes == ord("\n"))
    if len(commas) != rows * (columns - 1) or len(ends) != rows \
            or not np.array_equal(np.searchsorted(commas, ends), np.arange(1, rows + 1) * (columns - 1)):
        return None
    after = codes[np.flatnonzero((codes[:-2] == ord("-")) & (codes[1:-1] == ord("0"))) + 2]
    if ((after == ord(",")) | (after == ord("\n")) | (after == ord(" ")) | (after == ord("\t"))).any():
        return None
    try:
        values = _JSON_NUMBERS.decode(b"[" + blob.replace(b"\n", b",") + b"]")
    except (msgspec.DecodeError, msgspec.ValidationError):  # not JSON numbers, or beyond a float
        return None
    return np.fromiter(values, np.float64, len(values)).reshape(rows, columns)  # (np.array: 25% slower)


def _parse_each(lines: list[str | bytes], labelled: bool) -> Chunk:
    rows, labels, skipped = [], [], Counter()
    for line in lines:
        values, reason = parse_line(line, labelled)
        if values is None:
            if reason not in ("empty", "header"):
                skipped[reason] += 1
        elif labelled:
            rows.append(values[:-1])
            labels.append(values[-1])
        else:
            rows.append(values)
    data = np.array(rows, dtype=np.float64).reshape(-1, len(CSV_HEADER))
    return Chunk(data[:, 0].copy(), data[:, 1:].copy(), skipped,
                 np.array(labels, dtype=object) if labelled else None)


class LineSplitter:
    """Bytes as they arrive -> complete lines, in linear time and bounded memory: of a line
    longer than MAX_LINE_BYTES only its first MAX_LINE_BYTES + 1 bytes are kept, enough for
    :func:`parse_line` to count it as too long."""

    def __init__(self):
        self._pending = b""

    def push(self, data: bytes) -> list[bytes]:
        keep = MAX_LINE_BYTES + 1
        *lines, rest = data.split(b"\n")
        if lines:
            lines[0], self._pending = self._pending + lines[0][:keep], b""
        self._pending = (self._pending + rest[:keep])[:keep]
        if lines and max(map(len, lines)) > keep:
            lines = [line if len(line) <= keep else line[:keep] for line in lines]
        return lines

    def finish(self) -> list[bytes]:
        """The last line, when the input did not end with a newline."""
        rest, self._pending = self._pending, b""
        return [rest] if rest else []


class CsvLines:
    """The lines of one text source. Its first non-blank line may be the header
    ``t,ax,ay,az,gx,gy,gz`` or ``t,ax,ay,az,gx,gy,gz,label`` (then every sample carries its
    label); without one, lines are ``t,ax,ay,az,gx,gy,gz``. Files must have the header."""

    def __init__(self, name: str, header_required: bool):
        self.name, self.header_required = name, header_required
        self.labelled: bool | None = None
        """Whether lines carry a label; None until the first non-blank line."""

    def data(self, lines: list) -> list:
        """``lines`` without the header, which is looked for in the first non-blank line."""
        if self.labelled is not None:
            return lines
        lines = list(dropwhile(lambda line: not line.strip(), lines))
        if not lines:
            return lines
        first = lines[0].decode("ascii", "replace") if isinstance(lines[0], bytes) else lines[0]
        names = tuple(f.strip() for f in first.strip().split(","))
        self.labelled = names == LABELLED_HEADER
        if names in (CSV_HEADER, LABELLED_HEADER):
            return lines[1:]
        if self.header_required:
            raise DataError(f"{self.name}, line 1: must be the header {','.join(CSV_HEADER)}[,label], "
                            f"got {first.strip()[:60]!r}")
        return lines

    def parse(self, lines: list) -> Chunk:
        lines = self.data(lines)
        return parse_lines(lines, bool(self.labelled))

    def finish(self) -> None:
        if self.labelled is None and self.header_required:
            raise DataError(f"{self.name}: empty (no header {','.join(CSV_HEADER)})")


def axes_matrix(axes: str) -> np.ndarray:
    """'x,y,z' style spec -> (3, 3) signed permutation: new axis i = sign * source axis.

    E.g. 'y,-x,z' when the sensor is mounted turned by 90° about z."""
    rows = [a.strip() for a in axes.split(",")]
    names = [r.lstrip("+-") for r in rows]
    if len(rows) != 3 or sorted(names) != ["x", "y", "z"]:
        raise SourceError(f"--axes {axes!r}: name x, y and z once each, with an optional sign, e.g. y,-x,z")
    matrix = np.zeros((3, 3))
    for i, (row, name) in enumerate(zip(rows, names, strict=True)):
        matrix[i, "xyz".index(name)] = -1.0 if row.startswith("-") else 1.0
    return matrix


def convert(chunks: Iterable[Chunk], acc_unit: str = "g", gyro_unit: str = "rads",
            axes: str = "x,y,z") -> Iterator[Chunk]:
    """Bring a source to edgehar's frame and units: acceleration in g (from g or m/s²),
    angular velocity in rad/s (from rad/s or °/s), axes remapped by :func:`axes_matrix`."""
    if acc_unit not in ACC_UNITS or gyro_unit not in GYRO_UNITS:
        raise SourceError(f"units must be acc {sorted(ACC_UNITS)} and gyro {sorted(GYRO_UNITS)}")
    rotation = axes_matrix(axes)
    transform = np.zeros((6, 6))
    transform[:3, :3] = rotation * ACC_UNITS[acc_unit]
    transform[3:, 3:] = rotation * GYRO_UNITS[gyro_unit]
    if (transform == np.eye(6)).all():
        return iter(chunks)
    return (replace(chunk, x=chunk.x @ transform.T) for chunk in chunks)


def _file_blocks(path: Path) -> Iterator[bytes]:
    """A file's bytes (gunzipped if it ends in .gz) block by block; a damaged file is a DataError."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            while block := f.read(READ_BYTES):
                yield block
    except EOFError:
        raise DataError(f"{path}: truncated (the compressed data ends early)") from None
    except gzip.BadGzipFile as err:
        raise DataError(f"{path}: bad gzip data ({err})") from None
    except zlib.error as err:
        raise DataError(f"{path}: corrupt compressed data ({err})") from None
    except OSError as err:
        raise DataError(f"{path}: cannot read ({err.strerror or err})") from None


def iter_csv(path: str, chunk: int = REPLAY_CHUNK) -> Iterator[Chunk]:
    """A CSV file (plain or .gz) with header ``t,ax,ay,az,gx,gy,gz[,label]``, ``chunk`` lines at a time."""
    file = Path(path)
    if not file.is_file():
        raise SourceError(f"{path}: no such file")

    def read() -> Iterator[Chunk]:
        splitter, csv, pending = LineSplitter(), CsvLines(path, header_required=True), []
        for block in _file_blocks(file):
            pending += csv.data(splitter.push(block))
            full = len(pending) - len(pending) % chunk
            yield from _chunks(pending[:full], chunk, bool(csv.labelled))
            pending = pending[full:]
        pending += csv.data(splitter.finish())
        csv.finish()
        yield from _chunks(pending, chunk, bool(csv.labelled))

    return read()


def _chunks(lines: list, size: int, labelled: bool) -> Iterator[Chunk]:
    """``lines`` as chunks of ``size`` lines each, parsed all at once when all are good samples."""
    whole = _parse_good(lines, labelled)
    for i in range(0, len(lines), size):
        if whole is None:
            yield parse_lines(lines[i:i + size], labelled)
        else:
            yield Chunk(whole.t[i:i + size], whole.x[i:i + size], Counter(),
                        None if whole.labels is None else whole.labels[i:i + size])


def _text_chunks(blocks: Iterable[bytes], name: str) -> Iterator[Chunk]:
    """A live text stream, a chunk per block read (however the blocks cut its lines)."""
    splitter, csv = LineSplitter(), CsvLines(name, header_required=False)
    for block in blocks:
        yield csv.parse(splitter.push(block))
    yield csv.parse(splitter.finish())


def _stdin_blocks(timeout: float) -> Iterator[bytes]:
    """What each read from stdin returns; silence longer than ``timeout`` stops."""
    fd = sys.stdin.fileno()
    while True:
        ready, _, _ = select.select([fd], [], [], timeout)
        if not ready:
            raise SourceStopped("timeout", f"nothing on stdin for {timeout:g} s")
        data = os.read(fd, READ_BYTES)
        if not data:
            return
        yield data


def iter_stdin(timeout: float) -> Iterator[Chunk]:
    """CSV lines piped to stdin, with or without a header; each read becomes one chunk."""
    return _text_chunks(_stdin_blocks(timeout), "stdin")


def iter_array(raw: np.ndarray, rate_hz: float = SAMPLE_RATE_HZ,
               chunk: int = REPLAY_CHUNK) -> Iterator[Chunk]:
    """A continuous recording (n, 6) as a source: sample i at t = i / rate_hz."""
    t = np.arange(len(raw), dtype=np.float64) / rate_hz
    raw = np.asarray(raw, dtype=np.float64)
    for i in range(0, len(raw), chunk):
        yield Chunk(t[i:i + chunk], raw[i:i + chunk])


def iter_hapt(acc_path: str, chunk: int = REPLAY_CHUNK) -> Iterator[Chunk]:
    """A HAPT experiment (acc_expNN_userMM.txt[.gz] with its gyro_ twin beside it) at 50 Hz."""
    from edgehar.data.recordings import read_hapt_experiment

    yield from iter_array(read_hapt_experiment(Path(acc_path)), SAMPLE_RATE_HZ, chunk)


def demo_path() -> Path:
    """The recording shipped inside the package (see edgehar/demo/README.md)."""
    paths = sorted(Path(str(resources.files("edgehar") / "demo")).glob("*.csv.gz"))
    if not paths:
        raise SourceError("the demo recording is missing from this installation (edgehar/demo/*.csv.gz)")
    return paths[0]


def iter_udp(host: str, port: int, timeout: float) -> Iterator[Chunk]:
    """CSV lines arriving as UDP datagrams (one or more lines each) on HOST:PORT.

    The socket is bound when this is called, so senders may start right after."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.bind((host, port))
    except OSError as err:
        sock.close()
        raise SourceError(f"udp:{host}:{port}: cannot listen ({err.strerror or err})") from err
    sock.settimeout(timeout)

    def receive() -> Iterator[Chunk]:
        csv = CsvLines(f"udp:{host}:{port}", header_required=False)
        with sock:
            while True:
                try:
                    datagrams = [sock.recv(65536)]
                except TimeoutError:
                    raise SourceStopped("timeout", f"no datagram on udp:{host}:{port} "
                                        f"for {timeout:g} s") from None
                sock.setblocking(False)  # and every datagram queued behind it, up to a bound
                try:
                    while len(datagrams) < MAX_DATAGRAMS:
                        datagrams.append(sock.recv(65536))
                except BlockingIOError:
                    pass
                finally:
                    sock.settimeout(timeout)
                yield csv.parse([line for datagram in datagrams for line in datagram.splitlines()])

    return receive()


BAUD = Range(50, 4_000_000, integer=True)
"""Serial baud rates: what UARTs and USB serial adapters run at."""


def iter_serial(device: str, baud: int, timeout: float) -> Iterator[Chunk]:
    """CSV lines from a serial port (a device path or any pyserial URL), opened when called."""
    import serial

    try:
        port = serial.serial_for_url(device, baudrate=baud, timeout=timeout)
    except (serial.SerialException, ValueError) as err:
        raise SourceError(f"serial:{device}: cannot open ({err})") from err

    def blocks() -> Iterator[bytes]:
        with port:
            while True:
                try:
                    data = port.read(1)  # waits up to the timeout
                    data += port.read(min(port.in_waiting, READ_BYTES))
                except (serial.SerialException, OSError) as err:
                    raise SourceStopped("disconnected", f"serial:{device}: {err}") from None
                if not data:
                    raise SourceStopped("timeout", f"nothing on serial:{device} for {timeout:g} s")
                yield data

    return _text_chunks(blocks(), f"serial:{device}")


def paced(chunks: Iterable[Chunk], speed: str) -> Iterator[Chunk]:
    """Replay at 'max' speed, or at 'realtime': one sample at a time, at its timestamp. A sample
    more than MAX_PAUSE_S away from where the replay's clock is (a long pause, a clock jump, a
    stray timestamp) restarts that clock instead of being waited for."""
    if speed == "max":
        yield from chunks
        return
    if speed != "realtime":
        raise SourceError(f"--speed must be 'max' or 'realtime', not {speed!r}")
    wall0 = t0 = None
    for chunk in chunks:
        if len(chunk) == 0:
            yield chunk
            continue
        for i in range(len(chunk)):
            delay = math.inf if t0 is None else wall0 + (chunk.t[i] - t0) - time.perf_counter()
            if abs(delay) > MAX_PAUSE_S:
                wall0, t0 = time.perf_counter(), chunk.t[i]
            elif delay > 0:
                time.sleep(delay)
            yield Chunk(chunk.t[i:i + 1], chunk.x[i:i + 1], chunk.skipped if i == 0 else Counter(),
                        None if chunk.labels is None else chunk.labels[i:i + 1])


def is_live(spec: str) -> bool:
    """Whether a source spec names a live sensor or stream rather than a recording."""
    return spec.partition(":")[0] in ("serial", "udp", "imu") or spec == "csv:-"


def queues(spec: str) -> bool:
    """Whether a live source queues what arrives while nobody reads (a socket, a pipe, a serial
    port's buffer), so that the stream may read it a block at a time; an I2C IMU is polled."""
    return is_live(spec) and spec.partition(":")[0] != "imu"


def resolve_units(spec: str, acc_unit: str | None = None, gyro_unit: str | None = None) -> tuple[str, str]:
    """The (acc, gyro) units of source ``spec``: those given, else, for ``csv:PATH``, what the
    recording's sidecar ``NAME.json`` says, else g and rad/s. A unit given that contradicts the
    sidecar is a SourceError: replaying a recording in the wrong units would mislabel it silently."""
    kind, _, arg = spec.partition(":")
    side = read_sidecar(sidecar_path(arg)) if kind == "csv" and arg not in ("", "-") else {}
    units = side.get("units", {"acc": "g", "gyro": "rads"})
    resolved = []
    for option, given, key in (("--acc-unit", acc_unit, "acc"), ("--gyro-unit", gyro_unit, "gyro")):
        if side and given is not None and given != units[key]:
            raise SourceError(f"{option} {given}: {sidecar_path(arg)} says the recording is in "
                              f"{units[key]}; leave {option} out")
        resolved.append(given if given is not None else units[key])
    return resolved[0], resolved[1]


def open_source(spec: str, *, speed: str = "max", timeout: float = 5.0,
                acc_unit: str = "g", gyro_unit: str = "rads", axes: str = "x,y,z") -> Iterator[Chunk]:
    """Chunks from a source spec: demo, csv:PATH, hapt:ACC_FILE, serial:DEV[@BAUD],
    udp:HOST:PORT or imu:i2c-BUS[@ADDR]."""
    if not 0 < timeout < math.inf:
        raise SourceError(f"--timeout must be a positive number of seconds, not {timeout}")
    kind, _, arg = spec.partition(":")
    if kind == "demo" and not arg:
        return paced(iter_csv(str(demo_path())), speed)
    if kind == "hapt" and arg:
        return paced(iter_hapt(arg), speed)
    if kind == "imu" and arg:
        from edgehar.runtime.imu import iter_imu, parse_imu_spec

        bus, address = parse_imu_spec(arg)
        return convert(iter_imu(bus, address, timeout=timeout), axes=axes)
    if kind == "csv" and arg:
        chunks = iter_stdin(timeout) if arg == "-" else paced(iter_csv(arg), speed)
    elif kind == "serial" and arg:
        device, _, baud = arg.rpartition("@") if "@" in arg else (arg, "", "115200")
        if not baud.isdigit() or int(baud) not in BAUD:
            raise SourceError(f"{excerpt(spec)}: the baud rate must be {BAUD.describe()}")
        chunks = iter_serial(device, int(baud), timeout)
    elif kind == "udp" and arg:
        host, _, port = arg.rpartition(":")
        if not host or not port.isdigit() or int(port) > 65535:
            raise SourceError(f"{spec}: expected udp:HOST:PORT with a port in 0..65535")
        chunks = iter_udp(host, int(port), timeout)
    else:
        raise SourceError(f"unknown source {spec!r}: use demo, csv:PATH (- for stdin), hapt:ACC_FILE, "
                          "serial:DEVICE[@BAUD], udp:HOST:PORT or imu:i2c-BUS[@ADDR]")
    return convert(chunks, acc_unit, gyro_unit, axes)
