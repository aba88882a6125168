"""Teacher accounts: what IT does to them from the command line, and what is read before serving.

Owns the account operations (unlock after a lock-out, new password, removal; they write through
`Store.write()`) and the read-only queries the CLI and the start-up banner need (teachers,
sections), which read the database file directly with `sqlite3` because they run before the
event loop exists. It must never be called from the serving box's event loop with the sync
queries (they block), and never write outside `Store.write()`.

The running box keeps failed-login counts in memory; `unlock` and `set_password` bump the
account's `unlocks` counter in the database, and the box forgets that account's failures the next
time anyone tries to log in to it (`ratelimit.LoginThrottle`). No IPC with the serving process is
needed, so the commands work the same whether the box is running or not.
"""

from __future__ import annotations

import secrets
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from classroom_box.domain.auth import hash_password
from classroom_box.domain.store import Store

Section = tuple[int, str, str, str]  # (section id, class name, section name, join code)


class AccountError(Exception):
    """Something IT asked for cannot be done; the message says why."""


async def unlocks(store: Store, username: str) -> int | None:
    """The account's unlock counter, or None when there is no such teacher."""
    row = await store.one("SELECT unlocks FROM users WHERE username = ?", (username,))
    return int(row[0]) if row else None


async def unlock(store: Store, username: str) -> None:
    async with store.write() as tx:
        cur = await tx.execute(
            "UPDATE users SET unlocks = unlocks + 1 WHERE username = ?", (username,))
        if cur.rowcount != 1:
            raise AccountError(f"no teacher named {username!r}")


async def set_password(store: Store, username: str, password: str) -> None:
    """New password; the teacher's logins end and the account is unlocked."""
    hashed = await hash_password(password)
    async with store.write() as tx:
        row = await tx.one("SELECT id FROM users WHERE username = ?", (username,))
        if row is None:
            raise AccountError(f"no teacher named {username!r}")
        await tx.execute("UPDATE users SET password_hash = ?, unlocks = unlocks + 1 WHERE id = ?",
                         (hashed, row[0]))
        await tx.execute("DELETE FROM tokens WHERE kind = 'teacher' AND subject_id = ?",
                         (row[0],))


CLASS_ROWS = (  # what a removed teacher's classes leave behind, children first
    "DELETE FROM attendance WHERE session_id IN (SELECT id FROM lecture_sessions"
    " WHERE teacher_id = ?)",
    "DELETE FROM answers WHERE question_id IN (SELECT id FROM questions WHERE teacher_id = ?)",
    "DELETE FROM questions WHERE teacher_id = ?",
    *(f"DELETE FROM {table} WHERE {column} IN (SELECT {pick} WHERE c.teacher_id = ?)"
      for table, column, pick in (
          ("asks", "section_id", "se.id FROM sections se JOIN classes c ON c.id = se.class_id"),
          ("hands", "section_id", "se.id FROM sections se JOIN classes c ON c.id = se.class_id"),
          ("pulses", "section_id", "se.id FROM sections se JOIN classes c ON c.id = se.class_id"),
          ("idempotency_keys", "student_id", "st.id FROM students st JOIN sections se"
           " ON se.id = st.section_id JOIN classes c ON c.id = se.class_id"))),
    "DELETE FROM tokens WHERE kind = 'student' AND subject_id IN (SELECT st.id FROM students st"
    " JOIN sections se ON se.id = st.section_id JOIN classes c ON c.id = se.class_id"
    " WHERE c.teacher_id = ?)",
    "DELETE FROM students WHERE section_id IN (SELECT se.id FROM sections se"
    " JOIN classes c ON c.id = se.class_id WHERE c.teacher_id = ?)",
    "DELETE FROM lecture_sessions WHERE teacher_id = ?",
    "DELETE FROM scheduled_lectures WHERE teacher_id = ?",
    "DELETE FROM events WHERE teacher_id = ?",
    "DELETE FROM sections WHERE class_id IN (SELECT id FROM classes WHERE teacher_id = ?)",
    "DELETE FROM classes WHERE teacher_id = ?",
)


async def remove_teacher(store: Store, username: str, with_classes: bool) -> int:
    """Delete the account and its logins; returns how many classes went with it.

    A teacher who still has classes is only removed with `with_classes` (their classes,
    sections, students and lecture history go too): removal must not orphan a class silently.
    """
    async with store.write() as tx:
        row = await tx.one("SELECT id FROM users WHERE username = ?", (username,))
        if row is None:
            raise AccountError(f"no teacher named {username!r}")
        teacher = (row[0],)
        owned = await tx.one("SELECT COUNT(*) FROM classes WHERE teacher_id = ?", teacher)
        classes = int(owned[0]) if owned else 0
        if classes and not with_classes:
            raise AccountError(f"{username!r} still has {classes} class(es); add"
                               " --with-classes to remove them too")
        for statement in CLASS_ROWS:
            await tx.execute(statement, teacher)
        await tx.execute("DELETE FROM tokens WHERE kind = 'teacher' AND subject_id = ?", teacher)
        await tx.execute("DELETE FROM users WHERE id = ?", teacher)
        return classes


@dataclass
class SetupToken:
    """The one-time link for creating the first teacher; forgotten once used."""

    value: str | None = field(default_factory=lambda: secrets.token_urlsafe(24))

    def check(self, token: str) -> bool:
        return self.value is not None and secrets.compare_digest(self.value, token)

    def consume(self) -> None:
        self.value = None

    def take(self, token: str) -> str | None:
        """Check and consume in one step (no await between): of concurrent requests with the
        right token exactly one gets it (issue 15: five created five teachers). Returns the
        token for `give_back` if creating the teacher then fails."""
        if not self.check(token):
            return None
        taken, self.value = self.value, None
        return taken

    def give_back(self, taken: str) -> None:
        self.value = taken


# --- read before serving: plain sqlite3, no event loop yet -----------------------------------

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
