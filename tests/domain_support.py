"""A domain without a server: the real Store and EventLog on a real SQLite file, a teacher with
one class (sections A and B), and what got published or notified, for the domain tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from classroom_box.domain.auth import Principal
from classroom_box.domain.classes import Classes
from classroom_box.domain.clock import Clock
from classroom_box.domain.events import Event, EventLog
from classroom_box.domain.questions import Questions
from classroom_box.domain.store import Store


@dataclass
class Domain:
    store: Store
    questions: Questions
    published: list[Event]
    teacher_id: int
    class_id: int
    section_id: int
    other_section_id: int
    notified: list[tuple[str, int]]

    async def student(self, name: str, section_id: int | None = None) -> Principal:
        section = section_id or self.section_id
        student_id, _ = await Classes(self.store, str).add_student(section, name, 1000)
        return Principal("student", student_id, name, "h" * 64, self.class_id, section)

    async def ask(self, kind: str = "single", **extra: Any) -> dict[str, Any]:
        req = {"class_id": self.class_id, "section_id": self.section_id, "kind": kind,
               "prompt": "Which is prime?", **extra}
        if kind in ("single", "multiple") and "options" not in extra:
            req["options"] = ["4", "7", "9"]
        return await self.questions.create(self.teacher_id, req)


@pytest.fixture
async def domain(tmp_path: Path) -> AsyncIterator[Domain]:
    store = Store(tmp_path / "box.db")
    await store.open()
    published: list[Event] = []
    log = EventLog(store, Clock(), publish=published.append)
    notified: list[tuple[str, int]] = []
    questions = Questions(store, log,
                          notify=lambda kind, ident: notified.append((kind, ident)))
    async with store.write() as tx:
        cur = await tx.execute("INSERT INTO users (username, password_hash, created_at)"
                               " VALUES ('t', 'x', 'now')")
        teacher_id = int(cur.lastrowid or 0)
    created = await Classes(store, str).create(teacher_id, "Math", ["A", "B"])
    a, b = created["sections"]
    try:
        yield Domain(store, questions, published, teacher_id, created["class_id"],
                     a["section_id"], b["section_id"], notified)
    finally:
        await store.close()
