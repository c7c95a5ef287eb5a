"""Command-line options of an IMU source, shared by `edgehar stream` and `edgehar record`."""

from __future__ import annotations

from typing import Annotated

import typer

from edgehar.cli.numbers import number

TimeoutOption = Annotated[float, number(0, 1e6, above=True,
                                        help="Stop when a live source is silent this long (s).")]
AccUnitOption = Annotated[str | None, typer.Option(
    help="Acceleration unit of csv/serial/udp: g or ms2. Default: a replayed recording's sidecar, else g.")]
GyroUnitOption = Annotated[str | None, typer.Option(
    help="Angular velocity unit of csv/serial/udp: rads or dps. Default: a replayed recording's sidecar, "
    "else rads.")]
AxesOption = Annotated[str, typer.Option(
    help="Device axes as edgehar's x,y,z, with signs, e.g. y,-x,z for a sensor turned 90°.")]
