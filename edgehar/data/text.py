"""Parse whitespace-separated number tables fast, and say exactly where a bad one is bad.

pandas' C parser reads a good file quickly; when it fails (or leaves NaN holes) the file is
scanned line by line to find the first bad line, so the user gets a ``DataError`` naming the
file, the 1-based line and column, never a parser traceback.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import pandas as pd

from edgehar.errors import DataError, excerpt
from edgehar.files import MAX_FILE_BYTES, FileRefused, read_limited


def read_bytes(path: Path, limit: int = MAX_FILE_BYTES) -> bytes:
    """The content of the regular file ``path``, decompressed when it ends in ``.gz``, at most
    ``limit`` bytes (see :func:`edgehar.files.read_limited`); a DataError naming it otherwise."""
    try:
        return read_limited(path, limit)
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except FileRefused as err:
        raise DataError(str(err)) from None
    except OSError as err:
        raise DataError(f"{path}: cannot read ({err.strerror or err})") from None


def parse_numbers(data: bytes, ncols: int, where: str) -> np.ndarray:
    """Rows of exactly ``ncols`` finite numbers -> float64 (rows, ncols).

    ``where`` names the file in error messages.
    """
    try:
        table = pd.read_csv(io.BytesIO(data), sep=r"\s+", header=None, dtype=np.float64,
                            skip_blank_lines=False, engine="c").to_numpy()
    except pd.errors.EmptyDataError:
        raise DataError(f"{where}: the file is empty") from None
    except (ValueError, pd.errors.ParserError):
        table = None
    if table is None or table.shape[1] != ncols or not np.isfinite(table).all():
        raise find_bad_line(data, ncols, where)
    return table


def find_bad_line(data: bytes, ncols: int, where: str) -> DataError:
    """The error for the first line of ``data`` that is not ``ncols`` finite numbers."""
    text = data.decode("utf-8", errors="replace")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for number, line in enumerate(lines, start=1):
        tokens = line.split()
        if number == len(lines) and 0 < len(tokens) < ncols:
            return DataError(f"{where}, line {number}: only {len(tokens)} of {ncols} numbers; "
                             "the file looks truncated")
        if len(tokens) != ncols:
            return DataError(f"{where}, line {number}: {len(tokens)} numbers, expected {ncols}")
        for column, token in enumerate(tokens, start=1):
            try:
                value = float(token)
            except ValueError:
                return DataError(f"{where}, line {number}, column {column}: "
                                 f"{excerpt(token)} is not a number")
            if not math.isfinite(value):
                return DataError(f"{where}, line {number}, column {column}: "
                                 f"{excerpt(token)} is not a finite number")
    return DataError(f"{where}: cannot be parsed as {ncols} numbers per line")
