"""Who was there, and for how long? A lecture's attendance, computed from its stored intervals.

Listed: every student of the section who had joined it by the lecture's end and was not removed
before it began, and anyone with an interval in it. `present` = first seen within `GRACE` of the
start, `late` = later, `absent` = never connected while it was live. `minutes_present` is the sum
of the intervals clipped to the lecture, rounded half up to one decimal. `summarize()` is pure, so
the HTTP report, the CSV, the history counts and `classroom-box export` cannot disagree.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from classroom_box.domain.csvfile import csv_bytes
from classroom_box.domain.store import Tx
from classroom_box.domain.validation import ApiError, from_iso, iso, utcnow

GRACE = timedelta(minutes=10)
CSV_HEADER = ("student_id", "name", "status", "first_seen", "last_seen", "minutes_present")
STUDENTS_SQL = (
    "SELECT id, name FROM students WHERE section_id = ? AND created_at <= ?"
    " AND (removed_at IS NULL OR removed_at >= ?)"
    " UNION SELECT s.id, s.name FROM students s JOIN attendance a ON a.student_id = s.id"
    " WHERE a.session_id = ?"
)
INTERVALS_SQL = ("SELECT student_id, joined_at, left_at, last_seen FROM attendance"
                 " WHERE session_id = ? ORDER BY id")
LECTURE_SQL = ("SELECT id AS session_id, section_id, teacher_id, title, status, start_time,"
               " end_time FROM lecture_sessions WHERE id = ?")


@dataclass(frozen=True)
class Line:
    student_id: int
    name: str
    status: str
    first_seen: str | None
    last_seen: str | None
    minutes_present: Decimal

    def as_json(self) -> dict[str, Any]:
        return {"student_id": self.student_id, "name": self.name, "status": self.status,
                "first_seen": self.first_seen, "last_seen": self.last_seen,
                "minutes_present": float(self.minutes_present)}

    def as_row(self) -> tuple[object, ...]:
        return (self.student_id, self.name, self.status, self.first_seen, self.last_seen,
                str(self.minutes_present))


def student_params(lecture: Mapping[str, Any], now: datetime) -> tuple[Any, ...]:
    """STUDENTS_SQL's parameters: joined by the end (or now), not removed before the start."""
    return (lecture["section_id"], lecture["end_time"] or iso(now), lecture["start_time"],
            lecture["session_id"])


def summarize(lecture: Mapping[str, Any], students: Iterable[sqlite3.Row],
              intervals: Iterable[sqlite3.Row], now: datetime) -> list[Line]:
    start = from_iso(lecture["start_time"])
    end = from_iso(lecture["end_time"]) if lecture["end_time"] else now
    spans: dict[int, list[tuple[datetime, datetime]]] = {}
    for row in intervals:
        came = max(from_iso(row["joined_at"]), start)
        open_until = now if lecture["status"] == "live" else from_iso(row["last_seen"])
        went = min(from_iso(row["left_at"]) if row["left_at"] else open_until, end)
        if came <= went:
            spans.setdefault(row["student_id"], []).append((came, went))
    lines = [_line(s["id"], s["name"], spans.get(s["id"], []), start) for s in students]
    return sorted(lines, key=lambda line: (line.name.casefold(), line.student_id))


def _line(student_id: int, name: str, spans: list[tuple[datetime, datetime]],
          start: datetime) -> Line:
    if not spans:
        return Line(student_id, name, "absent", None, None, Decimal("0.0"))
    first = min(came for came, _ in spans)
    seconds = sum((went - came).total_seconds() for came, went in spans)
    minutes = (Decimal(str(seconds)) / 60).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    status = "present" if first - start <= GRACE else "late"
    return Line(student_id, name, status, iso(first), iso(max(w for _, w in spans)), minutes)


def counts(lines: Iterable[Line]) -> dict[str, int]:
    tally = Counter(line.status for line in lines)
    return {status: tally.get(status, 0) for status in ("present", "late", "absent")}


def lines_csv(lines: Iterable[Line]) -> bytes:
    return csv_bytes(CSV_HEADER, (line.as_row() for line in lines))


async def lecture_lines(tx: Tx, lecture: Mapping[str, Any]) -> list[Line]:
    """The report of one lecture (a row shaped like LECTURE_SQL's), read in the caller's tx."""
    now = utcnow()
    students = await tx.all(STUDENTS_SQL, student_params(lecture, now))
    intervals = await tx.all(INTERVALS_SQL, (lecture["session_id"],))
    return summarize(lecture, students, intervals, now)


async def owned_report(tx: Tx, teacher_id: int,
                       session_id: int) -> tuple[dict[str, Any], list[Line]]:
    """A lecture and its attendance, for the teacher who owns it only."""
    row = await tx.one(LECTURE_SQL, (session_id,))
    if row is None:
        raise ApiError(404, "not_found", "lecture not found")
    if row["teacher_id"] != teacher_id:
        raise ApiError(403, "forbidden", "that lecture belongs to another teacher")
    lecture = dict(row)
    return lecture, await lecture_lines(tx, lecture)
