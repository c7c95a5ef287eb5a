"""SHA-256 of files, read in chunks (a bundle's artifacts, a dataset's source files)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from edgehar.files import open_regular


def sha256_of(*paths: Path) -> str:
    """The SHA-256 of the concatenated contents of ``paths`` (regular files: a FIFO or a device
    is refused with :class:`~edgehar.files.FileRefused`, an OSError, never read)."""
    digest = hashlib.sha256()
    for path in paths:
        with open_regular(path) as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()
