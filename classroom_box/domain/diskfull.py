"""What a full disk looks like, whichever layer meets it: one mapping from OS and SQLite errors.
It owns that mapping and must never guess: an I/O error counts as "full" only when the
filesystem really has no space left.
"""

from __future__ import annotations

import errno
import os
import sqlite3
from pathlib import Path


class StorageFull(Exception):
    """The disk (or the filesystem holding the database) is full: nothing was written.

    A domain error rather than a sqlite3 one, so the web layer answers 507 and the scheduler
    retries without knowing SQLite's error codes.
    """

    def __init__(self) -> None:
        super().__init__("the box's storage is full: nothing was saved; free some space")


# SQLite reports ENOSPC as SQLITE_FULL from write(), but as an SQLITE_IOERR_* variant from
# fsync/truncate/mmap; the extended code does not carry errno, so an I/O error counts as "full"
# only when the filesystem has no space left.
_IOERR = 10


def storage_full(exc: BaseException, path: Path) -> StorageFull | None:
    """The domain error for `exc` if it means "disk full", else None (the one mapping)."""
    if isinstance(exc, StorageFull):
        return exc
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return StorageFull()
    if not isinstance(exc, sqlite3.Error):
        return None
    code = getattr(exc, "sqlite_errorcode", None)
    if code == sqlite3.SQLITE_FULL:
        return StorageFull()
    if code is not None and code & 0xFF == _IOERR and _no_space_left(path):
        return StorageFull()
    return None


def _no_space_left(path: Path) -> bool:
    try:
        stat = os.statvfs(path.parent)
    except OSError:
        return False
    return stat.f_bavail * stat.f_frsize < 64 * 1024
