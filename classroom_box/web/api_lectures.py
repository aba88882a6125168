"""What HTTP offers for the live lecture: start, end, schedule, cancel, duration, progress, and
the caller's view of live, scheduled and today's lectures. Rows of the same route table as api.py
(who may call, input schema), so the OpenAPI description and the authorization matrix cover them
like every other route. It must never import the live layer (events reach sockets through the
event log).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from classroom_box.domain.auth import Principal
from classroom_box.domain.validation import ApiError, Field
from classroom_box.web.api import box, query, route

SECTION = {"class_id": Field("id"), "section_id": Field("id")}
LECTURE_TEXT = {"subject": Field("str", max_len=100), "title": Field("str", max_len=200)}
DURATION = Field("int", min=1, max=600)
START = {**SECTION, **LECTURE_TEXT, "topic_id": Field("str", required=False, max_len=100),
         "duration_minutes": Field("int", required=False, min=1, max=600)}
SCHEDULE = {**SECTION, **LECTURE_TEXT, "scheduled_time": Field("time"),
            "duration_minutes": Field("int", required=False, min=1, max=600)}
END = {"session_id": Field("id"), "summary": Field("str", required=False, max_len=2000)}
CANCEL = {"schedule_id": Field("id")}
SET_DURATION = {"session_id": Field("id"), "duration_minutes": DURATION}
PROGRESS = {"session_id": Field("id"), "progress": Field("int", min=0, max=100),
            "note": Field("str", required=False, max_len=2000)}


@route("POST", "/api/lecture/start", "teacher", START)
async def start(principal: Principal, body: dict[str, Any]) -> Any:
    """Start a lecture now in one of the teacher's sections."""
    return await box().lectures.start(principal.id, body), 201


@route("POST", "/api/lecture/end", "teacher", END)
async def end(principal: Principal, body: dict[str, Any]) -> Any:
    """End a live lecture, optionally with a summary for the students."""
    return await box().lectures.end(principal.id, body["session_id"], body.get("summary"))


@route("POST", "/api/lecture/schedule", "teacher", SCHEDULE)
async def schedule(principal: Principal, body: dict[str, Any]) -> Any:
    """Schedule a lecture; the box starts it on time by itself."""
    created = await box().lectures.schedule(principal.id, body)
    box().scheduler.add(created["schedule_id"], body["scheduled_time"])
    return created, 201


@route("POST", "/api/lecture/cancel", "teacher", CANCEL)
async def cancel(principal: Principal, body: dict[str, Any]) -> Any:
    """Cancel a scheduled lecture that has not started."""
    return await box().lectures.cancel(principal.id, body["schedule_id"])


@route("POST", "/api/lecture/duration", "teacher", SET_DURATION)
async def duration(principal: Principal, body: dict[str, Any]) -> Any:
    """Change a live lecture's planned duration."""
    return await box().lectures.set_duration(
        principal.id, body["session_id"], body["duration_minutes"])


@route("POST", "/api/lecture/progress", "teacher", PROGRESS)
async def progress(principal: Principal, body: dict[str, Any]) -> Any:
    """Report progress (0-100) and an optional note on a live lecture."""
    return await box().lectures.set_progress(
        principal.id, body["session_id"], body["progress"], body.get("note"))


LECTURES_QUERY = {"class_id": Field("id", required=False),
                  "section_id": Field("id", required=False)}


@route("GET", "/api/lectures", "any")
async def lectures(principal: Principal) -> Any:
    """Live, scheduled and today's ended lectures the caller may see."""
    q = query(LECTURES_QUERY)
    b = box()
    visible: Sequence[tuple[int | None, int | None]]
    if principal.kind == "student":
        visible = [(principal.class_id, principal.section_id)]
    else:
        visible = await b.classes.teacher_sections(principal.id)
    wanted = [s for c, s in visible
              if q.get("class_id", c) == c and q.get("section_id", s) == s]
    if q and not wanted:
        raise ApiError(403, "forbidden", "you may not see that section")
    return await b.lecture_state([s for s in wanted if s is not None])
