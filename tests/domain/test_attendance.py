"""Attendance from presence on a real box: intervals across a disconnect, two tabs as one student,
a box restart mid-lecture (kill -9), and the CSV byte for byte on a fixed example."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from classroom_box.client import StreamClient
from classroom_box.domain import attendance
from classroom_box.domain.validation import from_iso
from tests.helpers import PASSWORD, RunningBox, Teacher, running_box, wait_for


async def live_lecture(box: RunningBox) -> tuple[Teacher, dict[str, Any], dict[str, Any]]:
    teacher = await box.teacher()
    cls = await teacher.make_class(sections=("A",))
    a = cls["sections"][0]
    lecture = await teacher.ok("/api/lecture/start", {
        "class_id": cls["class_id"], "section_id": a["section_id"], "subject": "M",
        "title": "T"}, 201)
    return teacher, a, lecture


async def intervals(box: RunningBox, student_id: int) -> list[tuple[Any, ...]]:
    await box.box.attendance.flush()
    rows = await box.box.store.all(
        "SELECT joined_at, left_at, last_seen FROM attendance WHERE student_id = ? ORDER BY id",
        (student_id,))
    return [tuple(row) for row in rows]


async def test_a_disconnect_splits_the_interval(tmp_path: Path) -> None:
    async with running_box(tmp_path) as box:
        teacher, a, lecture = await live_lecture(box)
        kim = await box.student(a["join_code"], "Kim")
        stream = await box.stream(kim.token)
        await asyncio.sleep(1.1)
        await stream.disconnect()
        await asyncio.sleep(1.1)
        await box.stream(kim.token)
        rows = await intervals(box, kim.id)
        assert len(rows) == 2
        assert rows[0][1] is not None and rows[1][1] is None  # the second is still open
        assert rows[0][1] < rows[1][0]  # the gap is not counted
        report = (await teacher.get(f"/api/lectures/{lecture['session_id']}/attendance")).json()
        line = report["students"][0]
        assert (line["student_id"], line["name"], line["status"]) == (kim.id, "Kim", "present")
        assert line["first_seen"] == rows[0][0]
        done = await teacher.ok("/api/lecture/end", {"session_id": lecture["session_id"]})
        rows = await intervals(box, kim.id)
        assert rows[1][1] == done["end_time"]  # the end closes what is open
        report = (await teacher.get(f"/api/lectures/{lecture['session_id']}/attendance")).json()
        spans = [(from_iso(r[1]) - from_iso(r[0])).total_seconds() for r in rows]
        assert report["students"][0]["minutes_present"] == round(sum(spans) / 60, 1)
        assert report["end_time"] == done["end_time"]


async def test_two_tabs_are_one_student(tmp_path: Path) -> None:
    async with running_box(tmp_path) as box:
        _, a, _ = await live_lecture(box)
        kim = await box.student(a["join_code"], "Kim")
        first = await box.stream(kim.token)
        second = await box.stream(kim.token)
        assert len(await intervals(box, kim.id)) == 1
        await first.disconnect()
        await asyncio.sleep(0.2)
        rows = await intervals(box, kim.id)
        assert len(rows) == 1 and rows[0][1] is None  # one tab still open: still there
        await second.disconnect()
        await wait_for(lambda: box.box.realtime.roster(a["section_id"]) == [])
        rows = await intervals(box, kim.id)
        assert len(rows) == 1 and rows[0][1] is not None


async def test_heartbeat_moves_last_seen(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(attendance, "HEARTBEAT", 0.3)
    async with running_box(tmp_path) as box:
        _, a, _ = await live_lecture(box)
        kim = await box.student(a["join_code"], "Kim")
        await box.stream(kim.token)
        await asyncio.sleep(2.5)
        joined, left, last_seen = (await intervals(box, kim.id))[0]
        assert left is None and (from_iso(last_seen) - from_iso(joined)).total_seconds() >= 1


async def test_a_box_restart_closes_intervals_where_the_box_last_saw_them(
        tmp_path: Path) -> None:
    from tests.process import BoxProcess, add_teacher

    data = tmp_path / "data"
    add_teacher(data, "alice", PASSWORD)
    box = BoxProcess(data).start()
    try:
        async with httpx.AsyncClient(base_url=box.url, timeout=5) as http:
            token = (await http.post("/api/auth/login", json={
                "username": "alice", "password": PASSWORD})).json()["token"]
            auth = {"Authorization": "Bearer " + token}
            cls = (await http.post("/api/classes", json={"name": "C", "sections": ["A"]},
                                   headers=auth)).json()
            a = cls["sections"][0]
            joined = (await http.post("/api/join", json={"join_code": a["join_code"],
                                                         "name": "Kim"})).json()
            lecture = (await http.post("/api/lecture/start", headers=auth, json={
                "class_id": cls["class_id"], "section_id": a["section_id"], "subject": "S",
                "title": "T"})).json()
            student = StreamClient(box.url, joined["token"])
            await student.connect()
            await wait_for(lambda: student.state is not None)
            db = data / "classroom-box.db"

            def open_rows() -> list[Any]:
                with sqlite3.connect(db) as conn:
                    return conn.execute("SELECT joined_at, left_at, last_seen FROM attendance"
                                        " ORDER BY id").fetchall()

            await wait_for(lambda: len(open_rows()) == 1, timeout=5)
            box.kill()
            killed = datetime.now(UTC)
            await student.disconnect()
            await asyncio.sleep(3)
            box.start()
            restarted = datetime.now(UTC)
            rows = open_rows()
            assert len(rows) == 1
            joined_at, left_at, last_seen = rows[0]
            assert left_at == last_seen  # closed where the box last knew, not at restart
            assert from_iso(left_at) <= killed
            assert (restarted - from_iso(left_at)).total_seconds() >= 2.5

            back = StreamClient(box.url, joined["token"])
            await back.connect()
            await wait_for(lambda: len(open_rows()) == 2, timeout=5)
            assert open_rows()[1][1] is None  # a new interval for the time after the restart
            report = (await http.get(f"/api/lectures/{lecture['session_id']}/attendance",
                                     headers=auth)).json()
            assert report["students"][0]["status"] == "present"
            assert report["students"][0]["first_seen"] == joined_at
            await back.disconnect()
    finally:
        box.kill()


FIXED_CSV = (
    "\ufeffstudent_id,name,status,first_seen,last_seen,minutes_present\r\n"
    "3,\"'=HYPERLINK(\"\"x\"\")\",present,2026-03-02T08:10:00Z,2026-03-02T08:12:30Z,2.5\r\n"
    "2,Ana,absent,,,0.0\r\n"
    "4,\"Ben, the late\",late,2026-03-02T08:10:01Z,2026-03-02T08:15:04Z,5.1\r\n"
    "1,Zoë Müller,present,2026-03-02T08:00:00Z,2026-03-02T08:45:00Z,40.0\r\n"
).encode()


async def test_csv_byte_for_byte_on_a_fixed_example(tmp_path: Path) -> None:
    async with running_box(tmp_path) as box:
        teacher = await box.teacher()
        cls = await teacher.make_class(sections=("A",))
        section = cls["sections"][0]["section_id"]
        async with box.box.store.write() as tx:
            for name, created, removed in (
                ("Zoë Müller", "2026-03-01T10:00:00Z", None), ("Ana", "2026-03-01T10:00:00Z", None),
                ('=HYPERLINK("x")', "2026-03-01T10:00:00Z", None),
                ("Ben, the late", "2026-03-01T10:00:00Z", None),
                ("Removed Rex", "2026-03-01T10:00:00Z", "2026-03-01T11:00:00Z"),
                ("Newbie", "2026-03-02T09:00:00Z", None),
            ):
                await tx.execute("INSERT INTO students (section_id, name, created_at, removed_at)"
                                 " VALUES (?, ?, ?, ?)", (section, name, created, removed))
            await tx.execute(
                "INSERT INTO lecture_sessions (id, class_id, section_id, teacher_id, subject,"
                " title, status, start_time, end_time, duration_minutes, ended_by)"
                " VALUES (7, ?, ?, ?, 'M', 'Fixed', 'ended', '2026-03-02T08:00:00Z',"
                " '2026-03-02T08:45:00Z', 45, 'duration')",
                (cls["class_id"], section, teacher.id))
            for student, came, went in (
                (1, "07:58:00", "08:20:00"), (1, "08:25:00", "08:50:00"),
                (3, "08:10:00", "08:12:30"), (4, "08:10:01", "08:15:04"),
            ):
                await tx.execute(
                    "INSERT INTO attendance (session_id, student_id, joined_at, left_at,"
                    " last_seen) VALUES (7, ?, ?, ?, ?)",
                    (student, f"2026-03-02T{came}Z", f"2026-03-02T{went}Z",
                     f"2026-03-02T{went}Z"))
        r = await teacher.get("/api/lectures/7/attendance.csv")
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/csv; charset=utf-8")
        assert r.headers["content-disposition"] == (
            'attachment; filename="attendance-2026-03-02-7.csv"')
        assert r.content == FIXED_CSV
        report = (await teacher.get("/api/lectures/7/attendance")).json()
        assert [(s["name"], s["minutes_present"]) for s in report["students"]] == [
            ('=HYPERLINK("x")', 2.5), ("Ana", 0.0), ("Ben, the late", 5.1), ("Zoë Müller", 40.0)]
        history = (await teacher.get("/api/lectures/history")).json()
        assert history["lectures"][0]["attendance"] == {"present": 2, "late": 1, "absent": 1}
