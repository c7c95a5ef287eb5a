"""Download the official UCI HAR and HAPT archives, each verified against a pinned SHA-256.

UCI publishes no checksums; each pin is the SHA-256 of the UCI repository's current download
as recorded independently by third-party projects that download the file (it could not be
re-verified from here, which has no access to archive.ics.uci.edu):

- UCI HAR (dataset 240): 61,005,872 bytes, a zip that wraps ``UCI HAR Dataset.zip``. The
  dataset's *contents* are checked independently of the pin: the 18 text files hashed in
  ``shared/data/uci-har/ORIGINAL_TEXT_CHECKSUMS.txt`` of the edgehar test data.
- HAPT (dataset 341, v2.1): 79,596,192 bytes, recorded with the same digest by three unrelated
  projects (a tutorial's data module that refuses any other size or digest, a preregistered
  HAPT protocol, and a probe's write-up that cites DOI 10.24432/C54G7M).

If UCI ever repacks an archive the download fails with a checksum error; pass ``sha256``
(``--sha256``) to accept a file you have checked yourself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pooch
import requests

from edgehar.data.locate import ARCHIVE_NAME, data_home
from edgehar.errors import DataError


@dataclass(frozen=True)
class Archive:
    """An official download: where it is, its pinned SHA-256, the file name it is stored as."""

    title: str
    url: str
    sha256: str
    file_name: str


ARCHIVES = {
    "uci-har": Archive(
        "UCI HAR archive",
        "https://archive.ics.uci.edu/static/public/240/human+activity+recognition+using+smartphones.zip",
        "c00b803081a5c797cd5e4b83700a9810b38d53d9d84e01917e090e1fdbc81031", ARCHIVE_NAME),
    "hapt": Archive(
        "HAPT archive",
        "https://archive.ics.uci.edu/static/public/341/"
        "smartphone+based+recognition+of+human+activities+and+postural+transitions.zip",
        "4ac4ae064227c07045a99551876b54d204837e995e298b6488559e209b3deb09", "HAPT.zip"),
}
"""The archives ``edgehar data fetch --dataset NAME`` downloads."""


def fetch(dest_dir: Path | None = None, url: str | None = None, sha256: str | None = None,
          dataset: str = "uci-har") -> Path:
    """Download ``dataset``'s archive (from ``url`` if given) into ``dest_dir`` (default: the user
    data folder) under its file name (``UCI_HAR.zip``, ``HAPT.zip``).

    Nothing is downloaded when a file with the expected checksum is already there. A
    download whose SHA-256 differs from ``sha256`` (default: the pin) is deleted and raises
    ``DataError``.
    """
    archive = ARCHIVES[dataset]
    url = url or archive.url
    sha256 = (sha256 or archive.sha256).strip().lower()
    if not re.fullmatch(r"[0-9a-f]{64}", sha256):
        raise DataError(f"--sha256 {sha256!r} is not 64 hexadecimal digits")
    dest_dir = Path(dest_dir) if dest_dir is not None else data_home()
    try:
        path = pooch.retrieve(url, known_hash=f"sha256:{sha256}", fname=archive.file_name, path=dest_dir)
    except requests.exceptions.RequestException as err:
        raise DataError(f"cannot download {url}: {err}") from None
    except ValueError as err:
        got = re.search(r"but got ([0-9a-f]{64})", str(err))
        if got is None:
            raise
        raise DataError(f"download from {url} has SHA-256 {got[1]}, expected {sha256}; "
                        "the file was not kept") from None
    except OSError as err:
        raise DataError(f"cannot write {dest_dir / archive.file_name}: {err}") from None
    return Path(path)
