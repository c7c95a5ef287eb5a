"""Write files and folders so that a crash, Ctrl-C or ``kill -9`` never leaves half of one behind.

A file is written to a temporary sibling, fsync'd and renamed over the old one. A folder
(a model bundle, a firmware package) is built whole in a temporary sibling
``.<name>.<random>.tmp`` and switched in by renames; the switch is committed the moment the
finished folder is renamed to ``.<name>.new``:

1. build ``.<name>.<random>.tmp``, fsync every file and folder in it;
2. rename it to ``.<name>.new`` (the commit point);
3. rename ``<name>`` to ``.<name>.old``, then ``.<name>.new`` to ``<name>``;
4. remove ``.<name>.old``.

:func:`recover` (run by every writer first, and by :meth:`edgehar.bundle.Bundle.load`)
finishes a switch a crash interrupted (``.new`` present: roll forward; only ``.old``: roll
back) and removes the temporary leftovers of dead writers. A live writer holds a lock on its
temporary folder or file, so it is never mistaken for a leftover; the switch and the recovery
hold a lock on the parent folder, so they never interleave. Everything written gets the
permissions the user's umask gives, as files made with ``open`` do.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

TMP_SUFFIX = ".tmp"
_building: set[Path] = set()
"""This process's temporary folders: private to it, so switches inside them need no lock."""


def umask() -> int:
    """The process's umask (read by setting it back at once)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def fsync_dir(path: Path) -> None:
    """Make a folder's entries (creations, renames, removals) durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, fsync it, then rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TMP_SUFFIX)
    except OSError as err:  # a read-only or full folder: say the file the user asked for
        raise named(err, path) from None
    try:
        with os.fdopen(fd, "wb") as f:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX)
            os.fchmod(f.fileno(), 0o666 & ~umask())
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
            os.replace(tmp, path)
        fsync_dir(path.parent)
    except BaseException as err:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise named(err, path) from None


def named(err: BaseException, path: Path) -> BaseException:
    """``err``, naming ``path`` when it is an OSError that names no file (a failed write, disk
    full) or names one of ``path``'s temporary siblings or what is inside one: every OSError
    reaches the user as one line with the path they asked for, never a ``.NAME.*.tmp`` name."""
    if isinstance(err, OSError) and err.errno is not None and (
            err.filename is None or _temporary(err.filename, path)
            or (err.filename2 is not None and _temporary(err.filename2, path))):
        return type(err)(err.errno, err.strerror, str(path))
    return err


def _temporary(filename, path: Path) -> bool:
    """Whether ``filename`` is a temporary sibling of ``path`` (``.NAME.*.tmp``) or lies inside one."""
    name = Path(os.path.abspath(os.fsdecode(filename)))
    parent = Path(os.path.abspath(path.parent))
    top = next((p for p in [name, *name.parents] if p.parent == parent), None)
    return top is not None and top.name.startswith(f".{path.name}.") and top.name.endswith(TMP_SUFFIX)


def write_text(path: Path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_json(path: Path, obj) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


@contextlib.contextmanager
def folder(path: Path, copy: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling folder; on success it replaces ``path`` whole, in one switch.

    ``copy``: the temporary folder starts as a copy of ``path`` (to change a few files of
    it). On any error (Ctrl-C included) the temporary folder is removed and ``path`` is left
    exactly as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    recover(path)
    try:
        tmp = Path(os.path.abspath(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.",
                                                    suffix=TMP_SUFFIX)))
    except OSError as err:  # a read-only or full folder: say the folder the user asked for
        raise named(err, path) from None
    lock = os.open(tmp, os.O_RDONLY | os.O_DIRECTORY)
    _building.add(tmp)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        os.chmod(tmp, 0o777 & ~umask())
        if copy and path.is_dir():
            _copy_tree(path, tmp)
        yield tmp
        _fsync_tree(tmp)
        _building.discard(tmp)
        _switch(path, tmp)
    except BaseException as err:
        shutil.rmtree(tmp, ignore_errors=True)
        raise named(err, path) from None
    finally:
        _building.discard(tmp)
        os.close(lock)


def _copy_tree(source: Path, target: Path) -> None:
    """``shutil.copytree`` into the existing ``target``, raising the first copy that failed (a full
    disk) as the OSError it was, not shutil's list of every failure."""
    failed: list[OSError] = []

    def copy(src, dst):
        try:
            return shutil.copy2(src, dst)
        except OSError as err:
            failed.append(err)
            raise

    try:
        shutil.copytree(source, target, dirs_exist_ok=True, copy_function=copy)
    except shutil.Error:
        if failed:
            raise failed[0] from None
        raise


def recover(path: Path) -> None:
    """Finish or undo a switch of ``path`` a crash interrupted; remove dead writers' leftovers.

    Cheap when there is nothing to do. Raises OSError when there is but the parent folder
    is not writable.
    """
    path = Path(path)
    new, old = _sibling(path, "new"), _sibling(path, "old")
    if not (new.exists() or old.exists() or _leftovers(path)):
        return
    with _parent_locked(path):
        if new.exists():
            _rename_in(path, new, old)
        elif old.exists() and not path.exists():
            os.replace(old, path)
        shutil.rmtree(old, ignore_errors=True)
        fsync_dir(path.parent)
    _remove_stale(path)


def _sibling(path: Path, tag: str) -> Path:
    return path.with_name(f".{path.name}.{tag}")


def _leftovers(path: Path) -> list[Path]:
    return list(path.parent.glob(f".{path.name}.*{TMP_SUFFIX}"))


def _remove_stale(path: Path) -> None:
    """Remove the temporary files and folders of writers of ``path`` that died."""
    for leftover in _leftovers(path):
        try:
            fd = os.open(leftover, os.O_RDONLY)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            continue  # a live writer holds it
        finally:
            os.close(fd)
        if leftover.is_dir():
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()


@contextlib.contextmanager
def _parent_locked(path: Path) -> Iterator[None]:
    if Path(os.path.abspath(path.parent)) in _building:  # our own temporary folder, locked by us
        yield
        return
    fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _switch(path: Path, tmp: Path) -> None:
    new, old = _sibling(path, "new"), _sibling(path, "old")
    with _parent_locked(path):
        shutil.rmtree(new, ignore_errors=True)
        os.replace(tmp, new)
        fsync_dir(path.parent)
        _rename_in(path, new, old)
        shutil.rmtree(old, ignore_errors=True)
        fsync_dir(path.parent)


def _rename_in(path: Path, new: Path, old: Path) -> None:
    """Put the committed ``new`` in the place of ``path``, parking the current one at ``old``."""
    if path.exists():
        shutil.rmtree(old, ignore_errors=True)
        os.replace(path, old)
        fsync_dir(path.parent)
    os.replace(new, path)
    fsync_dir(path.parent)


def _fsync_tree(root: Path) -> None:
    """fsync every file and folder under ``root`` (folders after their entries)."""
    for folder_path, _, files in os.walk(root, topdown=False):
        for name in files:
            fd = os.open(os.path.join(folder_path, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fsync_dir(Path(folder_path))
