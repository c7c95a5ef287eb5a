"""`edgehar record`: capture a live source to a labelled recording for training.

Nothing here imports TensorFlow: this runs on the Pi with LiteRT alone.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from edgehar.cli.app import app
from edgehar.cli.numbers import number
from edgehar.cli.source_options import AccUnitOption, AxesOption, GyroUnitOption, TimeoutOption
from edgehar.errors import OptionError

EXIT_CODES = {"timeout": 1, "disconnected": 1, "error": 2}
"""Exit status by how the recording ended; every deliberate stop (end of input, q, --duration,
Ctrl-C, SIGTERM) exits 0: the recording is complete."""


@app.command()
def record(
    source: Annotated[str, typer.Option(
        "--source", help="serial:DEVICE[@BAUD], udp:HOST:PORT, imu:i2c-BUS[@ADDR], csv:- (stdin), "
        "or a replay: demo, csv:PATH, hapt:ACC_FILE. Text lines are t,ax,ay,az,gx,gy,gz[,label].")],
    out: Annotated[Path, typer.Option("--out", help="Folder to write NAME.csv and NAME.json in.")],
    name: Annotated[str | None, typer.Option(
        help="File stem. Default: SUBJECT-SESSION (or SESSION).")] = None,
    subject: Annotated[str, typer.Option(help="Who wears the sensor (validation splits by subject).")] = "",
    session: Annotated[str | None, typer.Option(help="Session name. Default: the UTC start time.")] = None,
    device: Annotated[str, typer.Option(help="The sensor and where it is worn, for the sidecar.")] = "",
    label: Annotated[str | None, typer.Option(
        help="Label every sample with NAME (keys can still change it).")] = None,
    keys: Annotated[str | None, typer.Option(
        help="Labels of keys 1..9 in order, e.g. walking,sitting,standing; 0 or space = unlabelled, "
        "q = stop. Keys are read from the terminal, also while stdin is the data.")] = None,
    duration: Annotated[float | None, number(0, 1e7, above=True,
        help="Stop after this many seconds of samples.")] = None,
    timeout: TimeoutOption = 5.0,
    speed: Annotated[str, typer.Option(help="Replay files at 'max' speed or in 'realtime'.")] = "max",
    acc_unit: AccUnitOption = None,
    gyro_unit: GyroUnitOption = None,
    axes: AxesOption = "x,y,z",
) -> None:
    """Record a live IMU source, labelled as you go, for training on your own data.

    Writes OUT/NAME.csv (t,ax,ay,az,gx,gy,gz,label) and the sidecar OUT/NAME.json.
    Labels come from --label or keys 1..9. Rows are synced to disk every second.
    Exit status: 0 when stopped (end of input, q, --duration, Ctrl-C, SIGTERM);
    1 when a live source went silent or away (what was recorded is kept);
    2 for bad options or input (one error line)."""
    from edgehar.runtime.recorder import Session, parse_keys, record
    from edgehar.runtime.sources import is_live, open_source, resolve_units

    acc_unit, gyro_unit = resolve_units(source, acc_unit, gyro_unit)
    meta = Session(source=source, subject=subject, session=session or "", device=device, axes=axes,
                   source_units=(acc_unit, gyro_unit), keys=parse_keys(keys), label=label or "")
    meta.name(name)  # a bad --name fails before the source is opened
    if source == "csv:-" and sys.stdin.isatty():
        raise OptionError("--source csv:- reads stdin, which is this terminal (where keys label): pipe "
                          "the samples in, e.g. my-logger | edgehar record --source csv:- ...")
    chunks = open_source(source, speed=speed, timeout=timeout, acc_unit=acc_unit, gyro_unit=gyro_unit,
                         axes=axes)
    summary = record(chunks, out, meta, name=name, duration=duration,
                     idle_timeout=timeout if is_live(source) else None)
    if summary["end"] == "error":
        print(f"error: {summary['detail']}", file=sys.stderr)
    print(summary_line(summary), file=sys.stderr)
    if summary["end"] in EXIT_CODES:
        raise typer.Exit(EXIT_CODES[summary["end"]])


def summary_line(summary: dict) -> str:
    """'recorded 1500 samples, 30.0 s (walking 20.0 s, unlabelled 10.0 s) to DIR/x.csv; end: quit'."""
    if not summary["samples"]:
        return f"nothing recorded, no files kept; end: {summary['end']}"
    parts = [f"{k} {s:.1f} s" for k, s in summary["label_seconds"].items()]
    if summary["unlabelled"]:
        parts.append(f"unlabelled {summary['unlabelled_seconds']:.1f} s")
    dropped = sum(summary["dropped"].values())
    return (f"recorded {summary['samples']} samples, {summary['seconds']:.1f} s ({', '.join(parts)}) to "
            f"{summary['files'][0]}; end: {summary['end']}" + (f"; dropped {dropped}" if dropped else ""))
