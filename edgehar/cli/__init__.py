"""The `edgehar` command line: a thin shell over the library, one module per stage."""

import signal
import sys

import typer
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
    """Entry point: run the app, turning user errors (a bad option, bad input, a missing training
    extra) into one red line and exit code 2."""
    run_command(entry_point=True)


def run_command(entry_point: bool = False) -> None:
    """Run the command ``sys.argv`` names as `edgehar` does (the exit status as SystemExit).
    In-process, the SIGINT handler is left as it was; as the entry point, once the command is over
    Ctrl-C ends the process at once (no KeyboardInterrupt traceback from a finalizer while Python
    shuts down) unless it is ignored (a background job)."""
    handler = signal.getsignal(signal.SIGINT)
    try:
        _run_command()
    finally:
        if not entry_point and handler is not None:
            signal.signal(signal.SIGINT, handler)
        elif entry_point and handler is not signal.SIG_IGN:
            signal.signal(signal.SIGINT, signal.SIG_DFL)


def _run_command() -> None:
    try:
        code = app(prog_name="edgehar", standalone_mode=False)
    except typer.TyperException as err:  # click's usage errors (typer vendors click)
        if type(err).__name__ == "NoArgsIsHelpError":  # `edgehar` or `edgehar data` alone: the help
            from typer import rich_utils

            rich_utils.rich_format_error(err)
            sys.exit(err.exit_code)
        ctx = getattr(err, "ctx", None)
        _error(err.format_message() + (f" (see `{ctx.command_path} --help`)" if ctx is not None else ""))
    except typer.Abort:
        print("Aborted.", file=sys.stderr)
        sys.exit(1)
    except EdgeharError as err:
        _error(str(err))
    except OSError as err:  # a read-only folder, a full disk, a file size limit: one line, the path
        reason = err.strerror or str(err)
        _error(f"{err.filename}: {reason}" if err.filename else f"cannot read or write: {reason}")
    except ModuleNotFoundError as err:
        if (err.name or "").split(".")[0] not in TRAIN_EXTRAS:
            raise
        _error(f"this needs the training extras ({err}); install them: {INSTALL_TRAIN}")
    sys.exit(code if isinstance(code, int) else 0)


__all__ = ["app", "main", "run_command"]
