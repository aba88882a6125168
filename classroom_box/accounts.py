"""Teacher accounts and sections seen from outside a running box: the CLI and the start-up banner.

These read the database file directly with the standard `sqlite3` module, because they run before
the event loop exists (`serve` prints its banner first) or in a one-shot command (`teacher list`,
`qr --section`). They only read, and a missing or not yet migrated database reads as empty. This
module must never be called from the running server's event loop (it blocks) and never writes:
writes go through `Store.write()` (`auth.create_teacher`).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

Section = tuple[int, str, str, str]  # (section id, class name, section name, join code)


def _rows(db_path: Path, sql: str) -> list[Any]:
    if not db_path.exists():
        return []
    with sqlite3.connect(db_path) as conn:
        try:
            return list(conn.execute(sql))
        except sqlite3.OperationalError:  # no schema yet: a box that never served
            return []


def teachers_exist(db_path: Path) -> bool:
    return bool(_rows(db_path, "SELECT 1 FROM users LIMIT 1"))


def teachers(db_path: Path) -> list[tuple[int, str, str]]:
    """(id, username, created_at) of every teacher, oldest first."""
    return _rows(db_path, "SELECT id, username, created_at FROM users ORDER BY id")


def sections(db_path: Path) -> list[Section]:
    """Every section with its class name and join code, in creation order."""
    return _rows(db_path, "SELECT s.id, c.name, s.name, s.join_code FROM sections s"
                          " JOIN classes c ON c.id = s.class_id ORDER BY c.id, s.id")
