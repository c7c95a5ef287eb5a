"""The root typer app and the options every command shares."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    name="edgehar",
    help="On-device human activity recognition: data, train, export, stream.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)

DataOption = Annotated[
    Path | None,
    typer.Option(
        "--data",
        envvar="EDGEHAR_DATA",
        help="UCI HAR data: the official zip, its extracted folder, or a folder of "
        "uci_har_{train,test}.npz. Default: $EDGEHAR_DATA, else the user data folder.",
    ),
]


def load_splits(data: Path | None, splits=("train", "test")):
    """The UCI HAR splits from --data / $EDGEHAR_DATA / the user data folder."""
    from edgehar.data.locate import resolve_data
    from edgehar.data.uci import load_split

    source = resolve_data(data)
    return [load_split(source, split) for split in splits]
