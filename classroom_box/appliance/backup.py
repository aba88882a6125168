"""`classroom-box backup PATH` / `restore PATH`: consistent copies of the SQLite database.
It must never run on the server's event loop (it blocks), and restore never while the box serves.

Backup uses SQLite's online backup API in one step, i.e. one read transaction: in WAL mode that is
a consistent snapshot that never blocks the running box's writers. The copy is switched to a
rollback journal so it is one self-contained file, checked with `PRAGMA integrity_check`, and
renamed into place only when complete. Both are blocking: run them from the CLI, not the server.

Restore replaces the database file, so it refuses while the box is serving (the serve lock, see
lock.py) and holds that lock itself meanwhile so the box cannot start half-way through.
"""

from __future__ import annotations

import os
import sqlite3
import time
from contextlib import closing
from pathlib import Path

from classroom_box.appliance.lock import AlreadyServing, ServeLock, is_serving

__all__ = ["AlreadyServing", "BackupError", "ServeLock", "backup_database", "is_serving",
           "restore_database"]


class BackupError(RuntimeError):
    """The source or the copy is unusable; the message says why."""


def _integrity(conn: sqlite3.Connection, what: Path) -> None:
    result = [row[0] for row in conn.execute("PRAGMA integrity_check")]
    if result != ["ok"]:
        raise BackupError(f"{what} failed the integrity check: {'; '.join(result[:5])}")


def _copy(src_path: Path, tmp: Path) -> None:
    """SQLite backup src -> tmp (one step), then make tmp a self-contained, checked file."""
    tmp.unlink(missing_ok=True)
    try:
        src = sqlite3.connect(f"file:{src_path}?mode=ro", uri=True, timeout=30)
    except sqlite3.Error as exc:
        raise BackupError(f"cannot open {src_path}: {exc}") from exc
    with closing(src), closing(sqlite3.connect(tmp)) as dst:
        try:
            src.backup(dst)  # pages=-1: one read transaction = one consistent snapshot
        except sqlite3.DatabaseError as exc:
            raise BackupError(f"cannot read {src_path}: {exc}") from exc
        dst.execute("PRAGMA journal_mode=DELETE")
        _integrity(dst, tmp)
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())


def backup_database(db_path: Path, dest: Path) -> Path:
    """Copy the live database at `db_path` to `dest` and return the file written.

    `dest` may be a directory (a `classroom-box-YYYYmmdd-HHMMSS.db` file is created in it). An
    existing file is replaced only once the new copy is complete and checked.
    """
    db_path, dest = Path(db_path), Path(dest)
    if not db_path.is_file():
        raise BackupError(f"no database at {db_path}")
    if dest.is_dir():
        dest = dest / time.strftime("classroom-box-%Y%m%d-%H%M%S.db")
    if dest.resolve() == db_path.resolve():
        raise BackupError("the backup destination is the live database itself")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.partial-{os.getpid()}")
    try:
        _copy(db_path, tmp)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def _match_owner(path: Path, like: Path) -> None:
    """Give `path` the owner of `like`: as root, restoring for a DynamicUser service must not
    leave a root-owned database the service cannot write."""
    if os.geteuid() != 0:
        return
    st = like.stat()
    os.chown(path, st.st_uid, st.st_gid)


def restore_database(backup: Path, db_path: Path, data_dir: Path | None = None) -> Path | None:
    """Replace the database at `db_path` with the backup file `backup`.

    Raises AlreadyServing while the box serves from `data_dir` (default: the database's
    directory), BackupError if the backup is unusable. The previous database, with its -wal and
    -shm files, is moved aside to `<db>.pre-restore-<time>`; that path is returned (None if there
    was no database).
    """
    backup, db_path = Path(backup), Path(db_path)
    data_dir = Path(data_dir) if data_dir is not None else db_path.parent
    if not backup.is_file():
        raise BackupError(f"no backup file at {backup}")
    with ServeLock(data_dir):  # raises AlreadyServing with a clear message
        tmp = db_path.with_name(f".{db_path.name}.restore-{os.getpid()}")
        try:
            _copy(backup, tmp)
            _match_owner(tmp, data_dir)
            stamp = time.strftime("%Y%m%d-%H%M%S")
            aside = db_path.with_name(f"{db_path.name}.pre-restore-{stamp}")
            moved = None
            # A -wal left by a crashed server belongs to the old database: never let SQLite
            # replay it into the restored one.
            for suffix in ("", "-wal", "-shm"):
                old = db_path.with_name(db_path.name + suffix)
                if old.exists():
                    old.replace(aside.with_name(aside.name + suffix))
                    moved = moved or aside
            os.replace(tmp, db_path)
        finally:
            tmp.unlink(missing_ok=True)
    return moved
