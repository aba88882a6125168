"""A damaged database, as an SD card that lost power mid-write leaves it: real files, real box.

- Damage where every start reads (the schema page, or the file header): `serve` says in one
  message that the database is damaged and how to restore a backup, and exits 65, which the
  unit does not restart on. It used to print a traceback and be restarted every 2 s forever.
- Damage in one table: the box still starts and serves everything else; a request or a socket
  event that meets the damage is answered 503 / a negative ack `storage_damaged` (it used to be
  a 500 with a traceback, and no ack at all over the socket), with one log line, not one per
  request; a catch-up that meets it hangs the socket up (it used to leave it never synced).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import httpx
import pytest

from classroom_box.client import StreamClient
from classroom_box.domain.storage_faults import EXIT_DAMAGED, EXIT_FULL, EXIT_READ_ONLY
from tests.faults.classroom import Classroom, open_classroom
from tests.helpers import PASSWORD, wait_for
from tests.process import BoxProcess, add_teacher, serve_until_exit


def _zero_page(db: Path, page: int) -> None:
    """Overwrite one page with zeros (no valid B-tree page is all zeros), after a checkpoint so
    that the page in the file is the one SQLite reads."""
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    (size,) = conn.execute("PRAGMA page_size").fetchone()
    conn.close()
    with open(db, "r+b") as handle:
        handle.seek((page - 1) * size + (100 if page == 1 else 0))  # page 1 keeps its header
        handle.write(bytes(size - (100 if page == 1 else 0)))


def _root_page(db: Path, table: str) -> int:
    conn = sqlite3.connect(db)
    try:
        (root,) = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = ?",
                               (table,)).fetchone()
        return int(root)
    finally:
        conn.close()


def test_serve_on_a_damaged_database_says_so_and_exits_65(tmp_path: Path) -> None:
    for damage in ("schema page", "file header"):
        data = tmp_path / damage.replace(" ", "-")
        add_teacher(data, "t", PASSWORD)
        db = data / "classroom-box.db"
        if damage == "schema page":
            _zero_page(db, 1)
        else:
            with open(db, "r+b") as handle:
                handle.write(b"not a database, not any more")
        ran = serve_until_exit(data)
        assert (ran.returncode, "Traceback" in ran.stderr) == (EXIT_DAMAGED, False), ran.stderr
        assert f"the database {db} is damaged" in ran.stderr, ran.stderr
        assert "classroom-box restore" in ran.stderr
        assert db.exists()  # nothing was moved or rewritten behind IT's back


def test_unit_restarts_only_where_restarting_can_help() -> None:
    """Not on a damaged database nor a read-only card; on a full disk, yes (space comes back)."""
    unit = (Path(__file__).parents[2] / "systemd" / "classroom-box.service").read_text()
    prevent = [line for line in unit.splitlines() if line.startswith("RestartPreventExitStatus=")]
    assert len(prevent) == 1
    codes = {int(code) for code in prevent[0].split("=", 1)[1].split()}
    assert codes == {EXIT_DAMAGED, EXIT_READ_ONLY} and EXIT_FULL not in codes


async def test_a_damaged_table_is_503_and_a_negative_ack_once_logged(tmp_path: Path) -> None:
    data = tmp_path / "data"
    db = data / "classroom-box.db"
    add_teacher(data, "t", PASSWORD)
    box = BoxProcess(data).start()
    room = await open_classroom(box.url, "t", 1)
    await _ask_the_teacher(room, "before-the-damage")
    box.stop()
    _zero_page(db, _root_page(db, "asks"))  # what a student's own catch-up does not read
    box.start()
    try:
        with pytest.raises(httpx.HTTPStatusError) as refused:
            await _ask_the_teacher(room, "after-the-damage")
        assert refused.value.response.status_code == 503
        assert refused.value.response.json()["error"]["code"] == "storage_damaged"
        async with httpx.AsyncClient(base_url=box.url, timeout=10) as http:
            assert (await http.get("/healthz")).status_code == 200
            classes = await http.get("/api/classes", headers={
                "Authorization": f"Bearer {room.teacher_token}"})
            assert classes.status_code == 200, classes.text  # the rest still works
        stream = StreamClient(box.url, room.student_tokens[0])
        await stream.connect()
        await wait_for(lambda: stream.state is not None)
        ack = await stream.sio.call("ask", {"key": "over-the-socket", "text": "Why?"},
                                    timeout=10)
        assert ack["ok"] is False and ack["error"]["code"] == "storage_damaged", ack
        assert stream.sio.connected
        await stream.disconnect()
    finally:
        box.stop()
    log = box.log.read_text()
    assert "Traceback" not in log, log[-3000:]
    assert log.count("is damaged") == 1, log[-3000:]  # the socket's refusal within 10 s: folded
    assert "classroom-box restore" in log


async def test_a_catch_up_that_meets_damage_hangs_up_instead_of_hanging(tmp_path: Path) -> None:
    """A student's state_sync reads their answers: with that table damaged, the socket is
    closed (the page shows it reconnecting) rather than left connected and never synced."""
    data = tmp_path / "data"
    db = data / "classroom-box.db"
    add_teacher(data, "t", PASSWORD)
    box = BoxProcess(data).start()
    room = await open_classroom(box.url, "t", 1)
    await _answer_a_question(room)
    box.stop()
    _zero_page(db, _root_page(db, "answers"))
    box.start()
    try:
        stream = StreamClient(box.url, room.student_tokens[0])
        await stream.connect()
        await wait_for(lambda: not stream.sio.connected, timeout=10)
        assert stream.state is None
    finally:
        box.stop()
    log = box.log.read_text()
    assert "Traceback" not in log, log[-3000:]
    assert "catch-up of" in log and "is damaged" in log


async def _ask_the_teacher(room: Classroom, key: str) -> None:
    async with httpx.AsyncClient(base_url=room.url, timeout=10) as http:
        asked = await http.post("/api/asks", json={"text": "May I go?"}, headers={
            "Authorization": f"Bearer {room.student_tokens[0]}", "Idempotency-Key": key})
        asked.raise_for_status()


async def _answer_a_question(room: Classroom) -> None:
    async with httpx.AsyncClient(base_url=room.url, timeout=10) as http:
        asked = await http.post("/api/questions", headers={
            "Authorization": f"Bearer {room.teacher_token}"}, json={
            "class_id": room.class_id, "section_id": room.section_id, "kind": "single",
            "prompt": "Which is prime?", "options": ["4", "7"]})
        asked.raise_for_status()
        question = asked.json()["question"]["question_id"]
        answered = await http.post(f"/api/questions/{question}/answers", json={"value": 1},
                                   headers={"Authorization": f"Bearer {room.student_tokens[0]}",
                                            "Idempotency-Key": "before-the-damage"})
        answered.raise_for_status()
