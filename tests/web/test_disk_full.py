"""A full disk, for real: the data directory is a tiny tmpfs that the test fills up.

Writes answer 507 `disk_full` (over the socket, a negative ack) with one log line each, reads,
sockets and replay keep working, a scheduled lecture that comes due meanwhile waits and starts
once space is back, and writes recover without a restart. Mounting needs root; without it the test is skipped and says why.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from classroom_box.client import StreamClient
from classroom_box.domain.storage_faults import EXIT_FULL, EXIT_READ_ONLY
from tests.disk_support import fill, small_disk
from tests.helpers import PASSWORD, wait_for
from tests.process import BoxProcess, add_teacher, serve_until_exit

pytestmark = pytest.mark.skipif(os.geteuid() != 0,
                                reason="mounting a small tmpfs to fill up needs root")


@contextlib.asynccontextmanager
async def full_box(tmp_path: Path) -> AsyncIterator[Classroom]:
    """A box process on a small disk with a teacher, a class of two sections and a student."""
    with small_disk(tmp_path / "data") as data:
        add_teacher(data, "alice", PASSWORD)
        box = BoxProcess(data).start()
        try:
            # A fresh connection per request: the test idles ~5 s between some requests, uvicorn's
            # keep-alive timeout, and a reused connection closed meanwhile fails the request.
            async with httpx.AsyncClient(base_url=box.url, timeout=10, limits=httpx.Limits(
                    max_keepalive_connections=0)) as http:
                yield await Classroom.create(box, data, http)
        finally:
            box.stop()


@dataclass
class Classroom:
    box: BoxProcess
    data: Path
    http: httpx.AsyncClient
    teacher: dict[str, str]
    cls: dict[str, Any]
    student: str

    @classmethod
    async def create(cls, box: BoxProcess, data: Path, http: httpx.AsyncClient) -> Classroom:
        r = await http.post("/api/auth/login", json={"username": "alice", "password": PASSWORD})
        teacher = {"Authorization": f"Bearer {r.json()['token']}"}
        r = await http.post("/api/classes", json={"name": "M", "sections": ["A", "B"]},
                            headers=teacher)
        made = r.json()
        r = await http.post("/api/join", json={"join_code": made["sections"][0]["join_code"],
                                               "name": "Sam"})
        return cls(box, data, http, teacher, made, r.json()["token"])

    async def post(self, path: str, body: dict[str, Any], section: int = 0) -> httpx.Response:
        where = {"class_id": self.cls["class_id"],
                 "section_id": self.cls["sections"][section]["section_id"]}
        return await self.http.post(path, headers=self.teacher, json={**where, **body})

    async def state(self) -> dict[str, Any]:
        return dict((await self.http.get("/api/lectures", headers=self.teacher)).json())


async def test_disk_full_is_507_one_line_reads_work_and_recovers(tmp_path: Path) -> None:
    async with full_box(tmp_path) as room:
        r = await room.post("/api/lecture/start", {"subject": "M", "title": "T"})
        assert r.status_code == 201, r.text
        session = r.json()["session_id"]
        stream = StreamClient(room.box.url, room.student)
        await stream.connect()
        await wait_for(lambda: stream.state is not None)
        first_seq = stream.last_seq
        ballast = fill(room.data)
        for progress in (10, 20, 30):
            r = await room.post("/api/lecture/progress", {"session_id": session,
                                                          "progress": progress})
            assert r.status_code == 507, r.text
            assert r.json()["error"]["code"] == "disk_full", r.text
            assert r.json()["error"]["message"]
        # A socket event that writes gets the same answer, as a negative ack (not silence).
        ack = await stream.sio.call("raise_hand", {}, timeout=10)
        assert ack["ok"] is False and ack["error"]["code"] == "disk_full", ack
        # Reads, a new socket with replay, and the old socket all still work.
        assert (await room.state())["live"][0]["progress"] == 0
        again = StreamClient(room.box.url, room.student, last_seq=0)
        await again.connect()
        await wait_for(lambda: again.state is not None)
        assert again.state["recovered"] is True
        assert [e["type"] for e in again.events] == ["lecture_started"]
        await again.disconnect()
        ballast.unlink()  # space is back: the very next write works, no restart
        r = await room.post("/api/lecture/progress", {"session_id": session, "progress": 40})
        assert r.status_code == 200, r.text
        await wait_for(lambda: any(e.get("progress") == 40 for e in stream.events))
        assert stream.sio.connected and (stream.last_seq or 0) > (first_seq or 0)
        await stream.disconnect()
    log = room.box.log.read_text()
    assert "Traceback" not in log, log
    assert log.count("refused: storage full") == 4, log


async def test_scheduled_lecture_waits_out_a_full_disk(tmp_path: Path) -> None:
    async with full_box(tmp_path) as room:
        due = datetime.now(UTC) + timedelta(seconds=2)
        r = await room.post("/api/lecture/schedule", {
            "subject": "M", "title": "Due while full", "scheduled_time": due.isoformat()})
        assert r.status_code == 201, r.text
        schedule = r.json()["schedule_id"]
        ballast = fill(room.data)
        await asyncio.sleep((due - datetime.now(UTC)).total_seconds() + 3)
        state = await room.state()
        assert state["live"] == []
        assert [s["schedule_id"] for s in state["scheduled"]] == [schedule]
        ballast.unlink()
        # Without a restart, the waiting schedule starts once the disk has room again.
        for _ in range(80):
            if (await room.state())["live"]:
                break
            await asyncio.sleep(0.5)
        assert [x["schedule_id"] for x in (await room.state())["live"]] == [schedule]
    log = room.box.log.read_text()
    assert f"scheduled lecture {schedule} waits: storage full" in log, log
    assert "Traceback" not in log, log


def test_serve_on_a_full_disk_says_so_and_starts_once_there_is_room(tmp_path: Path) -> None:
    """SQLite needs a little space to open its database (the -shm file); with none, `serve`
    printed a traceback at every one of systemd's restarts. Now it says what to do, exits 75
    (systemd keeps retrying), and starts by itself once space is back."""
    with small_disk(tmp_path / "data") as data:
        add_teacher(data, "alice", PASSWORD)
        ballast = fill(data)
        ran = serve_until_exit(data)
        assert (ran.returncode, "Traceback" in ran.stderr) == (EXIT_FULL, False), ran.stderr
        assert f"the disk holding {data} is full" in ran.stderr, ran.stderr
        ballast.unlink()
        box = BoxProcess(data).start()
        box.stop()


def test_serve_on_a_read_only_filesystem_says_so(tmp_path: Path) -> None:
    """The kernel remounts an SD card that reports errors read-only; `serve` then says so and
    what to do, and exits 74, which the unit does not restart on."""
    with small_disk(tmp_path / "data") as data:
        add_teacher(data, "alice", PASSWORD)
        BoxProcess(data).start().stop()
        subprocess.run(["mount", "-o", "remount,ro", str(data)], check=True)
        ran = serve_until_exit(data)
        assert (ran.returncode, "Traceback" in ran.stderr) == (EXIT_READ_ONLY, False), ran.stderr
        assert f"the box cannot write to {data}" in ran.stderr, ran.stderr
        assert "read-only" in ran.stderr
