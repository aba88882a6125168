"""What may a teacher change about a class after creating it? Names, sections, join codes,
students and archiving, each one write transaction that checks ownership first. It owns those
changes and must never delete a student's records (removal keeps the row).

Renames are announced to the section's students as `section_updated` (seq'd, so a student who was
away gets it on replay). A removed student's tokens are deleted (revoked at once everywhere), the
row stays with `removed_at` so past attendance and answers keep their name; the live layer closes
the sockets. Archiving hides a class and refuses new joins; nothing is deleted.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

from classroom_box.domain.classes import Classes, new_join_code
from classroom_box.domain.events import EventLog
from classroom_box.domain.store import Store, Tx
from classroom_box.domain.validation import ApiError, iso, utcnow

CODE_ATTEMPTS = 20  # join code collisions are rare; retry on the UNIQUE constraint


def not_found(what: str) -> ApiError:
    return ApiError(404, "not_found", f"{what} not found")


def not_yours() -> ApiError:
    return ApiError(403, "forbidden", "that class belongs to another teacher")


class Management:
    def __init__(self, store: Store, log: EventLog, classes: Classes) -> None:
        self.store, self.log, self.classes = store, log, classes

    async def _class(self, tx: Tx, teacher_id: int, class_id: int) -> sqlite3.Row:
        row = await tx.one("SELECT id, name, teacher_id FROM classes WHERE id = ?", (class_id,))
        if row is None:
            raise not_found("class")
        if row["teacher_id"] != teacher_id:
            raise not_yours()
        return row

    async def _section(self, tx: Tx, teacher_id: int, section_id: int) -> sqlite3.Row:
        row = await tx.one(
            "SELECT s.id, s.name, s.class_id, c.name AS class_name, c.teacher_id FROM sections s"
            " JOIN classes c ON c.id = s.class_id WHERE s.id = ?", (section_id,))
        if row is None:
            raise not_found("section")
        if row["teacher_id"] != teacher_id:
            raise not_yours()
        return row

    async def _announce(self, tx: Tx, teacher_id: int, section_id: int) -> None:
        row = await tx.one(
            "SELECT s.class_id, s.name, c.name AS class_name FROM sections s"
            " JOIN classes c ON c.id = s.class_id WHERE s.id = ?", (section_id,))
        assert row is not None
        await self.log.append(
            tx, class_id=row["class_id"], section_id=section_id, teacher_id=teacher_id,
            type="section_updated",
            payload={"class_name": row["class_name"], "section_name": row["name"]})

    async def rename_class(self, teacher_id: int, class_id: int, name: str) -> dict[str, Any]:
        async with self.store.write() as tx:
            await self._class(tx, teacher_id, class_id)
            await tx.execute("UPDATE classes SET name = ? WHERE id = ?", (name, class_id))
            for row in await tx.all("SELECT id FROM sections WHERE class_id = ? ORDER BY id",
                                    (class_id,)):
                await self._announce(tx, teacher_id, row["id"])
            return await self.classes.one(tx, class_id)

    async def rename_section(self, teacher_id: int, section_id: int,
                             name: str) -> dict[str, Any]:
        async with self.store.write() as tx:
            section = await self._section(tx, teacher_id, section_id)
            await self._unique_name(tx, section["class_id"], name, section_id)
            await tx.execute("UPDATE sections SET name = ? WHERE id = ?", (name, section_id))
            await self._announce(tx, teacher_id, section_id)
            return self._section_shape(await self.classes.one(tx, section["class_id"]),
                                       section_id)

    async def add_section(self, teacher_id: int, class_id: int, name: str) -> dict[str, Any]:
        async with self.store.write() as tx:
            await self._class(tx, teacher_id, class_id)
            await self._unique_name(tx, class_id, name, None)
            section_id = await self._fresh_code(
                tx, "INSERT INTO sections (class_id, name, join_code) VALUES (?, ?, ?)",
                lambda code: (class_id, name, code))
            return self._section_shape(await self.classes.one(tx, class_id), section_id)

    async def new_join_code(self, teacher_id: int, section_id: int) -> dict[str, Any]:
        """A new code; the old one stops working now. Students already in keep their tokens."""
        async with self.store.write() as tx:
            section = await self._section(tx, teacher_id, section_id)
            await self._fresh_code(tx, "UPDATE sections SET join_code = ? WHERE id = ?",
                                   lambda code: (code, section_id))
            shaped = self._section_shape(await self.classes.one(tx, section["class_id"]),
                                         section_id)
        return {"section_id": section_id, "join_code": shaped["join_code"],
                "join_url": shaped["join_url"]}

    async def _fresh_code(self, tx: Tx, sql: str,
                          params: Callable[[str], tuple[Any, ...]]) -> int:
        """Run `sql` with a new join code in its parameters, retrying on a collision."""
        for _ in range(CODE_ATTEMPTS):
            try:
                cur = await tx.execute(sql, params(new_join_code()))
                return int(cur.lastrowid or 0)
            except sqlite3.IntegrityError as exc:
                if "join_code" not in str(exc):
                    raise
        raise ApiError(503, "busy", "could not allocate a join code, try again")

    @staticmethod
    async def _unique_name(tx: Tx, class_id: int, name: str, section_id: int | None) -> None:
        clash = await tx.one(
            "SELECT id FROM sections WHERE class_id = ? AND name = ? COLLATE NOCASE"
            " AND id IS NOT ?",
            (class_id, name, section_id))
        if clash is not None:
            raise ApiError(409, "conflict", "this class already has a section with that name")

    @staticmethod
    def _section_shape(cls: dict[str, Any], section_id: int) -> dict[str, Any]:
        section = next(s for s in cls["sections"] if s["section_id"] == section_id)
        return {**section, "class_id": cls["class_id"], "class_name": cls["name"]}

    async def set_archived(self, teacher_id: int, class_id: int,
                           archived: bool) -> dict[str, Any]:
        async with self.store.write() as tx:
            await self._class(tx, teacher_id, class_id)
            await tx.execute("UPDATE classes SET archived_at = ? WHERE id = ?",
                             (iso(utcnow()) if archived else None, class_id))
            return await self.classes.one(tx, class_id)

    async def remove_student(self, teacher_id: int, student_id: int) -> None:
        async with self.store.write() as tx:
            row = await tx.one("SELECT section_id, removed_at FROM students WHERE id = ?",
                               (student_id,))
            if row is None or row["removed_at"] is not None:
                raise not_found("student")
            await self._section(tx, teacher_id, row["section_id"])
            await tx.execute("UPDATE students SET removed_at = ? WHERE id = ?",
                             (iso(utcnow()), student_id))
            await tx.execute("DELETE FROM tokens WHERE kind = 'student' AND subject_id = ?",
                             (student_id,))

    async def students(self, teacher_id: int, section_id: int) -> list[dict[str, Any]]:
        """The section's students (not removed) with when they joined and were last seen."""
        async with self.store.read() as tx:
            await self._section(tx, teacher_id, section_id)
            rows = await tx.all(
                "SELECT id AS student_id, name, created_at AS joined_at, last_seen FROM students"
                " WHERE section_id = ? AND removed_at IS NULL ORDER BY name COLLATE NOCASE, id",
                (section_id,))
        return [dict(row) for row in rows]
