"""Download the official UCI HAR archive, verified against a pinned SHA-256.

The pin is the SHA-256 of the UCI repository's current download (61,005,872 bytes), a zip
that wraps ``UCI HAR Dataset.zip``. UCI publishes no checksum; this value was recorded
independently by third-party projects that download the file (it could not be re-verified
from here, which has no access to archive.ics.uci.edu). The dataset's *contents* are
checked independently of the pin: the 18 text files hashed in
``shared/data/uci-har/ORIGINAL_TEXT_CHECKSUMS.txt`` of the edgehar test data. If UCI ever
repacks the archive the download fails with a checksum error; pass ``sha256`` (``--sha256``)
to accept a file you have checked yourself.
"""

from __future__ import annotations

import re
from pathlib import Path

import pooch
import requests

from edgehar.data.locate import ARCHIVE_NAME, data_home
from edgehar.errors import DataError

OFFICIAL_URL = "https://archive.ics.uci.edu/static/public/240/human+activity+recognition+using+smartphones.zip"
OFFICIAL_SHA256 = "c00b803081a5c797cd5e4b83700a9810b38d53d9d84e01917e090e1fdbc81031"


def fetch(dest_dir: Path | None = None, url: str = OFFICIAL_URL, sha256: str = OFFICIAL_SHA256) -> Path:
    """Download ``url`` into ``dest_dir`` (default: the user data folder) as ``UCI_HAR.zip``.

    Nothing is downloaded when a file with the expected checksum is already there. A
    download whose SHA-256 differs from ``sha256`` is deleted and raises ``DataError``.
    """
    sha256 = sha256.strip().lower()
    if not re.fullmatch(r"[0-9a-f]{64}", sha256):
        raise DataError(f"--sha256 {sha256!r} is not 64 hexadecimal digits")
    dest_dir = Path(dest_dir) if dest_dir is not None else data_home()
    try:
        path = pooch.retrieve(url, known_hash=f"sha256:{sha256}", fname=ARCHIVE_NAME, path=dest_dir)
    except requests.exceptions.RequestException as err:
        raise DataError(f"cannot download {url}: {err}") from None
    except ValueError as err:
        got = re.search(r"but got ([0-9a-f]{64})", str(err))
        if got is None:
            raise
        raise DataError(f"download from {url} has SHA-256 {got[1]}, expected {sha256}; "
                        "the file was not kept") from None
    except OSError as err:
        raise DataError(f"cannot write {dest_dir / ARCHIVE_NAME}: {err}") from None
    return Path(path)
