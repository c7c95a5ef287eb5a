"""Run `edgehar` where a folder is really read-only or a really full filesystem: a bind mount
remounted read-only, or a small tmpfs, in a private mount namespace (`unshare -m`) that ends with
the command. Unlike chmod (which root ignores) these bind root too: the kernel answers EROFS and
ENOSPC. Needs root and util-linux's unshare (CI runs as root); else the tests are skipped."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

EDGEHAR = [sys.executable, "-m", "edgehar"]

READ_ONLY = 'd=$1; shift; mount --bind "$d" "$d" && mount -o remount,bind,ro "$d" || exit 99; exec "$@"'

FULL = """m=$1 seed=$2 after=$3 free=$4; shift 4
mount -t tmpfs -o size=8m tmpfs "$m" || exit 99
cp -a "$seed"/. "$m"/
fill=$(( $(df -k --output=avail "$m" | tail -1) - free ))
[ "$fill" -le 0 ] || head -c "${fill}K" /dev/zero > "$m/.filler" || true
"$@"; rc=$?
rm -f "$m/.filler"
cp -a "$m"/. "$after"/
exit $rc"""
"""Mount a tmpfs on $m holding a copy of $seed's contents and a filler that leaves $free KiB, run the
command, then copy what the tmpfs holds to $after (the mount ends with the namespace)."""


@functools.cache
def _cannot_mount() -> str:
    """Why mounting in a private namespace is not possible here ('' when it is)."""
    if os.geteuid() != 0:
        return "needs root to mount a read-only folder or a small tmpfs (CI runs as root)"
    if not shutil.which("unshare"):
        return "needs util-linux's unshare to mount in a private namespace"
    with tempfile.TemporaryDirectory() as folder:
        probe = subprocess.run(["unshare", "-m", "sh", "-c", READ_ONLY, "sh", folder, "true"],
                               capture_output=True, text=True)
    return "" if probe.returncode == 0 else f"mounting is not permitted here: {probe.stderr.strip()}"


def need_mounts() -> None:
    if reason := _cannot_mount():
        pytest.skip(reason)


def read_only(folder: Path, *args: str, timeout: float = 300, **popen) -> subprocess.CompletedProcess:
    """`edgehar ARGS` with ``folder`` mounted read-only."""
    need_mounts()
    command = ["unshare", "-m", "sh", "-c", READ_ONLY, "sh", str(folder), *EDGEHAR, *args]
    if popen:
        return subprocess.Popen(command, text=True, **popen)
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    assert done.returncode != 99, f"the read-only mount failed: {done.stderr}"
    return done


def full_disk(mount: Path, seed: Path, after: Path, free_kib: int, *args: str,
              timeout: float = 300) -> subprocess.CompletedProcess:
    """`edgehar ARGS` with a tmpfs on ``mount`` that starts as a copy of ``seed``'s contents and
    has ``free_kib`` KiB free; what the tmpfs holds afterwards is copied to ``after``."""
    need_mounts()
    mount.mkdir(exist_ok=True)
    after.mkdir()
    command = ["unshare", "-m", "sh", "-c", FULL, "sh", str(mount), str(seed), str(after), str(free_kib),
               *EDGEHAR, *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    assert done.returncode != 99, f"the tmpfs mount failed: {done.stderr}"
    return done


def tmpfs_kib(folder: Path) -> int:
    """KiB a tmpfs takes to hold ``folder``'s files (whole 4 KiB pages)."""
    return sum(-(-p.stat().st_size // 4096) * 4 for p in folder.rglob("*") if p.is_file())
