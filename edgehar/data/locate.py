"""Where edgehar finds its data and keeps its caches."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

from edgehar.errors import DataError

ARCHIVE_NAME = "UCI_HAR.zip"
"""File name under which ``edgehar data fetch`` stores the official download."""


def data_home() -> Path:
    """The user data folder, where ``edgehar data fetch`` stores the dataset by default."""
    return Path(platformdirs.user_data_dir("edgehar"))


def cache_home() -> Path:
    """The cache folder: ``$EDGEHAR_CACHE``, else the user cache folder."""
    return Path(os.environ.get("EDGEHAR_CACHE") or platformdirs.user_cache_dir("edgehar"))


def resolve_data(path: Path | None = None) -> Path:
    """The UCI HAR source to use: ``path``, else ``$EDGEHAR_DATA``, else the fetched archive."""
    if path is None and os.environ.get("EDGEHAR_DATA"):
        path = Path(os.environ["EDGEHAR_DATA"])
    if path is not None:
        path = Path(path).expanduser()
        if not path.exists():
            raise DataError(f"data path {path} does not exist")
        return path
    fetched = data_home() / ARCHIVE_NAME
    if fetched.is_file():
        return fetched
    raise DataError(f"no UCI HAR data found (looked for {fetched}): pass --data PATH "
                    "(the official zip, its extracted folder, or a folder of uci_har_{train,test}.npz), "
                    "set EDGEHAR_DATA, or run `edgehar data fetch`")
