"""Bounded reads of regular files, for every file edgehar reads whole: recordings (``.gz``
decompressed as a stream, with the same cap), sidecars, bundle metadata and artifacts.

A FIFO, a device (``/dev/zero`` behind a symlink) or a folder is refused at once, never read:
opening does not wait for a writer and nothing is read from a file that is not regular.
Nothing here imports pandas or TensorFlow: the runtime reads bundles and sidecars too.
"""

from __future__ import annotations

import gzip
import os
import stat
import zlib
from pathlib import Path
from typing import BinaryIO

MAX_FILE_BYTES = 256 << 20
"""No file (or decompressed ``.gz``) over this is read: about 15 hours of a 50 Hz recording."""


class FileRefused(OSError):
    """A file that is no regular file or is over the limit; ``str()`` is its one-line reason."""


def open_regular(path: Path) -> BinaryIO:
    """``path`` opened for reading when it is a regular file (symlinks followed), else FileRefused."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)  # a FIFO opens without a writer
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = "a FIFO" if stat.S_ISFIFO(mode) else "a device" if stat.S_ISCHR(mode) else "a special file"
            raise FileRefused(f"{path}: {kind}, not a regular file: not read")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_limited(path: Path, limit: int = MAX_FILE_BYTES) -> bytes:
    """The content of the regular file ``path`` (decompressed when it ends in ``.gz``), at most
    ``limit`` bytes of it: FileRefused beyond, or for a file that is not regular."""
    with open_regular(path) as f:
        stream = gzip.GzipFile(fileobj=f) if str(path).endswith(".gz") else f
        try:
            data = stream.read(limit + 1)
        except (gzip.BadGzipFile, zlib.error, EOFError) as err:
            raise FileRefused(f"{path}: not a readable gzip file ({err or 'truncated'})") from None
    if len(data) > limit:
        raise FileRefused(f"{path}: larger than {limit:,} bytes{' decompressed' if stream is not f else ''}: "
                          "not read")
    return data
