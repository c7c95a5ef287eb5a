"""The ``--http`` option of `edgehar stream`, `serve` and `review`."""

from __future__ import annotations

from typing import Annotated

import typer

HttpOption = Annotated[str | None, typer.Option(
    "--http", metavar="[HOST:]PORT", help="Also serve a live web page on PORT (127.0.0.1 unless HOST is "
    "given; any other HOST needs the token printed at start in the page's URL). See docs/web.md.")]
