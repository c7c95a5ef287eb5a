"""`edgehar data ...`: fetch the UCI HAR dataset and inspect it.

The loaders (pandas, pooch) are imported inside the commands so `edgehar --help` and the
other stages start fast on a Raspberry Pi.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from edgehar.cli.app import DataOption, Typer, app, output_console, print_table

data_app = Typer(help="Get the UCI HAR and HAPT datasets and inspect UCI HAR.", no_args_is_help=True)
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
    dataset: Annotated[Literal["uci-har", "hapt"], typer.Option(
        help="uci-har (UCI_HAR.zip, what --data reads) or hapt (HAPT.zip, the continuous recordings: "
        "unzipped, its RawData/ folder is what --hapt reads; tools/make_test_data.py takes the zip).",
    )] = "uci-har",
    dest: Annotated[Path | None, typer.Option(
        help="Folder to store the archive in. Default: the user data folder (--data looks there last).",
    )] = None,
    url: Annotated[str | None, typer.Option(help="Download from here instead of the UCI repository.")] = None,
    sha256: Annotated[str | None, typer.Option(help="Expected SHA-256 instead of the pinned one.")] = None,
) -> None:
    """Download an official archive (UCI HAR or HAPT) and verify its pinned SHA-256."""
    from edgehar.data.fetch import ARCHIVES
    from edgehar.data.fetch import fetch as download

    path = download(dest, url, sha256, dataset)
    console = output_console()
    console.print(f"{ARCHIVES[dataset].title}: {path}")
    if dataset == "hapt":
        console.print(f"build the test data with tools/make_test_data.py --hapt {path}, or unzip it "
                      "and pass its RawData/ folder to --hapt")
    elif dest is not None:
        console.print(f"use it with --data {path} or EDGEHAR_DATA={path}")
