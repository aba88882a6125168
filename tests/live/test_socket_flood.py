"""A flooding socket gets negative acks, then is cut off; everyone else keeps every event.

Timing is not asserted here (CI machines vary); `scripts/flood_check.py` measures latency.
"""

from __future__ import annotations

import asyncio
from typing import Any

from tests.helpers import RunningBox, wait_for
from tests.security_helpers import socket_connect

STUDENTS = 30
LECTURE_EVENTS = 4


async def flood(sock: Any, count: int) -> list[Any]:
    """Emit as fast as possible; collect acks until the box hangs up."""
    async def one(i: int) -> Any:
        try:
            return await sock.call("student_connect", {}, timeout=5)
        except Exception as exc:  # disconnected mid-flood: that is the point
            return type(exc).__name__
    return await asyncio.gather(*(one(i) for i in range(count)))


async def test_flooder_is_cut_off_and_others_get_every_event(box: RunningBox) -> None:
    teacher = await box.teacher()
    cls = await teacher.make_class()
    code = cls["sections"][0]["join_code"]
    section = {"class_id": cls["class_id"], "section_id": cls["sections"][0]["section_id"]}
    students = [await box.stream((await box.student(code, f"s{i}")).token)
                for i in range(STUDENTS)]
    attacker = await box.student(code, "flooder")
    sock = await socket_connect(box.url, attacker.token)
    assert sock is not None

    flooding = asyncio.create_task(flood(sock, 300))
    live = await teacher.ok("/api/lecture/start", {**section, "subject": "M", "title": "T"}, 201)
    for p in (25, 50, 75):
        await teacher.ok("/api/lecture/progress", {"session_id": live["session_id"], "progress": p})
    acks = await flooding

    oks = [a for a in acks if isinstance(a, dict) and a.get("ok")]
    refused = [a for a in acks if isinstance(a, dict) and not a.get("ok")]
    assert 15 <= len(oks) <= 30  # the burst of 20 (plus refill), then no more
    assert refused and all("rate limited" in a["error"] for a in refused)
    await wait_for(lambda: not sock.connected)
    assert box.box.realtime.conns.get(sock.get_sid()) is None
    assert await socket_connect(box.url, attacker.token) is None  # cooling down: no reconnect
    for client in students:
        await wait_for(lambda c=client: len(c.events) == LECTURE_EVENTS)
        assert [e["type"] for e in client.events] == [
            "lecture_started"] + ["lecture_progress_update"] * 3
    assert (await teacher.get("/api/me")).status_code == 200
