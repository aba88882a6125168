"""What may a teacher do to a lecture? The state machine, one write transaction per action.
It must never change state without appending the event that reports it, in the same transaction.

Each action checks ownership and state, changes the rows and appends its event in the same
transaction, so a 2xx, the stored state and the broadcast can never disagree.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta
from typing import Any

from classroom_box.domain.applied import SyncTx
from classroom_box.domain.clock import Clock, shift_by, shifted
from classroom_box.domain.event_types import LECTURE_FIELDS, SCHEDULE_FIELDS
from classroom_box.domain.events import EventLog
from classroom_box.domain.store import Store, Tx
from classroom_box.domain.validation import ApiError, from_iso, iso

DEFAULT_DURATION = 45
UNSETTLED_WAIT = 5.0  # seconds before an end that only the jumped wall clock vouches for is retried

# planned_end is derived, never stored: a duration change moves it with no second column to
# keep in step.
PLANNED_END = ("strftime('%Y-%m-%dT%H:%M:%SZ', start_time, '+' || duration_minutes"
               " || ' minutes')")
DERIVED = {"planned_end": PLANNED_END}


def _columns(fields: tuple[str, ...], id_name: str) -> str:
    """The SELECT list giving exactly the object's fields; the row id goes out as `id_name`."""
    return ", ".join(f"id AS {name}" if name == id_name
                     else f"{DERIVED[name]} AS {name}" if name in DERIVED else name
                     for name in fields)


LECTURE_COLUMNS = _columns(LECTURE_FIELDS, "session_id")
SCHEDULE_COLUMNS = _columns(SCHEDULE_FIELDS, "schedule_id")


def as_dict(row: sqlite3.Row) -> dict[str, Any]:
    return {key: row[key] for key in row.keys()}


def not_found(what: str) -> ApiError:
    return ApiError(404, "not_found", f"{what} not found")


async def shift_live_starts(tx: Tx, seconds: float) -> None:
    """The wall clock jumped: a live lecture's start moves with it, so its planned end, its
    attendance and spans measured without the monotonic clock (after a restart) stay right."""
    await tx.execute(f"UPDATE lecture_sessions SET start_time = {shifted('start_time')}"
                     " WHERE status = 'live'", (shift_by(seconds),))


def owned(row: sqlite3.Row | None, teacher_id: int, what: str) -> dict[str, Any]:
    """The row without its `teacher_id`, if it exists and is this teacher's."""
    if row is None:
        raise not_found(what)
    if row["teacher_id"] != teacher_id:
        raise ApiError(403, "forbidden", f"that {what} belongs to another teacher")
    found = as_dict(row)
    found.pop("teacher_id")
    return found


def live(lecture: dict[str, Any]) -> dict[str, Any]:
    if lecture["status"] != "live":
        raise ApiError(409, "conflict", "that lecture is not live")
    return lecture


def payload_of(obj: dict[str, Any], fields: tuple[str, ...], key: str) -> dict[str, Any]:
    """An event's payload: the fields a client reads first, and the whole object under `key`."""
    return {**{name: obj[name] for name in fields}, key: obj}


class Lectures:
    def __init__(self, store: Store, log: EventLog, clock: Clock) -> None:
        self.store = store
        self.log = log
        self.clock = clock
        # Monotonic start of each lecture this process started: its span survives clock jumps.
        self._mono_starts: dict[int, float] = {}

    async def _own_section(self, tx: Tx, teacher_id: int, class_id: int, section_id: int) -> None:
        row = await tx.one(
            "SELECT c.teacher_id FROM sections s JOIN classes c ON c.id = s.class_id"
            " WHERE s.id = ? AND s.class_id = ?",
            (section_id, class_id),
        )
        if row is None:
            raise not_found("section of that class")
        if row["teacher_id"] != teacher_id:
            raise ApiError(403, "forbidden", "that class belongs to another teacher")

    async def _own_row(self, tx: Tx, table: str, columns: str, row_id: int, teacher_id: int,
                       what: str) -> dict[str, Any]:
        row = await tx.one(f"SELECT {columns}, teacher_id FROM {table} WHERE id = ?", (row_id,))
        return owned(row, teacher_id, what)

    async def _lecture(self, tx: Tx, session_id: int) -> dict[str, Any]:
        row = await tx.one(f"SELECT {LECTURE_COLUMNS} FROM lecture_sessions WHERE id = ?",
                           (session_id,))
        assert row is not None
        return as_dict(row)

    async def _schedule(self, tx: Tx, schedule_id: int) -> dict[str, Any]:
        row = await tx.one(f"SELECT {SCHEDULE_COLUMNS} FROM scheduled_lectures WHERE id = ?",
                           (schedule_id,))
        assert row is not None
        return as_dict(row)

    async def _emit(self, tx: Tx, teacher_id: int, type: str, obj: dict[str, Any],
                    fields: tuple[str, ...], key: str) -> None:
        await self.log.append(
            tx, class_id=obj["class_id"], section_id=obj["section_id"], teacher_id=teacher_id,
            type=type, payload=payload_of(obj, fields, key),
        )

    async def start(self, teacher_id: int, req: dict[str, Any]) -> dict[str, Any]:
        async with self.store.write() as tx:
            await self._own_section(tx, teacher_id, req["class_id"], req["section_id"])
            return await self._start(tx, teacher_id, req, schedule_id=None)

    async def _start(self, tx: Tx, teacher_id: int, req: dict[str, Any],
                     schedule_id: int | None) -> dict[str, Any]:
        busy = await tx.one(
            "SELECT id FROM lecture_sessions WHERE section_id = ? AND status = 'live'",
            (req["section_id"],),
        )
        if busy is not None:
            raise ApiError(409, "conflict",
                           f"this section already has a live lecture (session {busy['id']})")
        cur = await tx.execute(
            "INSERT INTO lecture_sessions (class_id, section_id, teacher_id, subject, title,"
            " topic_id, status, start_time, duration_minutes, schedule_id)"
            " VALUES (?, ?, ?, ?, ?, ?, 'live', ?, ?, ?)",
            (req["class_id"], req["section_id"], teacher_id, req["subject"], req["title"],
             req.get("topic_id"), iso(self.clock.now()),
             req.get("duration_minutes") or DEFAULT_DURATION, schedule_id),
        )
        lecture = await self._lecture(tx, int(cur.lastrowid or 0))
        began = self.clock.mono()
        tx.after_commit.append(
            lambda: self._mono_starts.__setitem__(lecture["session_id"], began))
        await self._emit(tx, teacher_id, "lecture_started", lecture,
                         ("session_id", "title", "subject", "start_time", "duration_minutes",
                          "schedule_id"), "lecture")
        return lecture

    async def end(self, teacher_id: int, session_id: int, summary: str | None) -> dict[str, Any]:
        async with self.store.write() as tx:
            lecture = await self._live(tx, teacher_id, session_id)
            began = from_iso(lecture["start_time"])
            ended = began + self.clock.span(began, self._mono_starts.get(session_id))
            return await self._close(tx, teacher_id, session_id, iso(ended), summary or "",
                                     "teacher")

    async def _close(self, tx: Tx, teacher_id: int, session_id: int, end_time: str,
                     summary: str, ended_by: str) -> dict[str, Any]:
        await tx.execute(
            "UPDATE lecture_sessions SET status = 'ended', end_time = ?, summary = ?,"
            " ended_by = ? WHERE id = ?",
            (end_time, summary, ended_by, session_id),
        )
        tx.after_commit.append(lambda: self._forget_start(session_id))
        lecture = await self._lecture(tx, session_id)
        await self._emit(tx, teacher_id, "lecture_ended", lecture,
                         ("session_id", "end_time", "summary", "ended_by"), "lecture")
        return lecture

    def time_left(self, start_time: str, duration_minutes: int,
                  session_id: int) -> tuple[float, bool]:
        """Seconds until a live lecture's planned end, and whether that is measured.

        Measured (by the monotonic clock) when this process started the lecture, so a wall-clock
        jump neither ends it early nor keeps it running; after a restart the wall clock is all
        there is, and the caller trusts an elapsed end only on a settled clock.
        """
        began, mono = from_iso(start_time), self._mono_starts.get(session_id)
        span = self.clock.span(began, mono)
        return duration_minutes * 60 - span.total_seconds(), mono is not None

    async def end_due(self, session_id: int) -> float | None:
        """The box's own end of a lecture whose planned end has come: `end_time` is that planned
        end (also when the box was down at the time), announced once.

        Returns the seconds still to wait (the duration changed, or the wall clock just jumped
        and cannot be trusted yet), or None once the lecture is ended or no longer live.
        """
        async with self.store.write() as tx:
            row = await tx.one(
                f"SELECT teacher_id, status, start_time, duration_minutes, {PLANNED_END}"
                " AS planned_end FROM lecture_sessions WHERE id = ?", (session_id,))
            if row is None or row["status"] != "live":
                return None
            left, measured = self.time_left(row["start_time"], row["duration_minutes"],
                                            session_id)
            if left > 0:
                return left
            if not measured and not self.clock.settled():
                return UNSETTLED_WAIT
            await self._close(tx, int(row["teacher_id"]), session_id, row["planned_end"], "",
                              "duration")
            return None

    async def live_lectures(self) -> list[dict[str, Any]]:
        """Every live lecture, to arm the end timers after a restart."""
        rows = await self.store.all(
            f"SELECT {LECTURE_COLUMNS} FROM lecture_sessions WHERE status = 'live'")
        return [as_dict(r) for r in rows]

    def _forget_start(self, session_id: int) -> None:
        self._mono_starts.pop(session_id, None)

    async def _live(self, tx: Tx, teacher_id: int, session_id: int) -> dict[str, Any]:
        return live(await self._own_row(tx, "lecture_sessions", LECTURE_COLUMNS, session_id,
                                        teacher_id, "lecture"))

    async def set_duration(self, teacher_id: int, session_id: int, minutes: int) -> dict[str, Any]:
        async with self.store.write() as tx:
            await self._live(tx, teacher_id, session_id)
            await tx.execute("UPDATE lecture_sessions SET duration_minutes = ? WHERE id = ?",
                             (minutes, session_id))
            lecture = await self._lecture(tx, session_id)
            await self._emit(tx, teacher_id, "lecture_duration_update", lecture,
                             ("session_id", "duration_minutes"), "lecture")
            return lecture

    async def set_progress(self, teacher_id: int, session_id: int, progress: int,
                           note: str | None) -> dict[str, Any]:
        return await self.store.apply(
            lambda tx: self._set_progress(tx, teacher_id, session_id, progress, note))

    def _set_progress(self, tx: SyncTx, teacher_id: int, session_id: int, progress: int,
                      note: str | None) -> dict[str, Any]:
        """In the writer's thread: the lecture's most frequent event shares a storm of answers'
        batch instead of holding the writer over several turns of a busy event loop."""
        select = f"SELECT {LECTURE_COLUMNS} FROM lecture_sessions WHERE id = ?"
        old = live(owned(tx.one(select.replace(" FROM", ", teacher_id FROM"), (session_id,)),
                         teacher_id, "lecture"))
        tx.execute("UPDATE lecture_sessions SET progress = ?, note = ? WHERE id = ?",
                   (progress, old["note"] if note is None else note, session_id))
        row = tx.one(select, (session_id,))
        assert row is not None
        lecture = as_dict(row)
        self.log.append_now(tx, class_id=lecture["class_id"], section_id=lecture["section_id"],
                            teacher_id=teacher_id, type="lecture_progress_update",
                            payload=payload_of(lecture, ("session_id", "progress", "note"),
                                               "lecture"))
        return lecture

    async def schedule(self, teacher_id: int, req: dict[str, Any]) -> dict[str, Any]:
        when: datetime = req["scheduled_time"]
        if when <= self.clock.now():
            raise ApiError(422, "invalid", "'scheduled_time' must be in the future")
        async with self.store.write() as tx:
            await self._own_section(tx, teacher_id, req["class_id"], req["section_id"])
            cur = await tx.execute(
                "INSERT INTO scheduled_lectures (class_id, section_id, teacher_id, subject, title,"
                " scheduled_time, duration_minutes, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (req["class_id"], req["section_id"], teacher_id, req["subject"], req["title"],
                 iso(when), req.get("duration_minutes") or DEFAULT_DURATION,
                 iso(self.clock.now())),
            )
            schedule = await self._schedule(tx, int(cur.lastrowid or 0))
            await self._emit(tx, teacher_id, "lecture_scheduled", schedule,
                             ("schedule_id", "title", "subject", "scheduled_time",
                              "duration_minutes"), "schedule")
            return schedule

    async def cancel(self, teacher_id: int, schedule_id: int) -> dict[str, Any]:
        async with self.store.write() as tx:
            schedule = await self._own_row(tx, "scheduled_lectures", SCHEDULE_COLUMNS,
                                           schedule_id, teacher_id, "scheduled lecture")
            if schedule["status"] != "pending":
                raise ApiError(409, "conflict", f"that lecture is already {schedule['status']}")
            return await self._close_schedule(tx, teacher_id, schedule_id, "cancelled")

    async def _close_schedule(self, tx: Tx, teacher_id: int, schedule_id: int,
                              status: str) -> dict[str, Any]:
        await tx.execute("UPDATE scheduled_lectures SET status = ? WHERE id = ?",
                         (status, schedule_id))
        schedule = await self._schedule(tx, schedule_id)
        await self._emit(tx, teacher_id, "lecture_cancelled", schedule, ("schedule_id",),
                         "schedule")
        return schedule

    async def fire(self, schedule_id: int) -> str:
        """The scheduler's action when a schedule is due: start it, or mark it missed.

        A schedule whose window (time + duration) has closed, or whose section is busy with
        another live lecture, is marked `missed` and announced as `lecture_cancelled`. "Closed"
        is believed only on a settled clock: right after a jump it answers "unsettled" and the
        scheduler asks again, so a bogus jump of a year does not miss every schedule for good.
        """
        async with self.store.write() as tx:
            row = await tx.one(
                f"SELECT {SCHEDULE_COLUMNS}, teacher_id FROM scheduled_lectures WHERE id = ?",
                (schedule_id,),
            )
            if row is None or row["status"] != "pending":
                return row["status"] if row else "gone"
            schedule, teacher_id = as_dict(row), int(row["teacher_id"])
            ends = from_iso(schedule["scheduled_time"])
            ends += timedelta(minutes=schedule["duration_minutes"])
            busy = await tx.one("SELECT 1 FROM lecture_sessions WHERE section_id = ?"
                                " AND status = 'live'", (schedule["section_id"],))
            if ends <= self.clock.now() and not self.clock.settled():
                return "unsettled"
            if ends <= self.clock.now() or busy is not None:
                await self._close_schedule(tx, teacher_id, schedule_id, "missed")
                return "missed"
            lecture = await self._start(tx, teacher_id, schedule, schedule_id=schedule_id)
            await tx.execute(
                "UPDATE scheduled_lectures SET status = 'started', session_id = ? WHERE id = ?",
                (lecture["session_id"], schedule_id),
            )
            return "started"

    async def pending(self) -> list[tuple[int, datetime]]:
        rows = await self.store.all(
            "SELECT id, scheduled_time FROM scheduled_lectures WHERE status = 'pending'"
        )
        return [(r[0], from_iso(r[1])) for r in rows]


async def section_state(tx: Tx, sections: list[int]) -> dict[str, list[dict[str, Any]]]:
    """Live, pending and today's ended lectures of these sections, in one snapshot."""
    marks = ",".join("?" * len(sections)) or "NULL"
    today = iso(datetime.now().astimezone().replace(hour=0, minute=0, second=0, microsecond=0))
    live = await tx.all(
        f"SELECT {LECTURE_COLUMNS} FROM lecture_sessions WHERE status = 'live'"
        f" AND section_id IN ({marks}) ORDER BY id", sections)
    scheduled = await tx.all(
        f"SELECT {SCHEDULE_COLUMNS} FROM scheduled_lectures WHERE status = 'pending'"
        f" AND section_id IN ({marks}) ORDER BY scheduled_time, id", sections)
    ended = await tx.all(
        f"SELECT {LECTURE_COLUMNS} FROM lecture_sessions WHERE status = 'ended'"
        f" AND section_id IN ({marks}) AND end_time >= ? ORDER BY end_time DESC, id DESC"
        " LIMIT 50", (*sections, today))
    return {
        "live": [as_dict(r) for r in live],
        "scheduled": [as_dict(r) for r in scheduled],
        "ended": [as_dict(r) for r in ended],
    }
