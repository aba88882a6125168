"""What happened in past lectures? Ended lectures, newest first, a page at a time.
It owns the paging and must never show a lecture twice or skip one at a page boundary.

The cursor is the `end_time` of the last lecture seen (`before`), optionally followed by
`,<session_id>`: two lectures that ended in the same second (two sections ended by duration) must
not fall between two pages, so `next_before` always carries the tie-breaker. Teachers also get
each lecture's attendance counts, from the same computation as the attendance report.
"""

from __future__ import annotations

from typing import Any

from classroom_box.domain.attendance_report import LECTURE_SQL, counts, lecture_lines
from classroom_box.domain.lectures import LECTURE_COLUMNS, as_dict
from classroom_box.domain.store import Store
from classroom_box.domain.validation import invalid, iso, parse_time, small_int_text

MAX_LIMIT = 100
DEFAULT_LIMIT = 20


def parse_cursor(text: str) -> tuple[str, int]:
    """`<end_time>` (strictly before it) or `<end_time>,<session_id>` (before that lecture)."""
    moment, _, session = text.partition(",")
    if session and not small_int_text(session):
        raise invalid("'before' must be an end_time, optionally followed by ,<session_id>")
    return iso(parse_time("before", moment)), int(session or 0)


async def ended_lectures(store: Store, sections: list[int], before: str | None, limit: int,
                         with_attendance: bool) -> dict[str, Any]:
    until, tie = parse_cursor(before) if before else ("9999-12-31T23:59:59Z", 0)
    marks = ",".join("?" * len(sections)) or "NULL"
    async with store.read() as tx:
        rows = await tx.all(
            f"SELECT {LECTURE_COLUMNS} FROM lecture_sessions WHERE status = 'ended'"
            f" AND section_id IN ({marks}) AND (end_time < ? OR (end_time = ? AND id < ?))"
            " ORDER BY end_time DESC, id DESC LIMIT ?",
            (*sections, until, until, tie, limit + 1))
        lectures = [as_dict(row) for row in rows[:limit]]
        if with_attendance:
            for lecture in lectures:
                detail = await tx.one(LECTURE_SQL, (lecture["session_id"],))
                assert detail is not None
                lecture["attendance"] = counts(await lecture_lines(tx, dict(detail)))
    last = lectures[-1] if len(rows) > limit else None
    return {"lectures": lectures,
            "next_before": f"{last['end_time']},{last['session_id']}" if last else None}
