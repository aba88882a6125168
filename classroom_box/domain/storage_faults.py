"""What the box does when its storage fails: full, read-only, or damaged.
It owns the one mapping of those faults to an answer (HTTP and the socket alike) and a log line,
and what to tell whoever looks after the box; it must never let one become a traceback per
request, silence on the socket, or a box that systemd restarts forever.

An SD card that lost power in the middle of a write can leave pages SQLite cannot read
(SQLITE_CORRUPT) or a file that is no longer a database at all (SQLITE_NOTADB). Neither goes away
by retrying or restarting; only a backup helps. So the box says that, in one plain message,
instead of a traceback per start (and systemd restarting it forever) or a 500 per request.
"""

from __future__ import annotations

import errno
import logging
import sqlite3
from pathlib import Path

from classroom_box.domain.diskfull import storage_full
from classroom_box.domain.ratelimit import RateLimitedWarning
from classroom_box.domain.validation import ApiError

EXIT_DAMAGED = 65  # sysexits' EX_DATAERR; the unit does not restart the box on it
EXIT_FULL = 75  # EX_TEMPFAIL: the unit restarts the box, which starts once there is room
EXIT_READ_ONLY = 74  # EX_IOERR; not restarted either: someone has to look at the card
log = logging.getLogger(__name__)
DAMAGED = RateLimitedWarning(log, level=logging.ERROR)


def database_damaged(exc: BaseException) -> bool:
    """Whether `exc` is SQLite finding the file damaged (not locked, not full, not busy)."""
    return _sqlite_code(exc) in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)


def _sqlite_code(exc: BaseException) -> int | None:
    """SQLite's primary result code behind `exc` (extended codes carry it in the low byte)."""
    code = getattr(exc, "sqlite_errorcode", None) if isinstance(exc, sqlite3.Error) else None
    return code & 0xFF if isinstance(code, int) else None


def damage_advice(db_path: Path, cause: BaseException) -> str:
    return (f"the database {db_path} is damaged ({cause}); the box cannot use it, and"
            f" restarting will not help. Restore your newest backup with `classroom-box restore"
            f" BACKUP --data-dir {db_path.parent}` (the damaged file is kept beside it), or, with"
            f" no backup, move {db_path} aside to start an empty box.")


def startup_refusal(exc: BaseException, db_path: Path) -> tuple[str, int] | None:
    """What `serve` says, and its exit status, when the storage keeps it from starting."""
    if database_damaged(exc):
        return damage_advice(db_path, exc), EXIT_DAMAGED
    if storage_full(exc, db_path) is not None:
        return (f"the disk holding {db_path.parent} is full ({exc}); the box needs a little"
                " free space to open its database. Free some and it starts (under systemd, by"
                " itself: it keeps retrying)."), EXIT_FULL
    if _read_only(exc):
        return (f"the box cannot write to {db_path} ({exc}). Either the filesystem holding it"
                " is read-only (the kernel remounts an SD card that reports errors read-only:"
                " back up the database with `classroom-box backup`, check or replace the card)"
                " or the file is not the box's to write (check its owner)."), EXIT_READ_ONLY
    return None


def _read_only(exc: BaseException) -> bool:
    if isinstance(exc, OSError):
        return exc.errno == errno.EROFS
    return _sqlite_code(exc) == sqlite3.SQLITE_READONLY


def check_readable(db_path: Path) -> None:
    """Read the schema, as every start does first (raises sqlite3.DatabaseError if it can't).

    Only the schema, not a whole `quick_check`: that reads every page (seconds from an SD
    card at each start), and a box with one bad page in last term's records still serves
    today's lesson; a request that meets the bad page is answered 503 (web/hooks.py)."""
    if not db_path.exists():
        return  # a first start: the store creates it
    conn = sqlite3.connect(db_path)
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    finally:
        conn.close()


def storage_refusal(exc: BaseException, db_path: Path, what: str) -> ApiError | None:
    """The answer, for HTTP and the socket alike, when the storage refused `what` (a request or
    an event), said in the log without a traceback; None if `exc` is something else.

    A full disk is 507 `disk_full` (space may come back), a line per refusal; a damaged
    database is 503 `storage_damaged` (only a restore helps), a line per 10 s at most, since
    then every request of the class meets it."""
    full = storage_full(exc, db_path)
    if full is not None:
        log.warning("%s refused: storage full", what)
        return ApiError(507, "disk_full", str(full))
    if database_damaged(exc):
        DAMAGED.warn(f"{what} failed: {damage_advice(db_path, exc)}")
        return ApiError(503, "storage_damaged", "the box's database is damaged: nothing was"
                        " saved; ask whoever looks after the box to restore a backup")
    return None


def log_write_failure(logger: logging.Logger, exc: BaseException, path: Path,
                      what: str) -> None:
    """For a background write that will be retried (timers, the pruner, attendance): a line
    while the disk is full or the database damaged, a traceback for anything else."""
    if storage_full(exc, path) is not None:
        logger.warning("%s waits: storage full", what)
    elif database_damaged(exc):
        DAMAGED.warn(f"{what} failed: {damage_advice(path, exc)}")
    else:
        logger.exception("%s failed; retrying", what)
