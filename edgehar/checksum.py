"""SHA-256 of files, read in chunks (a bundle's artifacts, a dataset's source files)."""

from __future__ import annotations

import hashlib
from pathlib import Path


def sha256_of(*paths: Path) -> str:
    """The SHA-256 of the concatenated contents of ``paths``."""
    digest = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()
