"""Wall-clock jumps (a Pi without RTC meeting NTP), for real: box processes under libfaketime.

The box's wall clock is moved while it runs by rewriting libfaketime's timestamp file
(FAKETIME_NO_CACHE=1 re-reads it on every call); the monotonic clock is left alone
(FAKETIME_DONT_FAKE_MONOTONIC=1), exactly like an NTP step. Skipped when libfaketime is missing.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from classroom_box.client import StreamClient
from classroom_box.domain.validation import from_iso
from tests.faults.classroom import open_classroom
from tests.helpers import PASSWORD
from tests.process import BoxProcess, add_teacher

LIBFAKETIME = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")
pytestmark = pytest.mark.skipif(not LIBFAKETIME.exists(),
                                reason="libfaketime missing (apt-get install faketime)")
YEAR = 365 * 24 * 3600


class FakeClock:
    """The wall-clock offset every box started with `env` sees, changeable at run time."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.set("+0")

    def set(self, offset: str) -> None:
        self.path.write_text(offset + "\n")

    def env(self, **settings: str) -> dict[str, str]:
        return {**{f"CLASSROOM_BOX_{k.upper()}": v for k, v in settings.items()},"LD_PRELOAD": str(LIBFAKETIME), "FAKETIME_TIMESTAMP_FILE": str(self.path),
                "FAKETIME_NO_CACHE": "1", "FAKETIME_DONT_FAKE_MONOTONIC": "1"}


@asynccontextmanager
async def box_at(data: Path, clock: FakeClock, **settings: str
                 ) -> AsyncIterator[httpx.AsyncClient]:
    box = BoxProcess(data, env=clock.env(**settings)).start()
    try:
        async with httpx.AsyncClient(base_url=box.url, timeout=10) as http:
            http.box = box  # type: ignore[attr-defined]
            yield http
    finally:
        box.stop()


async def login(http: httpx.AsyncClient) -> dict[str, str]:
    r = await http.post("/api/auth/login", json={"username": "alice", "password": PASSWORD})
    assert r.status_code == 200, r.text
    http.cookies.clear()
    return {"Authorization": f"Bearer {r.json()['token']}"}


async def make_class(http: httpx.AsyncClient, teacher: dict[str, str]) -> dict[str, Any]:
    r = await http.post("/api/classes", json={"name": "M", "sections": ["A", "B"]},
                        headers=teacher)
    assert r.status_code == 201, r.text
    return dict(r.json())


def where(cls: dict[str, Any], section: int) -> dict[str, int]:
    return {"class_id": cls["class_id"], "section_id": cls["sections"][section]["section_id"]}


def hours_left(db: Path) -> list[float]:
    """What every teacher token has left, by the test's own (real) clock."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT expires_at FROM tokens WHERE kind = 'teacher'").fetchall()
    return [(row[0] - time.time()) / 3600 for row in rows]


def box_warnings(data: Path) -> list[str]:
    """The boxes' WARNING and ERROR lines, for a failure message."""
    return [line for log in sorted(data.parent.glob("box-*.log"))
            for line in log.read_text(errors="replace").splitlines()
            if "WARNING" in line or "ERROR" in line]


def schedule_status(db: Path, schedule_id: int) -> str:
    with sqlite3.connect(db) as conn:
        return str(conn.execute("SELECT status FROM scheduled_lectures WHERE id = ?",
                                (schedule_id,)).fetchone()[0])


@pytest.fixture
def data(tmp_path: Path) -> Path:
    add_teacher(tmp_path / "data", "alice", PASSWORD)
    return tmp_path / "data"


async def test_forward_year_neither_misses_schedules_nor_makes_year_long_lectures(
        data: Path, tmp_path: Path) -> None:
    clock = FakeClock(tmp_path / "faketime")
    async with box_at(data, clock, clock_settle="12") as http:
        teacher = await login(http)
        cls = await make_class(http, teacher)
        soon = datetime.now(UTC) + timedelta(minutes=20)
        r = await http.post("/api/lecture/schedule", headers=teacher, json={
            **where(cls, 0), "subject": "M", "title": "In 20 min",
            "scheduled_time": soon.isoformat(), "duration_minutes": 10})
        schedule = r.json()["schedule_id"]
        r = await http.post("/api/lecture/start", headers=teacher,
                            json={**where(cls, 1), "subject": "M", "title": "Now"})
        session = r.json()["session_id"]
        clock.set("+365d")
        await asyncio.sleep(7.5)  # every timer has looked at the clock at least once
        assert schedule_status(data / "classroom-box.db", schedule) == "pending"
        r = await http.post("/api/lecture/end", headers=teacher, json={"session_id": session})
        assert r.status_code == 200, r.text
        span = from_iso(r.json()["end_time"]) - from_iso(r.json()["start_time"])
        assert timedelta(0) <= span < timedelta(minutes=1), span
        # A jump that stays is believed once the clock has been stable for --clock-settle.
        for _ in range(40):
            if schedule_status(data / "classroom-box.db", schedule) != "pending":
                break
            await asyncio.sleep(0.5)
        assert schedule_status(data / "classroom-box.db", schedule) == "missed"


async def test_teacher_sessions_survive_jumps_both_ways(data: Path, tmp_path: Path) -> None:
    clock = FakeClock(tmp_path / "faketime")
    async with box_at(data, clock) as http:
        before = await login(http)
        clock.set("+365d")
        await asyncio.sleep(2.5)  # the box notices within a second
        assert (await http.get("/api/me", headers=before)).status_code == 200
        during = await login(http)  # issued while the clock is a year ahead
        clock.set("+0")
        await asyncio.sleep(2.5)
        for token in (before, during):
            assert (await http.get("/api/me", headers=token)).status_code == 200
        assert all(0 < left <= 12.01 for left in hours_left(data / "classroom-box.db"))


async def test_restart_on_a_clock_that_went_back_or_forward(data: Path, tmp_path: Path) -> None:
    clock = FakeClock(tmp_path / "faketime")
    clock.set("+365d")
    async with box_at(data, clock) as http:  # a box whose clock is a year ahead
        teacher = await login(http)
        cls = await make_class(http, teacher)
        r = await http.post("/api/lecture/start", headers=teacher,
                            json={**where(cls, 0), "subject": "M", "title": "T"})
        session = r.json()["session_id"]
        for progress in (10, 20):
            await http.post("/api/lecture/progress", headers=teacher,
                            json={"session_id": session, "progress": progress})
        r = await http.post("/api/join", json={"join_code": cls["sections"][0]["join_code"],
                                               "name": "Sam"})
        student = r.json()["token"]
    clock.set("+0")  # NTP put it right while the box was off: the token is "from the future"
    async with box_at(data, clock) as http:
        assert (await http.get("/api/me", headers=teacher)).status_code == 200
        left = hours_left(data / "classroom-box.db")
        assert all(0 < h <= 12.01 for h in left), (left, box_warnings(data))
    clock.set("+367d")  # a box booting two days ahead: its first prune must not empty the log
    async with box_at(data, clock) as http:
        stream = StreamClient(http.box.url, student, last_seq=0)  # type: ignore[attr-defined]
        await stream.connect()
        for _ in range(100):
            if stream.state is not None:
                break
            await asyncio.sleep(0.05)
        await stream.disconnect()
        assert stream.state is not None and stream.state["recovered"] is True
        assert [e["type"] for e in stream.events] == ["lecture_started"] + [
            "lecture_progress_update"] * 2


async def test_attendance_after_a_jump_counts_who_came_after_it(data: Path,
                                                                tmp_path: Path) -> None:
    """A student who connects after NTP stepped the clock a year ahead is present, for the
    minutes they were there, not absent (their times must be in the lecture's frame)."""
    clock = FakeClock(tmp_path / "faketime")
    async with box_at(data, clock) as http:
        room = await open_classroom(str(http.base_url), "alice", 2)
        early, late = (StreamClient(str(http.base_url), t) for t in room.student_tokens)
        await early.connect()
        await asyncio.sleep(1.5)
        clock.set("+365d")
        await asyncio.sleep(2.5)  # the box notices within a second and re-anchors
        await late.connect()
        await asyncio.sleep(1.5)
        r = await http.post("/api/lecture/end", headers=room.auth,
                            json={"session_id": room.session_id})
        assert r.status_code == 200, r.text
        for client in (early, late):
            await client.disconnect()
        r = await http.get(f"/api/lectures/{room.session_id}/attendance", headers=room.auth)
        assert r.status_code == 200, r.text
    report = r.json()
    lines = {line["name"]: line for line in report["students"]}
    assert {name: line["status"] for name, line in lines.items()} == {
        "student 0": "present", "student 1": "present"}
    for line in lines.values():  # ISO times in one format compare as strings
        assert report["start_time"] <= line["first_seen"] <= line["last_seen"]
        assert line["last_seen"] <= report["end_time"]
        assert line["minutes_present"] < 1  # seconds, not a year
