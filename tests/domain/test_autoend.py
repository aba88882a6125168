"""Lectures end on time: by themselves at start + duration, re-armed by a duration change, and
after a restart that slept through the planned end (ended once, `end_time` = the planned end)."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from classroom_box.client import StreamClient
from classroom_box.domain.validation import from_iso, iso
from tests.helpers import PASSWORD, RunningBox, running_box, wait_for
from tests.process import BoxProcess, add_teacher


def ended(stream: StreamClient) -> list[dict]:
    return [e for e in stream.events if e["type"] == "lecture_ended"]


def move_start(db: Path, session_id: int, seconds_ago: float) -> str:
    """Pretend the lecture started earlier (the stored start time is the only input)."""
    start = iso(datetime.now(UTC) - timedelta(seconds=seconds_ago))
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE lecture_sessions SET start_time = ? WHERE id = ?",
                     (start, session_id))
    return start


async def move_start_live(box: RunningBox, session_id: int, seconds_ago: float) -> str:
    """The same on a box running in this event loop, through its own writer. That box measured
    the start on its monotonic clock too (spans survive wall-clock jumps): move that as well,
    or the box would rightly take the stored time for a jump."""
    start = iso(datetime.now(UTC) - timedelta(seconds=seconds_ago))
    async with box.box.store.write() as tx:
        await tx.execute("UPDATE lecture_sessions SET start_time = ? WHERE id = ?",
                         (start, session_id))
    box.box.lectures._mono_starts[session_id] = time.monotonic() - seconds_ago
    return start


@pytest.mark.slow
async def test_live_lecture_ends_by_itself_at_planned_end(tmp_path: Path) -> None:
    async with running_box(tmp_path) as box:
        teacher = await box.teacher()
        cls = await teacher.make_class(sections=("A",))
        a = cls["sections"][0]
        student = await box.student(a["join_code"])
        stream = await box.stream(student.token)
        lecture = await teacher.ok("/api/lecture/start", {
            "class_id": cls["class_id"], "section_id": a["section_id"], "subject": "M",
            "title": "One minute", "duration_minutes": 1}, 201)
        planned = iso(from_iso(lecture["start_time"]) + timedelta(minutes=1))
        assert lecture["planned_end"] == planned
        listed = (await student.get("/api/lectures")).json()["live"][0]
        assert listed["planned_end"] == planned
        late = await box.stream(student.token)  # a fresh connect: planned_end in state_sync
        assert late.state is not None and late.state["live"][0]["planned_end"] == planned

        await wait_for(lambda: ended(stream), timeout=75, interval=0.05)
        arrived = datetime.now(UTC)
        event = ended(stream)[0]
        assert event["ended_by"] == "duration"
        assert event["end_time"] == planned
        assert 0 <= (arrived - from_iso(planned)).total_seconds() < 2.0
        state = (await teacher.get("/api/lectures")).json()
        assert state["live"] == [] and state["ended"][0]["ended_by"] == "duration"


async def test_duration_change_rearms_and_a_past_end_ends_now(tmp_path: Path) -> None:
    async with running_box(tmp_path) as box:
        teacher = await box.teacher()
        cls = await teacher.make_class(sections=("A",))
        a = cls["sections"][0]
        stream = await box.stream((await box.student(a["join_code"])).token)
        lecture = await teacher.ok("/api/lecture/start", {
            "class_id": cls["class_id"], "section_id": a["section_id"], "subject": "M",
            "title": "Moving end"}, 201)
        session = lecture["session_id"]
        start = await move_start_live(box, session, 58)
        soon = await teacher.ok("/api/lecture/duration",
                                {"session_id": session, "duration_minutes": 1})
        assert soon["planned_end"] == iso(from_iso(start) + timedelta(minutes=1))
        later = await teacher.ok("/api/lecture/duration",
                                 {"session_id": session, "duration_minutes": 30})
        assert later["planned_end"] == iso(from_iso(start) + timedelta(minutes=30))
        await asyncio.sleep(4)  # the 1-minute end has passed: the timer was re-armed, not kept
        assert ended(stream) == []

        await move_start_live(box, session, 65)
        now_due = await box.http.post("/api/lecture/duration", headers=teacher.headers,
                                      json={"session_id": session, "duration_minutes": 1})
        assert now_due.status_code == 200
        await wait_for(lambda: ended(stream), timeout=3)
        event = ended(stream)[0]
        assert event["ended_by"] == "duration"
        assert event["end_time"] == now_due.json()["planned_end"]
        assert box.box.autoend.timers == {}


async def test_teacher_end_says_so(tmp_path: Path) -> None:
    async with running_box(tmp_path) as box:
        teacher = await box.teacher()
        cls = await teacher.make_class(sections=("A",))
        a = cls["sections"][0]
        lecture = await teacher.ok("/api/lecture/start", {
            "class_id": cls["class_id"], "section_id": a["section_id"], "subject": "M",
            "title": "T"}, 201)
        assert lecture["session_id"] in box.box.autoend.timers
        done = await teacher.ok("/api/lecture/end", {"session_id": lecture["session_id"]})
        assert done["ended_by"] == "teacher"
        assert lecture["session_id"] not in box.box.autoend.timers


async def test_restart_after_planned_end_ends_it_once_at_the_planned_end(
        tmp_path: Path) -> None:
    data = tmp_path / "data"
    add_teacher(data, "alice", PASSWORD)
    # --clock-settle 0: after a restart only the wall clock vouches for an end that passed, and
    # the box waits for it to be settled (60 s without a jump by default) before ending
    box = BoxProcess(data, None, "--clock-settle", "0").start()
    try:
        async with httpx.AsyncClient(base_url=box.url, timeout=5) as http:
            token = (await http.post("/api/auth/login", json={
                "username": "alice", "password": PASSWORD})).json()["token"]
            auth = {"Authorization": "Bearer " + token}
            cls = (await http.post("/api/classes", json={"name": "C", "sections": ["A", "B"]},
                                   headers=auth)).json()
            a, b = cls["sections"]
            joined = (await http.post("/api/join", json={"join_code": a["join_code"],
                                                         "name": "Kim"})).json()
            sessions = []
            for section in (a, b):
                started = await http.post("/api/lecture/start", headers=auth, json={
                    "class_id": cls["class_id"], "section_id": section["section_id"],
                    "subject": "S", "title": "T", "duration_minutes": 30})
                sessions.append(started.json()["session_id"])
            seen = (await http.get("/api/lectures", headers=auth)).json()["seq"]
        box.kill()
        start = move_start(data / "classroom-box.db", sessions[0], 40 * 60)  # ended 10 min ago
        planned = iso(from_iso(start) + timedelta(minutes=30))

        for _ in range(2):  # a second restart must not announce it again
            box.start()
            student = StreamClient(box.url, joined["token"], last_seq=seen)
            await student.connect()
            await wait_for(lambda s=student: s.state is not None)
            assert [e["end_time"] for e in ended(student)] == [planned]
            assert ended(student)[0]["ended_by"] == "duration"
            assert student.state["live"] == []
            await student.disconnect()
            box.stop()
        with sqlite3.connect(data / "classroom-box.db") as db:
            rows = db.execute("SELECT json_extract(payload, '$.session_id') FROM events"
                              " WHERE type = 'lecture_ended'").fetchall()
            status = dict(db.execute("SELECT id, status FROM lecture_sessions").fetchall())
        assert rows == [(sessions[0],)]
        assert status == {sessions[0]: "ended", sessions[1]: "live"}  # B still has 30 min
    finally:
        box.kill()
