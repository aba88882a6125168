"""Scheduled lectures fire on time, and a restart picks up, starts late, or marks missed."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.helpers import running_box, wait_for


async def test_scheduled_lecture_fires_within_one_second(tmp_path: Path) -> None:
    async with running_box(tmp_path) as box:
        teacher = await box.teacher()
        cls = await teacher.make_class(sections=("A",))
        a = cls["sections"][0]
        student = await box.student(a["join_code"])
        stream = await box.stream(student.token)
        when = datetime.now(UTC) + timedelta(seconds=2)
        sched = await teacher.ok("/api/lecture/schedule", {
            "class_id": cls["class_id"], "section_id": a["section_id"], "subject": "M",
            "title": "On time", "scheduled_time": when.isoformat()}, 201)
        await wait_for(lambda: any(e["type"] == "lecture_started" for e in stream.events),
                       timeout=5)
        arrived = datetime.now(UTC)
        started = next(e for e in stream.events if e["type"] == "lecture_started")
        assert started["schedule_id"] == sched["schedule_id"]
        lag = (arrived - when).total_seconds()
        assert 0 <= lag < 1.0, lag
        state = (await student.get("/api/lectures")).json()
        assert state["live"][0]["schedule_id"] == sched["schedule_id"]
        assert state["scheduled"] == []


def backdate(db: Path, schedule_id: int, minutes_ago: int) -> None:
    """Pretend the box was off while the schedule came due (edit the stored time)."""
    moment = (datetime.now(UTC) - timedelta(minutes=minutes_ago)).isoformat(timespec="seconds")
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE scheduled_lectures SET scheduled_time = ? WHERE id = ?",
                     (moment.replace("+00:00", "Z"), schedule_id))


async def test_restart_starts_late_or_marks_missed(tmp_path: Path) -> None:
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    async with running_box(tmp_path) as box:
        teacher = await box.teacher()
        cls = await teacher.make_class(sections=("A", "B", "C"))
        ids = []
        for section, duration in zip(cls["sections"], (30, 10, 30), strict=True):
            sched = await teacher.ok("/api/lecture/schedule", {
                "class_id": cls["class_id"], "section_id": section["section_id"],
                "subject": "M", "title": section["name"], "scheduled_time": later,
                "duration_minutes": duration}, 201)
            ids.append(sched["schedule_id"])
        db = box.settings.db_path
    backdate(db, ids[0], 5)    # 5 min late, 30 min window: starts late
    backdate(db, ids[1], 20)   # 20 min late, 10 min window: missed
    # Same data dir: a restart. clock_settle=0: this box trusts its wall clock at once (the
    # default waits 60 s without a jump before declaring anything missed; test_faults.py).
    async with running_box(tmp_path, clock_settle=0.0) as box:
        await asyncio.sleep(0.5)
        teacher_token = (await box.http.post("/api/auth/login", json={
            "username": "alice", "password": "correct horse battery"})).json()["token"]
        state = (await box.http.get("/api/lectures", headers={
            "Authorization": f"Bearer {teacher_token}"})).json()
        assert [x["schedule_id"] for x in state["live"]] == [ids[0]]
        assert [x["schedule_id"] for x in state["scheduled"]] == [ids[2]]
        with sqlite3.connect(db) as conn:
            statuses = dict(conn.execute("SELECT id, status FROM scheduled_lectures"))
        assert statuses == {ids[0]: "started", ids[1]: "missed", ids[2]: "pending"}
        assert ids[2] in box.box.scheduler.timers

