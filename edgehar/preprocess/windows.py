"""Cutting continuous channels into fixed-length windows."""

from __future__ import annotations

import numpy as np

from edgehar.spec import HOP, WINDOW


def window_starts(n: int, window: int = WINDOW, hop: int = HOP) -> np.ndarray:
    """Start indices of every full window in a recording of ``n`` samples."""
    if n < window:
        return np.zeros(0, dtype=np.int64)
    return np.arange(0, n - window + 1, hop, dtype=np.int64)


def sliding_windows(features: np.ndarray, window: int = WINDOW, hop: int = HOP) -> np.ndarray:
    """(n, C) -> (k, window, C) copies of every full window, ``hop`` samples apart."""
    starts = window_starts(len(features), window, hop)
    if len(starts) == 0:
        return np.zeros((0, window, features.shape[1]), dtype=features.dtype)
    view = np.lib.stride_tricks.sliding_window_view(features, window, axis=0)[starts]
    return np.ascontiguousarray(view.transpose(0, 2, 1))
