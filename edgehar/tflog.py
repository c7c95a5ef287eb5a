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
    with _swallowed((1, 2)):
        yield


@contextlib.contextmanager
def quiet_native() -> Iterator[None]:
    """Keep what TensorFlow's C++ side writes to file descriptor 2 inside the block (absl's
    ``E0000 … NodeDef mentions attribute use_unbounded_threadpool`` lines while training) off the
    terminal, while Python's own stderr (progress bars, messages) still shows: when
    ``sys.stderr`` is descriptor 2 it moves to a copy of it. The swallowed lines are replayed if
    the block raises."""
    if os.environ.get("EDGEHAR_TF_LOGS"):
        yield
        return
    python_stderr = sys.stderr
    python_stderr.flush()
    moved = _fileno(python_stderr) == 2
    copy = os.dup(2)
    if moved:
        sys.stderr = open(copy, "w", buffering=1, encoding=python_stderr.encoding,
                          errors=python_stderr.errors, closefd=False)
    try:
        with _swallowed((2,)):
            yield
    finally:
        if moved:
            sys.stderr.close()
            sys.stderr = python_stderr
        os.close(copy)


@contextlib.contextmanager
def _swallowed(fds: tuple[int, ...]) -> Iterator[None]:
    """Point the file descriptors ``fds`` at a temporary file inside the block; what was written
    there goes to stderr if the block raises."""
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    saved = [os.dup(fd) for fd in fds]
    with tempfile.TemporaryFile() as log:
        for fd in fds:
            os.dup2(log.fileno(), fd)
        failed = True
        try:
            yield
            failed = False
        finally:
            for stream in (sys.stdout, sys.stderr):
                stream.flush()
            for fd, old in zip(fds, saved, strict=True):
                os.dup2(old, fd)
                os.close(old)
            if failed:
                log.seek(0)
                sys.stderr.buffer.write(log.read())
                sys.stderr.flush()


def _fileno(stream) -> int | None:
    try:
        return stream.fileno()
    except (AttributeError, OSError, ValueError):
        return None
