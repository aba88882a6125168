"""Teacher accounts as IT manages them: unlock after a lock-out, new password, removal.

The running box keeps failed-login counts in memory; `unlock` and `set_password` bump the
account's `unlocks` counter in the database, and the box forgets that account's failures the next
time anyone tries to log in to it (`ratelimit.LoginThrottle`). No IPC with the serving process is
needed, so the commands work the same whether the box is running or not.
"""

from __future__ import annotations

from classroom_box.auth import hash_password
from classroom_box.store import Store


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
    """New password; the teacher's sessions end and the account is unlocked."""
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
    """Delete the account and its sessions; returns how many classes went with it.

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
