"""`edgehar data ...`: fetch the UCI HAR dataset and inspect it.

The loaders (pandas, pooch) are imported inside the commands so `edgehar --help` and the
other stages start fast on a Raspberry Pi.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from edgehar.cli.app import DataOption, Typer, app, output_console, print_table

data_app = Typer(help="Get and inspect the UCI HAR dataset.", no_args_is_help=True)
app.add_typer(data_app, name="data")


@data_app.command()
def info(data: DataOption = None) -> None:
    """Show shapes and label counts per split and per subject."""
    from edgehar.data.info import info_tables
    from edgehar.data.locate import resolve_data

    console = output_console()
    for table in info_tables(resolve_data(data)):
        print_table(console, table)


@data_app.command()
def fetch(
    dest: Annotated[Path | None, typer.Option(
        help="Folder to store UCI_HAR.zip in. Default: the user data folder (--data looks there last).",
    )] = None,
    url: Annotated[str | None, typer.Option(help="Download from here instead of the UCI repository.")] = None,
    sha256: Annotated[str | None, typer.Option(help="Expected SHA-256 instead of the pinned one.")] = None,
) -> None:
    """Download the official UCI HAR archive and verify its SHA-256."""
    from edgehar.data import fetch as download

    path = download.fetch(dest, url or download.OFFICIAL_URL, sha256 or download.OFFICIAL_SHA256)
    console = output_console()
    console.print(f"UCI HAR archive: {path}")
    if dest is not None:
        console.print(f"use it with --data {path} or EDGEHAR_DATA={path}")
