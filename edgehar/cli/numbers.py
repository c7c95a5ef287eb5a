"""Numeric command-line options, each checked against its :class:`~edgehar.ranges.Range` as it is
parsed: NaN, infinities and values out of range are one ``error:`` line naming the option, before
the command runs. Every int or float option of every command is declared with :func:`number`."""

from __future__ import annotations

import math
from typing import Annotated

import typer

from edgehar.metadata import MAX_WINDOW
from edgehar.ranges import Range


def number(low: float | Range = -math.inf, high: float = math.inf, *, above: bool = False,
           integer: bool = False, **option) -> typer.models.OptionInfo:
    """A ``typer.Option(**option)`` whose value must lie in ``low`` (a Range) or in
    ``Range(low, high, above, integer)``."""
    allowed = low if isinstance(low, Range) else Range(low, high, above, integer)

    def check(param: typer.CallbackParam, value):
        return value if value is None else allowed.check(value, param.opts[0])

    check.range = allowed  # kept on typer's wrapper too: tests find every option's range
    return typer.Option(callback=check, **option)


MAX_GAP = (0, 3600)
"""--max-gap (s): above 0, under the clock jump a stream resyncs at."""
HopOption = Annotated[int | None, number(1, MAX_WINDOW, integer=True,
                                          help="Samples between windows. Default: the bundle's.")]
