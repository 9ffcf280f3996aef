"""Atomic file writes: write to a temporary file in the target's directory, then rename.

A reader (or a resumed run) therefore sees either the previous complete file or the new
complete file, never a half-written one, even if the writer is killed mid-write.
``os.replace`` is atomic on POSIX when source and target are on the same file system,
which is why the temporary file lives next to the target.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import fcntl
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any


def _default_mode(directory: bool) -> int:
    """The mode ``open``/``mkdir`` would give under the current umask (mkstemp/mkdtemp use 0600/0700)."""
    umask = os.umask(0)
    os.umask(umask)
    return (0o777 if directory else 0o666) & ~umask


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str], suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path next to ``target``; rename it onto ``target`` on success.

    On an exception the temporary file is removed and ``target`` is left untouched.
    ``suffix`` lets libraries that insist on an extension (``.zip``, ``.hdf5``) be used.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=f".tmp{suffix}", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb+") as f:  # flush file contents to disk before the rename
            os.fsync(f.fileno())
        os.chmod(tmp, _default_mode(directory=False))  # as a plain open() would have made it
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextlib.contextmanager
def atomic_dir(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary directory next to ``target``; move it onto ``target`` on success.

    An existing ``target`` is replaced only after the new directory is complete: it is first
    renamed aside, then deleted, so a crash leaves either the old or the new directory.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        yield tmp
        os.chmod(tmp, _default_mode(directory=True))
        if target.exists():
            old = target.with_name(f".{target.name}.old-{os.getpid()}")
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def write_json(target: str | os.PathLike[str], obj: Any) -> None:
    """Atomically write ``obj`` as indented JSON."""
    with atomic_path(target) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")


def write_csv(target: str | os.PathLike[str], rows: Iterable[dict[str, Any]], fieldnames: Sequence[str]) -> None:
    """Atomically write ``rows`` as a CSV file with a header (the columns ``fieldnames``, in order)."""
    with atomic_path(target) as tmp, open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(fieldnames))
        w.writeheader()
        w.writerows(rows)


# ---------------------------------------------------------------------------- owned temporary directories
#: The file inside an owned temporary directory on which its owner holds an exclusive ``flock``.
OWNER_FILE = ".owner.lock"
#: A temporary directory whose owner lock is free is left alone this long after it was made (the
#: moment between ``mkdtemp`` and taking the lock); one with no owner file at all (left by an older
#: orl, or killed in that moment) is left alone for an hour.
STALE_GRACE_S, UNOWNED_GRACE_S = 10.0, 3600.0


@contextlib.contextmanager
def owned_tempdir(parent: str | os.PathLike[str], prefix: str) -> Iterator[Path]:
    """A temporary directory ``<parent>/<prefix>XXXX``, removed on exit, that says it is in use.

    Its owner holds an exclusive ``flock`` on :data:`OWNER_FILE` inside it while the block runs (and
    so does a child forked inside the block, which inherits the lock). The kernel drops the lock when
    every holder has died, so :func:`sweep_stale_tempdirs` can tell the leftovers of a killed build
    (``kill -9`` leaves them behind, no ``finally`` runs) from the directory of a build that is
    running, in this process or another, without trusting pids.
    """
    parent = Path(parent)
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    fd = -1
    try:
        fd = os.open(tmp / OWNER_FILE, os.O_CREAT | os.O_RDWR, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if fd >= 0:
            os.close(fd)


def sweep_stale_tempdirs(parent: str | os.PathLike[str], prefix: str) -> list[Path]:
    """Remove the directories ``<parent>/<prefix>*`` that no live process owns (see :func:`owned_tempdir`).

    Returns the removed paths. Never raises for an unreadable or read-only ``parent``: sweeping is
    housekeeping, done at the next build or load, and must not stop a load from a read-only cache.
    """
    removed: list[Path] = []
    try:
        candidates = [p for p in Path(parent).glob(f"{prefix}*") if p.is_dir()]
    except OSError:
        return removed
    now = time.time()
    for tmp in candidates:
        try:
            fd = os.open(tmp / OWNER_FILE, os.O_RDWR)
        except FileNotFoundError:
            with contextlib.suppress(OSError):
                if now - tmp.stat().st_mtime > UNOWNED_GRACE_S:
                    shutil.rmtree(tmp)
                    removed.append(tmp)
            continue
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            os.close(fd)  # its owner is alive
            continue
        try:
            if now - os.fstat(fd).st_mtime > STALE_GRACE_S:
                shutil.rmtree(tmp)
                removed.append(tmp)
        except OSError:
            pass
        finally:
            os.close(fd)
    return removed
