"""The `edgehar` command line: a thin shell over the library, one module per stage."""

import sys

from rich.console import Console
from rich.markup import escape

from edgehar.cli import (  # noqa: F401  (they register their commands)
    crossval,
    data,
    decoder,
    export,
    finetune,
    record,
    review,
    serve,
    stream,
    train,
)
from edgehar.cli.app import app
from edgehar.errors import EdgeharError

TRAIN_EXTRAS = ("tensorflow", "keras", "tf_keras", "matplotlib", "tflite_micro")
"""Modules of the `train` extra: the runtime install (stream, validate, bench) has none of them."""
INSTALL_TRAIN = 'pip install "edgehar[train]" && pip install --no-deps tf-keras==2.21.0'


def _error(message: str) -> None:
    Console(stderr=True, soft_wrap=True).print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    sys.exit(2)


def main() -> None:
    """Entry point: run the app, turning user errors (and a missing training extra) into one red
    line and exit code 2."""
    try:
        app(prog_name="edgehar")
    except EdgeharError as err:
        _error(str(err))
    except ModuleNotFoundError as err:
        if (err.name or "").split(".")[0] not in TRAIN_EXTRAS:
            raise
        _error(f"this needs the training extras ({err}); install them: {INSTALL_TRAIN}")


__all__ = ["app", "main"]
