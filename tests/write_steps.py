"""Crash injection: call a function before every file-system write under a folder.

A write step is an ``open`` for writing, ``os.replace``/``rename``/``unlink``/``rmdir``/
``mkdir``, ``os.fsync`` or ``shutil.rmtree`` that touches a path under ``root``. Used in
process (snapshot the folder at each step: exactly what a ``kill -9`` there would leave) and
as a script that really kills a command at step K:

    python tests/write_steps.py ROOT STEP edgehar export BUNDLE ...  # SIGKILL right after STEP

where STEP is a step as ``on_step`` names it, e.g. ``"replace /abs/path/models/tiny"``.
"""

from __future__ import annotations

import builtins
import io
import os
import shutil
import signal
import sys
from collections.abc import Callable

_OS_CALLS = ("replace", "rename", "unlink", "rmdir", "mkdir", "fsync")


def _path_of(arg) -> str | None:
    if isinstance(arg, int):  # a file descriptor (fsync)
        try:
            return os.readlink(f"/proc/self/fd/{arg}")
        except OSError:
            return None
    if isinstance(arg, str | bytes | os.PathLike):
        return os.path.realpath(os.fsdecode(arg))
    return None


def install(root, on_step: Callable[[int, str], None]) -> Callable[[], None]:
    """Call ``on_step(n, what)`` before write step n (1, 2, ...) under ``root``; returns uninstall."""
    root = os.path.realpath(root) + os.sep
    count, busy = [0], [False]
    originals = {name: getattr(os, name) for name in _OS_CALLS}
    originals.update(open=builtins.open, io_open=io.open, rmtree=shutil.rmtree)

    def step(what: str, args) -> None:
        if busy[0]:
            return
        paths = [p for p in map(_path_of, args[:2]) if p]
        if not any((p + os.sep).startswith(root) for p in paths):
            return
        count[0] += 1
        busy[0] = True
        try:
            on_step(count[0], f"{what} {paths[0]}")
        finally:
            busy[0] = False

    def wrap(name: str, original):
        def wrapper(*args, **kwargs):
            step(name, args)
            return original(*args, **kwargs)
        return wrapper

    def wrap_open(original):
        def opener(file, mode="r", *args, **kwargs):
            if any(flag in mode for flag in "wax+"):
                step("open", (file,))
            return original(file, mode, *args, **kwargs)
        return opener

    for name in _OS_CALLS:
        setattr(os, name, wrap(name, originals[name]))
    builtins.open = io.open = wrap_open(originals["open"])
    shutil.rmtree = wrap("rmtree", originals["rmtree"])

    def uninstall() -> None:
        for name in _OS_CALLS:
            setattr(os, name, originals[name])
        builtins.open, io.open, shutil.rmtree = originals["open"], originals["io_open"], originals["rmtree"]

    return uninstall


if __name__ == "__main__":
    root, kill_after, *command = sys.argv[1:]
    previous = [""]

    def kill(n: int, what: str) -> None:
        if previous[0] == kill_after:
            print(f"killed before step {n} ({what}), after {kill_after}", file=sys.stderr, flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
        previous[0] = what

    install(root, kill)
    from edgehar.cli import main

    sys.argv = command
    main()
