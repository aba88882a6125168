"""kill -9 mid-stream: every 2xx action survives, and a reconnecting student misses nothing."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import httpx

from classroom_box.client import StreamClient
from tests.helpers import PASSWORD, wait_for
from tests.process import BoxProcess, add_teacher


async def test_kill_9_mid_stream_loses_nothing_acknowledged(tmp_path: Path) -> None:
    data = tmp_path / "data"
    add_teacher(data, "alice", PASSWORD)
    box = BoxProcess(data).start()
    try:
        async with httpx.AsyncClient(base_url=box.url, timeout=5) as http:
            r = await http.post("/api/auth/login", json={"username": "alice",
                                                        "password": PASSWORD})
            auth = {"Authorization": "Bearer " + r.json()["token"]}
            cls = (await http.post("/api/classes", json={"name": "C", "sections": ["A"]},
                                   headers=auth)).json()
            sec = cls["sections"][0]
            joined = (await http.post("/api/join", json={"join_code": sec["join_code"],
                                                         "name": "Kim"})).json()
            student = StreamClient(box.url, joined["token"])
            await student.connect()
            await wait_for(lambda: student.state is not None)
            live = (await http.post("/api/lecture/start", headers=auth, json={
                "class_id": cls["class_id"], "section_id": sec["section_id"],
                "subject": "S", "title": "T"})).json()
            await wait_for(lambda: len(student.events) == 1)
            await student.disconnect()
            seen = student.last_seq

            acked: list[int] = []

            async def stream_actions() -> None:
                for i in range(10_000):
                    try:
                        r = await http.post("/api/lecture/progress", headers=auth, json={
                            "session_id": live["session_id"], "progress": i % 101,
                            "note": f"n{i}"})
                    except httpx.HTTPError:
                        return
                    if r.status_code == 200:
                        acked.append(i)

            actions = asyncio.create_task(stream_actions())
            await wait_for(lambda: len(acked) >= 30, timeout=20)
            box.kill()
            await asyncio.wait_for(actions, 10)
        assert len(acked) >= 30

        with sqlite3.connect(data / "classroom-box.db") as db:
            notes = [row[0] for row in db.execute(
                "SELECT json_extract(payload, '$.note') FROM events"
                " WHERE type = 'lecture_progress_update' ORDER BY seq")]
        logged = [int(n[1:]) for n in notes]
        assert set(acked) <= set(logged)  # every 2xx is on disk
        assert logged == sorted(logged)

        box.start()
        back = StreamClient(box.url, joined["token"], last_seq=seen)
        await back.connect()
        await wait_for(lambda: back.state is not None)
        got = [int(e["note"][1:]) for e in back.events]
        assert got == logged  # exactly once, in order, nothing missing
        assert back.syncs[0]["recovered"] is True
        await back.disconnect()
    finally:
        box.kill()
