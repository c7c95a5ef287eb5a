"""Keep TensorFlow's start-up and converter logs off the terminal.

TensorFlow's C++ side logs through absl before anything can configure it (so
``TF_CPP_MIN_LOG_LEVEL`` does not stop it) and the TFLite converter prints its saved-model
summary: dozens of lines that say nothing to an edgehar user. While :func:`quiet` runs, the
process's stdout and stderr file descriptors go to a temporary file, replayed on stderr only if
the block fails. ``EDGEHAR_TF_LOGS=1`` lets everything through.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Swallow what is written to file descriptors 1 and 2 inside the block, unless it raises."""
    if os.environ.get("EDGEHAR_TF_LOGS"):
        yield
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    saved = [os.dup(1), os.dup(2)]
    with tempfile.TemporaryFile() as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        failed = True
        try:
            yield
            failed = False
        finally:
            for stream in (sys.stdout, sys.stderr):
                stream.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
            if failed:
                log.seek(0)
                sys.stderr.buffer.write(log.read())
                sys.stderr.flush()
