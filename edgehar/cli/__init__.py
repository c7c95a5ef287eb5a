"""The `edgehar` command line: a thin shell over the library, one module per stage."""

import sys

from rich.console import Console
from rich.markup import escape

from edgehar.cli import data, decoder, export, stream, train  # noqa: F401  (they register their commands)
from edgehar.cli.app import app
from edgehar.errors import EdgeharError


def main() -> None:
    """Entry point: run the app, turning user errors into one red line and exit code 2."""
    try:
        app(prog_name="edgehar")
    except EdgeharError as err:
        Console(stderr=True, soft_wrap=True).print(f"[bold red]error:[/] {escape(str(err))}", highlight=False)
        sys.exit(2)


__all__ = ["app", "main"]
