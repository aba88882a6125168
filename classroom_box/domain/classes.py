"""Classes, sections and join codes: how a teacher's class is set up and how a student gets in.

It must never hand out a join code twice; writes go through the store's one writer.
"""

from __future__ import annotations

import secrets
import sqlite3
from datetime import timedelta
from typing import Any

from classroom_box.domain.applied import SyncTx
from classroom_box.domain.store import Store, Tx
from classroom_box.domain.validation import JOIN_ALPHABET, ApiError, iso, utcnow

JOIN_CODE_LENGTH = 6  # 31**6 ~ 887 million codes; join attempts are throttled on top


def new_join_code() -> str:
    return "".join(secrets.choice(JOIN_ALPHABET) for _ in range(JOIN_CODE_LENGTH))


class Classes:
    def __init__(self, store: Store, join_url: Any) -> None:
        self.store = store
        self.join_url = join_url  # callable(code) -> URL, so the LAN address is decided once

    async def create(self, teacher_id: int, name: str, sections: list[str]) -> dict[str, Any]:
        async with self.store.write() as tx:
            cur = await tx.execute(
                "INSERT INTO classes (teacher_id, name, created_at) VALUES (?, ?, ?)",
                (teacher_id, name, iso(utcnow())),
            )
            class_id = int(cur.lastrowid or 0)
            for section in sections:
                await self._add_section(tx, class_id, section)
            rows = await tx.all(self._select("c.id = ?"), (class_id,))
        return self._shape(rows)[0]

    async def _add_section(self, tx: Tx, class_id: int, name: str) -> None:
        for _ in range(20):  # collisions are rare; retry on the UNIQUE constraint
            try:
                await tx.execute(
                    "INSERT INTO sections (class_id, name, join_code) VALUES (?, ?, ?)",
                    (class_id, name, new_join_code()),
                )
                return
            except sqlite3.IntegrityError:
                continue
        raise ApiError(503, "busy", "could not allocate a join code, try again")

    @staticmethod
    def _select(where: str) -> str:
        return (
            "SELECT c.id AS class_id, c.name AS class_name, c.archived_at, s.id AS section_id,"
            " s.name, s.join_code FROM classes c JOIN sections s ON s.class_id = c.id"
            f" WHERE {where} ORDER BY c.id, s.id"
        )

    def _shape(self, rows: list[sqlite3.Row]) -> list[dict[str, Any]]:
        classes: dict[int, dict[str, Any]] = {}
        for row in rows:
            entry = classes.setdefault(
                row["class_id"],
                {"class_id": row["class_id"], "name": row["class_name"],
                 "archived": row["archived_at"] is not None, "sections": []},
            )
            entry["sections"].append({
                "section_id": row["section_id"], "name": row["name"],
                "join_code": row["join_code"], "join_url": self.join_url(row["join_code"]),
            })
        return list(classes.values())

    async def of_teacher(self, teacher_id: int, archived: bool = False) -> list[dict[str, Any]]:
        """The teacher's classes; archived ones only when asked for."""
        where = "c.teacher_id = ?" + ("" if archived else " AND c.archived_at IS NULL")
        return self._shape(await self.store.all(self._select(where), (teacher_id,)))

    async def one(self, tx: Tx, class_id: int) -> dict[str, Any]:
        """One class as the API shows it, read in the caller's transaction."""
        return self._shape(await tx.all(self._select("c.id = ?"), (class_id,)))[0]

    async def section(self, section_id: int) -> sqlite3.Row | None:
        return await self.store.one(
            "SELECT s.id, s.name, s.class_id, s.join_code, c.name AS class_name, c.teacher_id"
            " FROM sections s JOIN classes c ON c.id = s.class_id WHERE s.id = ?",
            (section_id,),
        )

    async def by_code(self, code: str) -> sqlite3.Row | None:
        return await self.store.one(
            "SELECT s.id, s.name, s.class_id, c.name AS class_name, c.teacher_id, c.archived_at"
            " FROM sections s JOIN classes c ON c.id = s.class_id WHERE s.join_code = ?",
            (code,),
        )

    async def teacher_sections(self, teacher_id: int) -> list[tuple[int, int]]:
        rows = await self.store.all(
            "SELECT s.class_id, s.id FROM sections s JOIN classes c ON c.id = s.class_id"
            " WHERE c.teacher_id = ?",
            (teacher_id,),
        )
        return [(r[0], r[1]) for r in rows]

    async def add_student(self, section_id: int, name: str, limit: int) -> tuple[int, str]:
        """A new student, under a name no classmate has (a second "Emma Stone" becomes
        "Emma Stone (2)"); refused once the section has `limit` students."""
        return await self.store.apply(lambda tx: _add_student(tx, section_id, name, limit))

    async def rename_student(self, student_id: int, name: str) -> str:
        """The student's name after the rename (made distinct like in `add_student`)."""
        async with self.store.write() as tx:
            row = await tx.one("SELECT section_id, name FROM students WHERE id = ?",
                               (student_id,))
            if row is None or row["name"] == name:
                return name
            others = await self._names(tx, row["section_id"], besides=student_id)
            name = distinct_name(name, others)
            await tx.execute("UPDATE students SET name = ? WHERE id = ?", (name, student_id))
            return name

    @staticmethod
    async def _names(tx: Tx, section_id: int, besides: int = 0) -> set[str]:
        return _casefolded(await tx.all(NAMES, (section_id, besides)))

    async def mark_seen(self, student_id: int) -> None:
        """A student's first connection: from now on they are not removed as never seen."""
        def seen(tx: SyncTx) -> None:
            tx.execute("UPDATE students SET seen_at = ? WHERE id = ? AND seen_at IS NULL",
                       (iso(utcnow()), student_id))
        await self.store.apply(seen)

    async def remove_unconnected(self, older_than: float) -> int:
        """Students who joined more than `older_than` seconds ago and never connected: a join
        flood's rows, or a phone that never came back. Their tokens go with them."""
        cutoff = iso(utcnow() - timedelta(seconds=older_than))
        # A student who answered, asked, raised a hand or gave a pulse (over HTTP only, say) has
        # been seen: those rows are part of the class's record and must not vanish with them.
        stale = ("SELECT id FROM students WHERE seen_at IS NULL AND created_at < ?"
                 " AND id NOT IN (SELECT student_id FROM answers)"
                 " AND id NOT IN (SELECT student_id FROM asks)"
                 " AND id NOT IN (SELECT student_id FROM hands)"
                 " AND id NOT IN (SELECT student_id FROM pulses)")
        async with self.store.write() as tx:
            await tx.execute(f"DELETE FROM tokens WHERE kind = 'student' AND subject_id IN"
                             f" ({stale})", (cutoff,))
            cur = await tx.execute(f"DELETE FROM students WHERE id IN ({stale})", (cutoff,))
            return int(cur.rowcount or 0)


# Removed students (issue 14) keep their row for the records, not their name or place.
NAMES = ("SELECT name FROM students WHERE section_id = ? AND id != ? AND removed_at IS NULL")


def _casefolded(rows: list[sqlite3.Row]) -> set[str]:
    return {str(r[0]).casefold() for r in rows}


def _add_student(tx: SyncTx, section_id: int, name: str, limit: int) -> tuple[int, str]:
    """In the writer's thread: a join storm is one trip per batch, not three per join."""
    names = _casefolded(tx.all(NAMES, (section_id, 0)))
    if len(names) >= limit:
        raise ApiError(409, "section_full", "this class is full; ask your teacher")
    name = distinct_name(name, names)
    cur = tx.execute("INSERT INTO students (section_id, name, created_at) VALUES (?, ?, ?)",
                     (section_id, name, iso(utcnow())))
    return int(cur.lastrowid or 0), name


def distinct_name(name: str, taken: set[str]) -> str:
    """`name`, or `name (2)`, `name (3)` ... whichever no classmate has (case-insensitive)."""
    candidate, number = name, 1
    while candidate.casefold() in taken:
        number += 1
        candidate = f"{name} ({number})"
    return candidate
