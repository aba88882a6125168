"""Online backup under concurrent WAL writes, restore guarded by the serve lock."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import pytest

from classroom_box.appliance.backup import (
    AlreadyServing,
    BackupError,
    ServeLock,
    backup_database,
    is_serving,
    restore_database,
)

# A writer that keeps an invariant across tables in every transaction: a torn copy would break it.
WRITER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
conn.execute("PRAGMA journal_mode=WAL")
conn.execute("CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY, body TEXT)")
conn.execute("CREATE TABLE IF NOT EXISTS total (n INTEGER)")
if conn.execute("SELECT count(*) FROM total").fetchone()[0] == 0:
    conn.execute("INSERT INTO total VALUES (0)")
print("ready", flush=True)
i = 0
while True:
    i += 1
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany("INSERT INTO items (body) VALUES (?)", [("x" * 200,)] * 20)
    conn.execute("UPDATE total SET n = n + 20")
    conn.execute("COMMIT")
"""


def _count(db: Path) -> tuple[int, int]:
    with closing(sqlite3.connect(db)) as conn:
        items = conn.execute("SELECT count(*) FROM items").fetchone()[0]
        total = conn.execute("SELECT n FROM total").fetchone()[0]
    return items, total


def _make_db(path: Path, rows: int) -> None:
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, body TEXT)")
        conn.execute("CREATE TABLE total (n INTEGER)")
        conn.executemany("INSERT INTO items (body) VALUES (?)", [("r",)] * rows)
        conn.execute("INSERT INTO total VALUES (?)", (rows,))
        conn.commit()


def test_backup_is_consistent_while_another_process_writes(tmp_path: Path) -> None:
    db = tmp_path / "data" / "classroom-box.db"
    db.parent.mkdir()
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(db)], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert writer.stdout is not None and writer.stdout.readline().strip() == "ready"
        time.sleep(0.2)
        assert (db.parent / "classroom-box.db-wal").exists()  # really in WAL mode
        seen = []
        for i in range(5):
            copy = backup_database(db, tmp_path / f"copy{i}.db")
            with closing(sqlite3.connect(copy)) as conn:
                assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
                assert conn.execute("PRAGMA journal_mode").fetchone() == ("delete",)
            items, total = _count(copy)
            assert items == total > 0  # a snapshot of whole transactions only
            seen.append(items)
            time.sleep(0.05)
        assert writer.poll() is None, "the writer must keep running during backups"
        assert seen == sorted(seen) and seen[-1] > seen[0]  # writes went on meanwhile
        assert not list(tmp_path.glob(".*partial*"))
        assert not (tmp_path / "copy0.db-wal").exists()  # self-contained file
    finally:
        writer.kill()
        writer.wait()


def test_backup_into_directory_and_refusals(tmp_path: Path) -> None:
    db = tmp_path / "classroom-box.db"
    _make_db(db, 3)
    out_dir = tmp_path / "backups"
    out_dir.mkdir()
    written = backup_database(db, out_dir)
    assert written.parent == out_dir and written.name.startswith("classroom-box-")
    assert _count(written) == (3, 3)
    with pytest.raises(BackupError, match="live database"):
        backup_database(db, db)
    with pytest.raises(BackupError, match="no database"):
        backup_database(tmp_path / "missing.db", tmp_path / "x.db")
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not sqlite at all" * 100)
    with pytest.raises(BackupError):
        backup_database(junk, tmp_path / "y.db")
    assert not (tmp_path / "y.db").exists()


def test_serve_lock_is_exclusive(tmp_path: Path) -> None:
    assert is_serving(tmp_path) is False
    with ServeLock(tmp_path) as lock:
        assert lock.held and is_serving(tmp_path)
        with pytest.raises(AlreadyServing, match="already serving"):
            ServeLock(tmp_path).acquire()
    assert is_serving(tmp_path) is False
    with ServeLock(tmp_path):  # reusable after release
        pass


HOLDER = """
import sys, time
from classroom_box.appliance.lock import ServeLock
with ServeLock(sys.argv[1]):
    print("locked", flush=True)
    sys.stdin.readline()
"""


def test_restore_refuses_while_serving_then_restores(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    db = data / "classroom-box.db"
    _make_db(db, 5)
    backup = backup_database(db, tmp_path / "backup.db")
    with closing(sqlite3.connect(db)) as conn:  # the box goes on after the backup
        conn.execute("INSERT INTO items (body) VALUES ('later')")
        conn.commit()

    repo = Path(__file__).resolve().parents[2]
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(data)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, cwd=repo)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        assert is_serving(data)
        with pytest.raises(AlreadyServing, match=f"pid {holder.pid}"):
            restore_database(backup, db)
        assert _count(db) == (6, 5)  # untouched
    finally:
        assert holder.stdin is not None
        holder.stdin.write("\n")
        holder.stdin.close()
        holder.wait(timeout=10)

    aside = restore_database(backup, db)
    assert _count(db) == (5, 5)
    assert aside is not None and _count(aside) == (6, 5)
    assert not is_serving(data)
    with pytest.raises(BackupError, match="no backup"):
        restore_database(tmp_path / "nope.db", db)
