"""The root typer app, the options every command shares, and how commands print."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.measure import Measurement
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text
from typer.core import TyperArgument, TyperCommand


class Command(TyperCommand):
    """A command whose usage line names its arguments as the docs do: ``BUNDLE`` when required,
    ``[BUNDLE]`` when optional (typer's own form is ``{bundle}``)."""

    def collect_usage_pieces(self, ctx) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if isinstance(param, TyperArgument):
                name = (param.metavar or param.name).upper()
                pieces.append(name if param.required else f"[{name}]")
        return pieces


class Typer(typer.Typer):
    """typer.Typer whose commands are :class:`Command` and whose help prints as written:
    ``[brackets]`` in a help text are text, not rich markup."""

    def __init__(self, **kwargs):
        super().__init__(rich_markup_mode=None, **kwargs)

    def command(self, *args, cls=None, **kwargs):
        return super().command(*args, cls=cls or Command, **kwargs)


app = Typer(
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

RecordingsOption = Annotated[
    Path | None,
    typer.Option(
        "--recordings",
        help="Labelled recordings (a folder of NAME.csv t,ax,ay,az,gx,gy,gz,label with optional "
        "NAME.json sidecars, or a HAPT RawData layout; or one CSV), labelled for the bundle by its "
        "class map; labels that are no class are not scored. No UCI HAR data is needed.",
    ),
]


def on_command_line(ctx: typer.Context, name: str) -> bool:
    """Whether the user gave option ``name`` on the command line (not its default or env var)."""
    return getattr(ctx.get_parameter_source(name), "name", "") == "COMMANDLINE"


def load_splits(data: Path | None, splits=("train", "test")):
    """The UCI HAR splits from --data / $EDGEHAR_DATA / the user data folder."""
    from edgehar.data.locate import resolve_data
    from edgehar.data.uci import load_split

    source = resolve_data(data)
    return [load_split(source, split) for split in splits]


def count(n: int, noun: str) -> str:
    """``n`` and the noun, plural unless n is 1: "1 subject", "3 subjects"."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def output_console(stderr: bool = False) -> Console:
    """The console commands print through: text is printed as given (a ``[bracket]`` is text,
    not markup) and lines are never broken where the terminal width ends."""
    return Console(stderr=stderr, markup=False, soft_wrap=True)


def warn_if_undertrained(bundle, confidence: float | None = None) -> None:
    """One ``warning:`` line on stderr when the bundle's model (or ``confidence``, its mean top
    probability measured now) is close to uniform outputs."""
    from edgehar.scoring.confidence import undertrained_warning

    if confidence is None:
        confidence = bundle.metadata.get("metrics", {}).get("mean_confidence")
    line = undertrained_warning(bundle.name, confidence, len(bundle.classes))
    if line:
        output_console(stderr=True).print(line, style="yellow")


def print_table(console: Console, table: Table) -> None:
    """Print ``table`` whole: its title on a line of its own, never wrapped; the table wider than
    the terminal (or than 80 columns when piped) rather than with cells cut short."""
    if table.title:
        console.print(Text(str(table.title), style="italic"))
        table.title = None
    needed = Measurement.get(console, console.options.update_width(10_000), table).maximum
    width = console.width
    console.width = max(width, needed)
    try:
        console.print(table)
    finally:
        console.width = width


@contextlib.contextmanager
def progress(description: str) -> Iterator[Callable[[int, int], None]]:
    """A progress bar on stderr while the block runs (erased after; silent unless a terminal).

    Yields ``step(done, total)`` for the library's ``progress`` callbacks.
    """
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    console = Console(stderr=True)
    with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as bar:
        task = bar.add_task(description, total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)
