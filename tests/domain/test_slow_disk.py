"""A slow disk and impatient clients: a committed event still reaches every live student.

The box runs as its own process; `strace` attaches to it and delays every `fdatasync` (the call
SQLite makes for a WAL commit with synchronous=FULL here) by 400 ms, like an SD card. The teacher's
HTTP client gives up after 150 ms, i.e. during the commit; Quart then cancels the request handler.
Nothing is faked: real process, real SQLite file, real Socket.IO student, real syscall delay.
"""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from classroom_box.client import StreamClient
from tests.helpers import PASSWORD, wait_for
from tests.process import BoxProcess, add_teacher

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace")]
FSYNC_DELAY_US = 400_000
IMPATIENT = 0.15  # seconds: the teacher's client hangs up long before the fsync returns


@contextmanager
def slow_fdatasync(pid: int, log: Path) -> Iterator[None]:
    """Attach strace to every thread of `pid` and delay each fdatasync; detach on exit."""
    tracer = subprocess.Popen(
        ["strace", "-f", "-p", str(pid), "-o", str(log), "-e", "trace=fsync,fdatasync",
         "-e", f"inject=fdatasync:delay_enter={FSYNC_DELAY_US}",
         "-e", f"inject=fsync:delay_enter={FSYNC_DELAY_US}"],
        stderr=subprocess.PIPE, text=True,
    )
    try:
        assert tracer.stderr is not None
        line = tracer.stderr.readline()  # "strace: Process N attached"
        assert "attached" in line, line
        yield
    finally:
        tracer.terminate()  # strace detaches; the box keeps running at full speed
        tracer.wait(10)


def room_seqs(db: Path, room: str) -> list[int]:
    with sqlite3.connect(db) as conn:
        return [r[0] for r in conn.execute(
            "SELECT seq FROM events WHERE room = ? ORDER BY seq", (room,))]


async def test_events_committed_while_the_request_is_cancelled_reach_live_students(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    add_teacher(data, "alice", PASSWORD)
    box = BoxProcess(data).start()
    assert box.proc is not None
    student = None
    try:
        async with httpx.AsyncClient(base_url=box.url, timeout=10) as http:
            r = await http.post("/api/auth/login", json={"username": "alice",
                                                        "password": PASSWORD})
            auth = {"Authorization": "Bearer " + r.json()["token"]}
            cls = (await http.post("/api/classes", json={"name": "C", "sections": ["A"]},
                                   headers=auth)).json()
            sec = cls["sections"][0]
            room = f"classroom:{cls['class_id']}:{sec['section_id']}"
            joined = (await http.post("/api/join", json={"join_code": sec["join_code"],
                                                         "name": "Kim"})).json()
            student = StreamClient(box.url, joined["token"])
            await student.connect()
            await wait_for(lambda: student is not None and student.state is not None)
            live = (await http.post("/api/lecture/start", headers=auth, json={
                "class_id": cls["class_id"], "section_id": sec["section_id"],
                "subject": "S", "title": "T"})).json()

            gave_up = 0
            with slow_fdatasync(box.proc.pid, tmp_path / "strace.log"):
                for i in range(3):
                    try:
                        await http.post("/api/lecture/progress", headers=auth, timeout=IMPATIENT,
                                        json={"session_id": live["session_id"],
                                              "progress": i, "note": f"gave up {i}"})
                    except httpx.TimeoutException:
                        gave_up += 1
                    await asyncio.sleep(1.0)  # the abandoned commit finishes meanwhile
                done = await http.post("/api/lecture/progress", headers=auth, json={
                    "session_id": live["session_id"], "progress": 50, "note": "patient"})
                assert done.status_code == 200, done.text
            assert gave_up == 3  # the clients really did hang up mid-commit

        committed = room_seqs(data / "classroom-box.db", room)
        assert len(committed) == 5  # start + 3 abandoned (committed anyway) + 1 answered
        await wait_for(lambda: student is not None and student.last_seq == committed[-1])
        assert [e["seq"] for e in student.events] == committed  # none lost, in order, once
    finally:
        if student is not None and student.sio.connected:
            await student.disconnect()
        box.stop()
