"""One validation of every number a command takes or a bundle stores: finite, of its kind, in its
range. The CLI's options (:mod:`edgehar.cli.numbers`) and the stored parameters use the same
:class:`Range`, so a value refused on the command line is refused in a file too."""

from __future__ import annotations

import math
from dataclasses import dataclass

from edgehar.errors import OptionError, excerpt

SEED = (0, 2**32 - 1)
"""Random seeds: what NumPy and TensorFlow accept."""


def quote(value) -> str:
    """``value`` as an error message may show it: short, also for a 5,000-digit integer."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**18:
        return f"an integer of about {int(value.bit_length() * math.log10(2)) + 1} digits"
    return excerpt(value)


@dataclass(frozen=True)
class Range:
    """Numbers from ``low`` to ``high`` (``low`` itself excluded when ``above``), finite, and whole
    when ``integer``."""

    low: float = -math.inf
    high: float = math.inf
    above: bool = False
    integer: bool = False

    def __contains__(self, value) -> bool:
        if isinstance(value, bool) or not isinstance(value, int if self.integer else int | float):
            return False
        if isinstance(value, float) and not math.isfinite(value):
            return False
        return (value > self.low if self.above else value >= self.low) and value <= self.high

    def describe(self) -> str:
        kind = "a whole number" if self.integer else "a finite number"
        low = "" if self.low == -math.inf else \
            f"{'above' if self.above else 'at least'} {self._show(self.low)}"
        high = f"at most {self._show(self.high)}" if self.high < math.inf else ""
        return " ".join(part for part in (kind, " and ".join(p for p in (low, high) if p)) if part)

    def _show(self, bound: float) -> str:
        return f"{int(bound):,}" if self.integer else f"{bound:g}"

    def check(self, value, what: str, error: type[Exception] = OptionError):
        """``value`` when it is in range, else ``error`` naming ``what`` and the range."""
        if value not in self:
            raise error(f"{what} {quote(value)}: must be {self.describe()}")
        return value


ACC_LIMIT_G = Range(0, 1000, above=True)
"""A sample limit on |acceleration| per axis (g): IMUs report up to ±16 g (shock sensors 400)."""
GYRO_LIMIT_DPS = Range(0, 100_000, above=True)
"""A sample limit on |angular velocity| per axis (°/s): IMUs report up to ±4000 °/s."""
EMISSION_WEIGHT = Range(1e-3, 1e3)
"""The HMM decoder's exponent of each window's likelihoods: beyond, one window decides all
(or none) of the labels."""
LEARNING_RATE = Range(0, 1, above=True)
"""An optimizer's learning rate: above 1 (or NaN) makes weights NaN."""
LOSS_WEIGHT = Range(0, 1000)
"""A weight of a loss term or a loss threshold (nats)."""
SHARE = Range(0, 0.9)
"""A share of windows held out or mixed in."""
