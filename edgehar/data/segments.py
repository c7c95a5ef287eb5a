"""Stitch UCI HAR windows back into the continuous recordings they were cut from.

UCI HAR cut each recording into 128-sample windows with 50% overlap, so consecutive rows of
one segment share 64 samples exactly. Stitching them back gives the raw-ish stream a device
would have seen (total_acc in g, body_gyro in rad/s), which lets edgehar re-run its own
causal preprocessing on it and replay it through the live runtime.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgehar.data.dataset import HarWindows
from edgehar.spec import HOP, UCI_CHANNELS, WINDOW

_RAW_FROM_UCI = [UCI_CHANNELS.index(c) for c in (
    "total_acc_x", "total_acc_y", "total_acc_z", "body_gyro_x", "body_gyro_y", "body_gyro_z")]


@dataclass(frozen=True)
class Segment:
    """One continuous stretch: raw rows (n, 6) and the dataset rows of its windows."""

    raw: np.ndarray
    label: int
    subject: int
    rows: np.ndarray

    def window_end(self, k: int) -> int:
        """Sample index (exclusive) at which the segment's k-th window ends."""
        return WINDOW + k * HOP


def stitch(windows: HarWindows) -> list[Segment]:
    """Group consecutive overlapping windows of one subject and label into segments."""
    X, y, subject = windows.X, windows.y, windows.subject
    joins = ((subject[1:] == subject[:-1]) & (y[1:] == y[:-1])
             & np.all(X[1:, :HOP] == X[:-1, HOP:], axis=(1, 2)))
    bounds = np.flatnonzero(~joins) + 1
    segments = []
    for rows in np.split(np.arange(len(X)), bounds):
        if len(rows) == 0:
            continue
        first = X[rows[0]]
        tails = X[rows[1:], HOP:].reshape(-1, X.shape[2])
        stream = np.concatenate([first, tails])[:, _RAW_FROM_UCI]
        segments.append(Segment(stream, int(y[rows[0]]), int(subject[rows[0]]), rows))
    return segments
