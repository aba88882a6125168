"""What HTTP offers for a teacher's day beyond the live lecture: managing classes, attendance and
history. Rows of the same route table as api.py (who may call, input schema), so the OpenAPI
description and the authorization matrix cover them like every other route. It must never import
the live layer (sockets are reached through `Box.realtime`).
"""

from __future__ import annotations

import asyncio
from typing import Any

from quart import Response

from classroom_box.domain.attendance_report import lines_csv, owned_report
from classroom_box.domain.auth import Principal
from classroom_box.domain.history import DEFAULT_LIMIT, MAX_LIMIT, ended_lectures
from classroom_box.domain.validation import (
    ApiError,
    Field,
    iso,
    utcnow,
)
from classroom_box.web.api import box, query, route

NAME = {"name": Field("str", max_len=80)}
HISTORY_QUERY = {"section_id": Field("id", required=False),
                 "before": Field("str", required=False, max_len=60),
                 "limit": Field("int", required=False, min=1, max=MAX_LIMIT)}


# --- managing classes -------------------------------------------------------------------------
@route("PATCH", "/api/classes/<int:class_id>", "teacher", NAME)
async def rename_class(principal: Principal, body: dict[str, Any], class_id: int) -> Any:
    """Rename a class; its students see the new name live (`section_updated`)."""
    return await box().management.rename_class(principal.id, class_id, body["name"])


@route("PATCH", "/api/sections/<int:section_id>", "teacher", NAME)
async def rename_section(principal: Principal, body: dict[str, Any], section_id: int) -> Any:
    """Rename a section; its students see the new name live (`section_updated`)."""
    return await box().management.rename_section(principal.id, section_id, body["name"])


@route("POST", "/api/classes/<int:class_id>/sections", "teacher", NAME)
async def add_section(principal: Principal, body: dict[str, Any], class_id: int) -> Any:
    """Add a section to a class, with its own join code."""
    return await box().management.add_section(principal.id, class_id, body["name"]), 201


@route("POST", "/api/sections/<int:section_id>/join-code", "teacher")
async def new_join_code(principal: Principal, section_id: int) -> Any:
    """Give a section a new join code; the old one stops working at once."""
    return await box().management.new_join_code(principal.id, section_id)


@route("POST", "/api/classes/<int:class_id>/archive", "teacher")
async def archive_class(principal: Principal, class_id: int) -> Any:
    """Hide a class and refuse new joins (410); nothing is deleted."""
    return await box().management.set_archived(principal.id, class_id, True)


@route("POST", "/api/classes/<int:class_id>/unarchive", "teacher")
async def unarchive_class(principal: Principal, class_id: int) -> Any:
    """Bring an archived class back."""
    return await box().management.set_archived(principal.id, class_id, False)


@route("DELETE", "/api/students/<int:student_id>", "teacher")
async def remove_student(principal: Principal, student_id: int) -> Any:
    """Remove a student: tokens revoked, open sockets told (`removed`) and closed."""
    await box().management.remove_student(principal.id, student_id)
    # Committed: the sockets go even if this request is cancelled now.
    await asyncio.shield(box().realtime.remove_student(student_id))
    return Response(status=204)


@route("GET", "/api/sections/<int:section_id>/students", "teacher")
async def section_students(principal: Principal, section_id: int) -> Any:
    """Every student of the section, with `online`, `last_seen` and `joined_at`."""
    students = await box().management.students(principal.id, section_id)
    online = {s["id"] for s in box().realtime.roster(section_id)}
    now = iso(utcnow())
    for student in students:
        student["online"] = student["student_id"] in online
        if student["online"]:
            student["last_seen"] = now
    return {"section_id": section_id, "students": students}


# --- attendance and history -------------------------------------------------------------------
@route("GET", "/api/lectures/<int:session_id>/attendance", "teacher")
async def attendance(principal: Principal, session_id: int) -> Any:
    """Who was there: present, late or absent, first and last seen, minutes present."""
    async with box().store.read() as tx:
        lecture, lines = await owned_report(tx, principal.id, session_id)
    return {"session_id": session_id, "start_time": lecture["start_time"],
            "end_time": lecture["end_time"], "students": [line.as_json() for line in lines]}


@route("GET", "/api/lectures/<int:session_id>/attendance.csv", "teacher")
async def attendance_csv(principal: Principal, session_id: int) -> Any:
    """The attendance as CSV (RFC 4180, UTF-8 with a BOM) for spreadsheet programs."""
    async with box().store.read() as tx:
        lecture, lines = await owned_report(tx, principal.id, session_id)
    name = f"attendance-{lecture['start_time'][:10]}-{session_id}.csv"
    return Response(lines_csv(lines), content_type="text/csv; charset=utf-8; header=present",
                    headers={"Content-Disposition": f'attachment; filename="{name}"',
                             "Cache-Control": "no-store"})


@route("GET", "/api/lectures/history", "any")
async def lecture_history(principal: Principal) -> Any:
    """Ended lectures, newest first; teachers also get attendance counts."""
    q = query(HISTORY_QUERY)
    b = box()
    if principal.kind == "student":
        visible = [principal.section_id or 0]
    else:
        visible = [s for _, s in await b.classes.teacher_sections(principal.id)]
    wanted = [s for s in visible if q.get("section_id", s) == s]
    if "section_id" in q and not wanted:
        raise ApiError(403, "forbidden", "you may not see that section")
    return await ended_lectures(b.store, wanted, q.get("before"),
                                q.get("limit", DEFAULT_LIMIT), principal.kind == "teacher")
