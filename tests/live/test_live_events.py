"""Lecture actions reach exactly the students of the right section, and the teacher, live."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.helpers import RunningBox, wait_for

FIELDS = {
    "lecture_started": {"session_id", "title", "subject", "start_time", "duration_minutes",
                        "schedule_id"},
    "lecture_scheduled": {"schedule_id", "title", "subject", "scheduled_time",
                          "duration_minutes"},
    "lecture_ended": {"session_id", "end_time", "summary"},
    "lecture_cancelled": {"schedule_id"},
    "lecture_duration_update": {"session_id", "duration_minutes"},
    "lecture_progress_update": {"session_id", "progress", "note"},
}


async def test_events_reach_only_their_section(box: RunningBox) -> None:
    teacher = await box.teacher()
    cls = await teacher.make_class()
    a, b = cls["sections"]
    a_students = [await box.student(a["join_code"], f"A{i}") for i in range(2)]
    b_student = await box.student(b["join_code"], "B0")
    a_streams = [await box.stream(s.token) for s in a_students]
    b_stream = await box.stream(b_student.token)
    t_stream = await box.stream(teacher.token)

    section = {"class_id": cls["class_id"], "section_id": a["section_id"]}
    live = await teacher.ok("/api/lecture/start", {**section, "subject": "Math",
                                                   "title": "Fractions"}, 201)
    sid = live["session_id"]
    await teacher.ok("/api/lecture/progress", {"session_id": sid, "progress": 40, "note": "p. 12"})
    await teacher.ok("/api/lecture/duration", {"session_id": sid, "duration_minutes": 50})
    when = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    sched = await teacher.ok("/api/lecture/schedule", {**section, "subject": "Math",
                                                       "title": "Decimals",
                                                       "scheduled_time": when}, 201)
    await teacher.ok("/api/lecture/cancel", {"schedule_id": sched["schedule_id"]})
    await teacher.ok("/api/lecture/end", {"session_id": sid, "summary": "Well done"})

    expected = ["lecture_started", "lecture_progress_update", "lecture_duration_update",
                "lecture_scheduled", "lecture_cancelled", "lecture_ended"]
    for stream in [*a_streams, t_stream]:
        await wait_for(lambda s=stream: len(s.events) == 6)
        assert [e["type"] for e in stream.events] == expected
        seqs = [e["seq"] for e in stream.events]
        assert seqs == sorted(seqs) and len(set(seqs)) == 6
        for event in stream.events:
            assert FIELDS[event["type"]] <= event.keys()
            assert (event["class_id"], event["section_id"]) == (cls["class_id"], a["section_id"])
    ended = a_streams[0].events[-1]
    assert ended["summary"] == "Well done" and ended["lecture"]["status"] == "ended"
    assert a_streams[0].events[1]["progress"] == 40 and a_streams[0].events[1]["note"] == "p. 12"
    assert b_stream.events == []


async def test_teacher_gets_student_count_once_per_student(box: RunningBox) -> None:
    teacher = await box.teacher()
    cls = await teacher.make_class(sections=("A",))
    t_stream = await box.stream(teacher.token)
    counts: list[dict] = []
    t_stream.sio.on("student_count", lambda data: counts.append(data))
    student = await box.student(cls["sections"][0]["join_code"])
    first = await box.stream(student.token)
    await wait_for(lambda: counts and counts[-1]["count"] == 1)
    second_tab = await box.stream(student.token)
    await first.disconnect()
    await second_tab.disconnect()
    await wait_for(lambda: counts[-1]["count"] == 0)
    assert [c["count"] for c in counts] == [1, 0]
    assert counts[0]["students"][0]["name"] == "Sam"
