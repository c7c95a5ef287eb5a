"""What `edgehar data info` shows: shapes and label counts per split and per subject."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from rich.table import Table

from edgehar.data.dataset import HarWindows
from edgehar.data.uci import load_uci
from edgehar.spec import ACTIVITIES


def info_tables(source: Path) -> list[Table]:
    """Load both splits of ``source`` and describe them."""
    train, test = load_uci(source)
    splits = {"train": train, "test": test}
    return [split_table(splits, source), subject_table(splits)]


def split_table(splits: dict[str, HarWindows], source: Path) -> Table:
    table = Table("split", "X", "subjects", *ACTIVITIES, title=f"UCI HAR windows from {source}")
    for name, windows in splits.items():
        table.add_row(name, f"{windows.X.shape} {windows.X.dtype}", str(len(np.unique(windows.subject))),
                      *(str(n) for n in windows.label_counts().values()))
    return table


def subject_table(splits: dict[str, HarWindows]) -> Table:
    table = Table("subject", "split", "windows", *ACTIVITIES, title="Windows per subject")
    for name, windows in splits.items():
        for subject in np.unique(windows.subject):
            mine = windows.take(windows.subject == subject)
            table.add_row(str(subject), name, str(len(mine)), *(str(n) for n in mine.label_counts().values()))
    return table
