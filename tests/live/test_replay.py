"""Nothing missed: replay-then-live ordering, pruning and garbage positions (issue 3)."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.helpers import RunningBox, Teacher, running_box, wait_for


async def two_hundred_changes(teacher: Teacher, section: dict[str, int]) -> None:
    """Progress, duration, start, end, schedule and cancel: 200 events in all."""
    count, rng = 0, random.Random(7)
    while count < 200:
        live = await teacher.ok("/api/lecture/start", {**section, "subject": "Sci",
                                                       "title": f"L{count}"}, 201)
        count += 1
        for _ in range(min(12, 200 - count - 3)):
            await teacher.ok("/api/lecture/progress", {"session_id": live["session_id"],
                                                       "progress": rng.randint(0, 100)})
            count += 1
        if count <= 197:
            await teacher.ok("/api/lecture/duration", {"session_id": live["session_id"],
                                                       "duration_minutes": rng.randint(1, 600)})
            when = (datetime.now(UTC) + timedelta(days=1)).isoformat()
            sched = await teacher.ok("/api/lecture/schedule", {**section, "subject": "Sci",
                                                               "title": "S",
                                                               "scheduled_time": when}, 201)
            count += 2
            if count < 199:
                await teacher.ok("/api/lecture/cancel", {"schedule_id": sched["schedule_id"]})
                count += 1
        await teacher.ok("/api/lecture/end", {"session_id": live["session_id"]})
        count += 1
    assert count == 200


async def test_offline_student_gets_exactly_the_200_missed_events(box: RunningBox) -> None:
    teacher = await box.teacher()
    cls = await teacher.make_class()
    a = cls["sections"][0]
    section = {"class_id": cls["class_id"], "section_id": a["section_id"]}
    student = await box.student(a["join_code"])
    stream = await box.stream(student.token)
    await teacher.ok("/api/lecture/start", {**section, "subject": "Warm", "title": "up"}, 201)
    await wait_for(lambda: len(stream.events) == 1)
    live = stream.events[0]["session_id"]
    await teacher.ok("/api/lecture/end", {"session_id": live})
    await wait_for(lambda: len(stream.events) == 2)
    await stream.disconnect()
    offline_from = stream.last_seq

    await two_hundred_changes(teacher, section)
    # noise in the other section must not be replayed to this student
    other = {"class_id": cls["class_id"], "section_id": cls["sections"][1]["section_id"]}
    await teacher.ok("/api/lecture/start", {**other, "subject": "X", "title": "other"}, 201)

    back = await box.stream(student.token, last_seq=offline_from)
    await wait_for(lambda: len(back.syncs) == 1)
    seqs = [e["seq"] for e in back.events]
    assert len(back.events) == 200
    assert seqs == sorted(seqs) and len(set(seqs)) == 200 and seqs[0] > offline_from
    assert {e["section_id"] for e in back.events} == {a["section_id"]}
    sync = back.syncs[0]
    assert sync["recovered"] is True and sync["seq"] >= seqs[-1]
    listed = (await student.get("/api/lectures")).json()
    for key in ("live", "scheduled", "ended"):
        assert sync[key] == listed[key]
    assert back.dropped == 0


async def test_replay_is_ordered_before_live_events_under_a_race(box: RunningBox) -> None:
    """50 students reconnect at once while the teacher fires 100 progress updates."""
    teacher = await box.teacher()
    cls = await teacher.make_class(sections=("A",))
    a = cls["sections"][0]
    section = {"class_id": cls["class_id"], "section_id": a["section_id"]}
    students = [await box.student(a["join_code"], f"S{i}") for i in range(50)]
    first = [await box.stream(s.token) for s in students]
    live = await teacher.ok("/api/lecture/start", {**section, "subject": "M", "title": "T"}, 201)
    await wait_for(lambda: all(len(c.events) == 1 for c in first), timeout=10)
    positions = [c.last_seq for c in first]
    for c in first:
        await c.disconnect()
    await teacher.ok("/api/lecture/progress", {"session_id": live["session_id"], "progress": 1})

    async def fire() -> None:
        for i in range(100):
            await teacher.ok("/api/lecture/progress",
                             {"session_id": live["session_id"], "progress": i % 101})

    async def reconnect(token: str, pos: int | None) -> Any:
        return await box.stream(token, last_seq=pos)

    results = await asyncio.gather(fire(), *[reconnect(s.token, p)
                                             for s, p in zip(students, positions, strict=True)])
    clients = results[1:]
    expected_count = 101
    await wait_for(lambda: all(len(c.events) == expected_count for c in clients), timeout=20)
    for c in clients:
        seqs = [e["seq"] for e in c.events]
        assert seqs == sorted(seqs) and len(set(seqs)) == expected_count
        assert c.dropped == 0
        assert len(c.syncs) == 1
    reference = [e["seq"] for e in clients[0].events]
    assert all([e["seq"] for e in c.events] == reference for c in clients)


async def test_pruned_window_means_full_state(tmp_path: Any) -> None:
    async with running_box(tmp_path, replay_window=0.0) as box:
        teacher = await box.teacher()
        cls = await teacher.make_class(sections=("A",))
        a = cls["sections"][0]
        section = {"class_id": cls["class_id"], "section_id": a["section_id"]}
        student = await box.student(a["join_code"])
        stream = await box.stream(student.token)
        await teacher.ok("/api/lecture/start", {**section, "subject": "M", "title": "T"}, 201)
        await wait_for(lambda: len(stream.events) == 1)
        old = stream.last_seq
        await stream.disconnect()
        live = stream.events[0]["session_id"]
        await teacher.ok("/api/lecture/progress", {"session_id": live, "progress": 5})
        await asyncio.sleep(0.05)
        assert await box.box.events.prune(0.0) >= 2
        back = await box.stream(student.token, last_seq=old)
        assert back.events == []
        assert back.syncs[0]["recovered"] is False
        assert back.syncs[0]["live"][0]["progress"] == 5


@pytest.mark.parametrize("garbage", ["12", -1, 10**18, None, {"a": 1}, 3.5, True, [1]])
async def test_garbage_last_seq_gets_full_state(box: RunningBox, garbage: Any) -> None:
    teacher = await box.teacher()
    cls = await teacher.make_class(sections=("A",))
    a = cls["sections"][0]
    await teacher.ok("/api/lecture/start", {"class_id": cls["class_id"],
                                            "section_id": a["section_id"], "subject": "M",
                                            "title": "T"}, 201)
    student = await box.student(a["join_code"])
    stream = await box.stream(student.token, last_seq=garbage)
    assert stream.events == []
    assert stream.syncs[0]["recovered"] is False
    assert stream.syncs[0]["live"][0]["title"] == "T"
    assert stream.sio.connected


async def test_no_last_seq_is_no_recovery(box: RunningBox) -> None:
    teacher = await box.teacher()
    stream = await box.stream(teacher.token)
    assert stream.syncs[0]["recovered"] is False
