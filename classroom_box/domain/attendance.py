"""Who was there? Attendance recorded from presence, as intervals per student and lecture.
It owns the attendance table's writes and must never block the publisher or the event loop,
nor import the live layer (presence is reported to it).

The live layer reports each student's first socket opening and last socket closing (two tabs are
one student) through `presence()`; committed lecture events arrive through `observe()`. Both only
queue a change with the moment it happened: one writer task applies the queue in order, in one
transaction per batch, so a class of thirty reconnecting at once costs one fsync, not thirty, and
nothing here blocks the event loop or the publisher.

Durability: every open interval carries `last_seen`, the newest moment the box knew the student
was there, advanced every `HEARTBEAT` seconds. A box that dies (power cut, kill -9) leaves open
intervals behind; `recover()` at the next start closes them at their `last_seen`, not at the
restart time, so a student is never credited with the hours the box was off.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from dataclasses import dataclass

from classroom_box.domain.clock import shift_by, shifted
from classroom_box.domain.events import Event
from classroom_box.domain.storage_faults import log_write_failure
from classroom_box.domain.store import Store, Tx
from classroom_box.domain.validation import iso, utcnow

log = logging.getLogger(__name__)
HEARTBEAT = 15.0  # seconds: how much presence a crash may cost, against one fsync per beat
RETRY = 5.0  # seconds before a failed batch (disk full) is written again

OPEN_INTERVAL = (
    "INSERT INTO attendance (session_id, student_id, joined_at, last_seen)"
    " SELECT l.id, ?, ?, ? FROM lecture_sessions l WHERE {where} AND l.status = 'live'"
    " AND NOT EXISTS (SELECT 1 FROM attendance a WHERE a.session_id = l.id"
    " AND a.student_id = ? AND a.left_at IS NULL)"
)


async def shift_open_intervals(tx: Tx, seconds: float) -> None:
    """The wall clock jumped: open intervals move with it, so a student who connects after the
    jump is compared with the lecture in the same frame (closed intervals stay as measured)."""
    await tx.execute(f"UPDATE attendance SET joined_at = {shifted('joined_at')},"
                     f" last_seen = {shifted('last_seen')} WHERE left_at IS NULL",
                     (shift_by(seconds), shift_by(seconds)))


@dataclass(frozen=True)
class Change:
    """One thing to write: `kind` is online, offline, started, ended or beat."""

    kind: str
    at: str
    student_id: int = 0
    section_id: int = 0
    session_id: int = 0
    students: tuple[int, ...] = ()


class AttendanceRecorder:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.online: dict[int, set[int]] = defaultdict(set)  # section id -> student ids
        self.pending: list[Change] = []
        self._wake = asyncio.Event()
        self._flushing = asyncio.Lock()  # a flush() returns only once earlier batches are written
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.recover()
        self._task = asyncio.create_task(self._run(), name="attendance-writer")

    async def recover(self) -> None:
        """Close what a crash left open, at the last moment each student was known present."""
        async with self.store.write() as tx:
            cur = await tx.execute(
                "UPDATE attendance SET left_at = last_seen WHERE left_at IS NULL")
        if cur.rowcount:
            log.info("closed %d attendance intervals left open by the last run", cur.rowcount)

    def presence(self, section_id: int, student_id: int, online: bool) -> None:
        """The live layer's report: a student's first socket opened, or its last one closed."""
        if online:
            self.online[section_id].add(student_id)
        else:
            self.online[section_id].discard(student_id)
            if not self.online[section_id]:
                del self.online[section_id]
        self._queue(Change("online" if online else "offline", iso(utcnow()),
                           student_id=student_id, section_id=section_id))

    def observe(self, event: Event) -> None:
        """A publisher: a lecture that starts opens intervals for those already online."""
        lecture = event.payload.get("lecture")
        if not isinstance(lecture, dict):
            return
        if event.type == "lecture_started":
            section = int(lecture["section_id"])
            self._queue(Change("started", lecture["start_time"], section_id=section,
                               session_id=int(lecture["session_id"]),
                               students=tuple(sorted(self.online.get(section, ())))))
        elif event.type == "lecture_ended":
            self._queue(Change("ended", lecture["end_time"],
                               session_id=int(lecture["session_id"])))

    def _queue(self, change: Change) -> None:
        self.pending.append(change)
        self._wake.set()

    async def _run(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), HEARTBEAT)
            except TimeoutError:
                if self.online:
                    self._queue(Change("beat", iso(utcnow())))
            self._wake.clear()
            try:
                await self.flush()
            except Exception as exc:
                log_write_failure(log, exc, self.store.path, "writing attendance")
                await asyncio.sleep(RETRY)
                self._wake.set()

    async def flush(self) -> None:
        """Write everything queued, in order, in one transaction; on failure keep it queued."""
        async with self._flushing:
            batch, self.pending = self.pending, []
            if not batch:
                return
            try:
                async with self.store.write() as tx:
                    for change in batch:
                        await self._apply(tx, change)
            except BaseException:
                self.pending[:0] = batch
                raise

    async def _apply(self, tx: Tx, c: Change) -> None:
        if c.kind == "online":
            await tx.execute("UPDATE students SET last_seen = ? WHERE id = ?",
                             (c.at, c.student_id))
            await tx.execute(OPEN_INTERVAL.format(where="l.section_id = ?"),
                             (c.student_id, c.at, c.at, c.section_id, c.student_id))
        elif c.kind == "offline":
            await tx.execute("UPDATE students SET last_seen = ? WHERE id = ?",
                             (c.at, c.student_id))
            await tx.execute("UPDATE attendance SET left_at = ?, last_seen = ?"
                             " WHERE student_id = ? AND left_at IS NULL",
                             (c.at, c.at, c.student_id))
        elif c.kind == "started":
            for student in c.students:
                await tx.execute(OPEN_INTERVAL.format(where="l.id = ?"),
                                 (student, c.at, c.at, c.session_id, student))
        elif c.kind == "ended":
            await tx.execute("UPDATE attendance SET left_at = ?, last_seen = ?"
                             " WHERE session_id = ? AND left_at IS NULL",
                             (c.at, c.at, c.session_id))
        else:  # beat
            await tx.execute("UPDATE attendance SET last_seen = ? WHERE left_at IS NULL",
                             (c.at,))
            online = sorted({s for group in self.online.values() for s in group})
            marks = ",".join("?" * len(online)) or "NULL"
            await tx.execute(f"UPDATE students SET last_seen = ? WHERE id IN ({marks})",
                             (c.at, *online))

    async def stop(self) -> None:
        """A clean stop: write what is queued and note everyone online as seen until now."""
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self.online:
            self._queue(Change("beat", iso(utcnow())))
        try:
            await self.flush()
        except Exception:
            log.exception("attendance could not be written at shutdown")
