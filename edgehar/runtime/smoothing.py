"""Temporal smoothing of per-window class probabilities into a steadier label.

Specs: ``none``; ``vote:K`` (majority of the last K argmax labels, ties to the newest);
``ema:A`` (exponential moving average of probabilities, weight A on the newest);
``hysteresis[:N[:P]]`` (keep the current label until another class is on top for N
consecutive windows, default 3, or at once when its probability is at least P, default 0.9);
``hmm[:LAG][@W]`` (the bundle's HMM decoder, :mod:`edgehar.runtime.hmm`: forward filtering, or
fixed-lag smoothing LAG windows behind, default 0; ``@W`` its emission weight W instead of the
stored one, e.g. ``hmm:1@0.5``); ``hsmm[:LAG][@W]`` likewise with the bundle's duration decoder
(activities last a minimum number of windows, :func:`edgehar.runtime.hmm_fit.with_durations`).
"""

from __future__ import annotations

import dataclasses
from collections import deque

import numpy as np

from edgehar.bundle import Bundle
from edgehar.errors import EdgeharError, excerpt
from edgehar.ranges import EMISSION_WEIGHT, Range
from edgehar.runtime.hmm import KINDS, HmmDecoder, HmmParams


class NoSmoothing:
    spec = "none"

    def update(self, probs: np.ndarray) -> int:
        return int(probs.argmax())  # np.argmax's wrapper costs more than the argmax of 6 values

    def reset(self) -> None:
        pass


class Vote:
    def __init__(self, k: int):
        self.spec, self._last = f"vote:{k}", deque(maxlen=k)

    def update(self, probs: np.ndarray) -> int:
        self._last.append(int(np.argmax(probs)))
        counts = np.bincount(self._last, minlength=len(probs))
        tied = np.flatnonzero(counts == counts.max())
        return next(label for label in reversed(self._last) if label in tied)

    def reset(self) -> None:
        self._last.clear()


class Ema:
    def __init__(self, alpha: float):
        self.spec, self.alpha, self._avg = f"ema:{alpha:g}", alpha, None

    def update(self, probs: np.ndarray) -> int:
        probs = np.asarray(probs, dtype=np.float64)
        self._avg = probs if self._avg is None else self.alpha * probs + (1 - self.alpha) * self._avg
        return int(np.argmax(self._avg))

    def reset(self) -> None:
        self._avg = None


class Hysteresis:
    def __init__(self, n: int = 3, clear: float = 0.9):
        self.spec, self.n, self.clear = f"hysteresis:{n}:{clear:g}", n, clear
        self.reset()

    def update(self, probs: np.ndarray) -> int:
        top = int(np.argmax(probs))
        if self._current is None or top == self._current:
            self._current, self._streak = top, 0
        else:
            self._streak = self._streak + 1 if top == self._candidate else 1
            self._candidate = top
            if self._streak >= self.n or probs[top] >= self.clear:
                self._current, self._streak = top, 0
        return self._current

    def reset(self) -> None:
        self._current, self._candidate, self._streak = None, None, 0


WINDOWS = Range(1, 1000, integer=True)
"""vote:K and hysteresis:N count windows."""
LAG = Range(0, 1000, integer=True)
"""hmm:LAG lags by windows."""


def make_smoother(spec: str, bundle: Bundle | None = None):
    """A fresh smoother from its spec string (see the module docstring); ``hmm`` reads the
    decoder of ``bundle``."""
    spec, at, weight = spec.partition("@")
    kind, _, args = spec.partition(":")
    parts = args.split(":") if args else []
    try:
        if at and kind not in KINDS:
            raise ValueError(f"@ takes {' and '.join(KINDS)} only")
        if kind == "none" and not parts:
            return NoSmoothing()
        if kind == "vote" and len(parts) == 1 and int(parts[0]) in WINDOWS:
            return Vote(int(parts[0]))
        if kind == "ema" and len(parts) == 1 and 0 < float(parts[0]) <= 1:
            return Ema(float(parts[0]))
        if kind == "hysteresis" and len(parts) <= 2:
            n = int(parts[0]) if parts else 3
            clear = float(parts[1]) if len(parts) > 1 else 0.9
            if n in WINDOWS and 0 < clear <= 1:
                return Hysteresis(n, clear)
        if kind in KINDS and len(parts) <= 1 and (not parts or int(parts[0]) in LAG) \
                and (not at or float(weight) in EMISSION_WEIGHT):
            if bundle is None:
                raise EdgeharError(f"--smooth {kind} needs a model bundle with a decoder")
            params = HmmParams.from_bundle(bundle, kind)
            if at:
                params = dataclasses.replace(params, emission_weight=float(weight))
            return HmmDecoder(params, int(parts[0]) if parts else 0)
    except ValueError:
        pass
    raise EdgeharError(f"bad --smooth {excerpt(spec + at + weight)}: use none, vote:K (K 1..1000), ema:A "
                       "(0 < A <= 1), hysteresis[:N[:P]] (N 1..1000), hmm[:LAG][@W] or hsmm[:LAG][@W] "
                       f"(LAG 0..1000, W {EMISSION_WEIGHT.describe()})")
