"""Who is online, per section, and the teacher's debounced `student_count` announcement.

Owns the in-memory count of open sockets per student (two tabs count once) and the coalescing of
roster updates. Presence is not an event: it is never logged or replayed (a teacher's page asks
for the roster after a reconnect). It must never hold a student after their last socket closed.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import socketio

from classroom_box.domain.classes import Classes
from classroom_box.domain.events import teacher_room
from classroom_box.live.background import BackgroundTasks

COUNT_DEBOUNCE = 0.25  # seconds: how stale a teacher's online count may be


@dataclass
class Presence:
    """Who is online, per section: student id -> number of open sockets (two tabs count once)."""

    sockets: dict[int, dict[int, int]] = field(default_factory=lambda: defaultdict(dict))
    names: dict[int, str] = field(default_factory=dict)

    def add(self, section_id: int, student_id: int, name: str) -> bool:
        counts = self.sockets[section_id]
        counts[student_id] = counts.get(student_id, 0) + 1
        self.names[student_id] = name
        return counts[student_id] == 1

    def remove(self, section_id: int, student_id: int) -> bool:
        counts = self.sockets[section_id]
        counts[student_id] = counts.get(student_id, 1) - 1
        if counts[student_id] <= 0:
            del counts[student_id]
            return True
        return False

    def roster(self, section_id: int) -> list[dict[str, Any]]:
        ids = sorted(self.sockets.get(section_id, {}))
        return [{"id": i, "name": self.names.get(i, "")} for i in ids]


class RosterAnnouncer:
    """Tells the owning teacher who is online, at most once per `COUNT_DEBOUNCE` per section."""

    def __init__(self, presence: Presence, classes: Classes, sio: socketio.AsyncServer,
                 background: BackgroundTasks) -> None:
        self.presence, self.classes, self.sio = presence, classes, sio
        self.background = background  # an announcement still waiting must not outlive the store
        self._due: set[int] = set()

    def changed(self, class_id: int, section_id: int) -> None:
        """Coalesce: a class of 30 arriving at once is one roster update, not 30 growing ones.

        (Each update carries the whole roster; sending one per connect made a reconnect storm
        of N students cost O(N^2).)
        """
        if section_id in self._due or self.background.stopped:
            return
        self._due.add(section_id)
        self.background.spawn(self._announce(class_id, section_id))

    async def _announce(self, class_id: int, section_id: int) -> None:
        await asyncio.sleep(COUNT_DEBOUNCE)
        self._due.discard(section_id)
        section = await self.classes.section(section_id)
        if section is None:
            return
        roster = self.presence.roster(section_id)
        await self.sio.emit(
            "student_count",
            {"class_id": class_id, "section_id": section_id, "count": len(roster),
             "students": roster},
            room=teacher_room(section["teacher_id"]),
        )
