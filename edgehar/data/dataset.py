"""The in-memory form of labelled windows, whatever file they came from."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgehar.spec import ACTIVITIES, UCI_CHANNELS, WINDOW


@dataclass(frozen=True)
class HarWindows:
    """Windows of the 9 UCI channels with their labels and subjects.

    ``X`` is float32 (N, 128, 9) in ``UCI_CHANNELS`` order, ``y`` int64 labels 1..6,
    ``subject`` int64 ids; ``source`` says where they were read from.
    """

    X: np.ndarray
    y: np.ndarray
    subject: np.ndarray
    source: str = ""

    def __post_init__(self):
        if self.X.ndim != 3 or self.X.shape[1:] != (WINDOW, len(UCI_CHANNELS)):
            raise ValueError(f"{self.source}: X must be (N, {WINDOW}, 9), got {self.X.shape}")
        if not (len(self.X) == len(self.y) == len(self.subject)):
            raise ValueError(f"{self.source}: X, y and subject lengths differ "
                             f"({len(self.X)}, {len(self.y)}, {len(self.subject)})")

    def __len__(self) -> int:
        return len(self.y)

    def take(self, rows) -> HarWindows:
        """A subset of rows (an index array, a boolean mask or a slice)."""
        return HarWindows(self.X[rows], self.y[rows], self.subject[rows], self.source)

    @property
    def class_index(self) -> np.ndarray:
        """Labels as 0-based class indices into ``ACTIVITIES``."""
        return self.y - 1

    @property
    def classes(self) -> tuple[str, ...]:
        """UCI HAR's six activities: label k is ``classes[k - 1]``."""
        return ACTIVITIES

    def groups(self) -> tuple[str, np.ndarray]:
        """What validation holds out whole: the subjects."""
        return "subject", self.subject

    def label_counts(self) -> dict[str, int]:
        return {name: int((self.y == k).sum()) for k, name in enumerate(ACTIVITIES, start=1)}
