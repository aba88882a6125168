"""The records a school asks about, on a real box process: retention deletes old per-student
records and nothing else; `classroom-box export` writes one teacher's data as a ZIP of CSVs."""

from __future__ import annotations

import asyncio
import csv
import io
import sqlite3
import subprocess
import sys
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from classroom_box.client import StreamClient
from classroom_box.domain.validation import iso
from tests.helpers import PASSWORD, wait_for
from tests.process import BoxProcess, add_teacher


async def a_day_of_teaching(box: BoxProcess, teacher: str, student: str) -> dict[str, Any]:
    """Log in, make a class, have a student attend a lecture that then ends."""
    async with httpx.AsyncClient(base_url=box.url, timeout=5) as http:
        token = (await http.post("/api/auth/login", json={
            "username": teacher, "password": PASSWORD})).json()["token"]
        auth = {"Authorization": "Bearer " + token}
        cls = (await http.post("/api/classes", json={"name": f"Class of {teacher}",
                                                     "sections": ["A"]}, headers=auth)).json()
        a = cls["sections"][0]
        joined = (await http.post("/api/join", json={"join_code": a["join_code"],
                                                     "name": student})).json()
        lecture = (await http.post("/api/lecture/start", headers=auth, json={
            "class_id": cls["class_id"], "section_id": a["section_id"], "subject": "S",
            "title": f"Lecture of {teacher}"})).json()
        stream = StreamClient(box.url, joined["token"])
        await stream.connect()
        await wait_for(lambda: stream.state is not None)
        await asyncio.sleep(1.1)
        await stream.disconnect()
        await http.post("/api/lecture/end", headers=auth,
                        json={"session_id": lecture["session_id"]})
        return {"auth": auth, "class": cls, "section": a, "student": joined,
                "session_id": lecture["session_id"]}


def old_lecture(db: Path, like: int, days_ago: float) -> int:
    """A copy of lecture `like` (and its attendance) that ended `days_ago` days ago."""
    end = datetime.now(UTC) - timedelta(days=days_ago)
    with sqlite3.connect(db) as conn:
        cur = conn.execute(
            "INSERT INTO lecture_sessions (class_id, section_id, teacher_id, subject, title,"
            " status, start_time, end_time, duration_minutes, ended_by)"
            " SELECT class_id, section_id, teacher_id, subject, title || ?, 'ended', ?, ?,"
            " 45, 'teacher' FROM lecture_sessions WHERE id = ?",
            (f" {days_ago}d", iso(end - timedelta(minutes=45)), iso(end), like))
        session = int(cur.lastrowid or 0)
        conn.execute(
            "INSERT INTO attendance (session_id, student_id, joined_at, left_at, last_seen)"
            " SELECT ?, student_id, ?, ?, ? FROM attendance WHERE session_id = ?",
            (session, iso(end - timedelta(minutes=40)), iso(end), iso(end), like))
        # what the student said in it (issue 13): an ask and an answer to a question
        conn.execute(
            "INSERT INTO asks (class_id, section_id, session_id, student_id, text, asked_at)"
            " SELECT class_id, section_id, ?, (SELECT MIN(id) FROM students), 'why?', ?"
            " FROM lecture_sessions WHERE id = ?", (session, iso(end), like))
        question = conn.execute(
            "INSERT INTO questions (class_id, section_id, teacher_id, session_id, kind, prompt,"
            " options, opened_at) SELECT class_id, section_id, teacher_id, ?, 'text', 'q', '[]',"
            " ? FROM lecture_sessions WHERE id = ?", (session, iso(end), like)).lastrowid
        conn.execute(
            "INSERT INTO answers (question_id, student_id, value, answered_at, key)"
            " VALUES (?, (SELECT MIN(id) FROM students), '\"x\"', ?, ?)",
            (question, iso(end), f"key-{session}"))
    return session


async def test_retention_deletes_old_records_and_nothing_else(tmp_path: Path) -> None:
    data = tmp_path / "data"
    add_teacher(data, "alice", PASSWORD)
    # --clock-settle 0: retention waits for a settled clock (60 s by default) before deleting
    box = BoxProcess(data, None, "--data-retention-days", "30", "--clock-settle", "0").start()
    try:
        day = await a_day_of_teaching(box, "alice", "Kim")
        box.stop()
        db = data / "classroom-box.db"
        old = old_lecture(db, day["session_id"], 31)
        kept = old_lecture(db, day["session_id"], 29)
        with sqlite3.connect(db) as conn:
            before = dict(conn.execute(
                "SELECT session_id, COUNT(*) FROM attendance GROUP BY session_id").fetchall())
        assert before == {day["session_id"]: 1, old: 1, kept: 1}

        box.start()

        def per_lecture() -> dict[int, int]:
            with sqlite3.connect(db) as conn:
                return dict(conn.execute(
                    "SELECT session_id, COUNT(*) FROM attendance GROUP BY session_id"))

        await wait_for(lambda: old not in per_lecture(), timeout=10)
        assert per_lecture() == {day["session_id"]: 1, kept: 1}
        with sqlite3.connect(db) as conn:
            lectures = {r[0] for r in conn.execute("SELECT id FROM lecture_sessions")}
            students = conn.execute("SELECT COUNT(*) FROM students").fetchone()[0]
            asks = {r[0] for r in conn.execute("SELECT session_id FROM asks")}
            answered = {r[0] for r in conn.execute(
                "SELECT q.session_id FROM answers a JOIN questions q ON q.id = a.question_id")}
        assert lectures == {day["session_id"], old, kept}  # the lectures stay, with no names
        assert students == 1
        assert asks == answered == {kept}  # the old lecture's ask and answer are gone too
    finally:
        box.kill()


def read_csv(archive: zipfile.ZipFile, name: str) -> list[dict[str, str]]:
    raw = archive.read(name)
    assert raw.startswith(b"\xef\xbb\xbf")
    return list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"), newline="")))


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    """The CLI as IT types it, while the box serves from the same data dir."""
    return subprocess.run([sys.executable, "-m", "classroom_box", *args], capture_output=True,
                          text=True, timeout=30)


def export_cli(teacher: str, target: Path, data: Path) -> subprocess.CompletedProcess[str]:
    return cli("export", "--teacher", teacher, str(target), "--data-dir", str(data))


async def test_export_writes_one_teachers_records_as_csv(tmp_path: Path) -> None:
    data = tmp_path / "data"
    add_teacher(data, "alice", PASSWORD)
    add_teacher(data, "bob", PASSWORD)
    box = BoxProcess(data).start()
    try:
        alice = await a_day_of_teaching(box, "alice", "Zoë")
        await a_day_of_teaching(box, "bob", "Other-Student")
        target = tmp_path / "alice.zip"
        run = export_cli("alice", target, data)
        assert run.returncode == 0, run.stderr
        with zipfile.ZipFile(target) as archive:
            assert sorted(archive.namelist()) == [
                "attendance.csv", "classes.csv", "lectures.csv", "sections.csv", "students.csv"]
            classes = read_csv(archive, "classes.csv")
            students = read_csv(archive, "students.csv")
            lectures = read_csv(archive, "lectures.csv")
            attendance = read_csv(archive, "attendance.csv")
            everything = b"".join(archive.read(n) for n in archive.namelist())
        assert [c["name"] for c in classes] == ["Class of alice"]
        assert [s["name"] for s in students] == ["Zoë"]
        assert [(lec["title"], lec["ended_by"]) for lec in lectures] == [
            ("Lecture of alice", "teacher")]
        assert [(a["session_id"], a["name"], a["status"]) for a in attendance] == [
            (str(alice["session_id"]), "Zoë", "present")]
        assert b"Other-Student" not in everything and b"Class of bob" not in everything

        missing = export_cli("nobody", tmp_path / "x.zip", data)
        assert missing.returncode == 1 and "no teacher named 'nobody'" in missing.stderr
        assert not (tmp_path / "x.zip").exists()

        # the records do not pin the account: IT can still remove the teacher with the classes,
        # answers and asks included (a foreign key would otherwise refuse the removal)
        old_lecture(data / "classroom-box.db", alice["session_id"], 1)
        removed = cli("teacher", "remove", "alice", "--with-classes", "--data-dir", str(data))
        assert removed.returncode == 0, removed.stderr
        with sqlite3.connect(data / "classroom-box.db") as db:
            left = db.execute("SELECT COUNT(*) FROM attendance WHERE session_id = ?",
                              (alice["session_id"],)).fetchone()[0]
            said = db.execute("SELECT (SELECT COUNT(*) FROM asks) + (SELECT COUNT(*) FROM"
                              " answers)").fetchone()[0]
        assert left == 0 and said == 0
    finally:
        box.kill()
