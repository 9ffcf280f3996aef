"""Errors raised by orl's data layer.

Every fault a user can cause (an unknown dataset name, a missing or corrupt file, a wrong
shape) surfaces as a :class:`DatasetError` whose message names the offending value and what
is allowed, instead of a bare ``KeyError`` or h5py traceback from deep inside a loader.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path


class DatasetError(ValueError):
    """A dataset could not be found, read, validated or written."""


class CorruptFileError(DatasetError):
    """A dataset file exists but cannot be read back whole: truncated, overwritten, or not what was
    written (its content checksum differs). ``path`` names the file; a cached copy of a registered
    dataset is rebuilt from its source (see :func:`orl.data.registry.load_dataset`)."""

    def __init__(self, message: str, path: str | os.PathLike[str]) -> None:
        super().__init__(message)
        self.path = Path(path)


#: errnos of a full disk (ENOSPC) or an exhausted quota (EDQUOT)
DISK_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}


def os_error_message(e: OSError, path: str | os.PathLike[str], doing: str = "writing") -> str:
    """One line for an ``OSError`` met while ``doing`` ``path``: what is wrong, in words, and where.

    A full disk, a read-only file system, a permission, or a path component that is a file are
    the faults users cause (a small quota, a read-only ``ORL_DATA_DIR``, a typo); the errno's own
    text is kept for anything else.
    """
    where = Path(getattr(e, "filename", None) or path)
    if e.errno in DISK_FULL:
        return f"no space left on device while {doing} {path}"
    if e.errno == errno.EROFS:
        return f"{where}: read-only file system (while {doing} {path})"
    if e.errno in (errno.EACCES, errno.EPERM):
        return f"{where}: permission denied (while {doing} {path})"
    if e.errno in (errno.ENOTDIR, errno.EEXIST) and where.exists() and not where.is_dir():
        return f"{where}: is a file, not a directory (while {doing} {path})"
    if e.errno == errno.ENOTDIR:
        bad = next((p for p in [where, *where.parents] if p.exists() and not p.is_dir()), where)
        return f"{bad}: is a file, not a directory (while {doing} {path})"
    return f"{where}: {e.strerror or e} (while {doing} {path})"
