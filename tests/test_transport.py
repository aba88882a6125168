"""The engineio socket tuning (transport.py) is really in effect and keeps the packet order."""

from __future__ import annotations

import asyncio

from classroom_box.live.transport import LeanSocket
from tests.helpers import RunningBox, wait_for


async def test_sockets_use_the_lean_writer_and_stay_ordered(box: RunningBox) -> None:
    teacher = await box.teacher()
    cls = await teacher.make_class(sections=("A",))
    section = cls["sections"][0]
    student = await box.student(section["join_code"])
    stream = await box.stream(student.token)
    eio = box.app.box.realtime.sio.eio
    assert eio.sockets and all(type(s) is LeanSocket for s in eio.sockets.values())
    live = await teacher.ok("/api/lecture/start", {"class_id": cls["class_id"],
                                                   "section_id": section["section_id"],
                                                   "subject": "S", "title": "T"}, 201)
    for i in range(30):
        await teacher.ok("/api/lecture/progress", {"session_id": live["session_id"],
                                                   "progress": i})
    await wait_for(lambda: len(stream.events) == 31)
    assert [e.get("progress") for e in stream.events[1:]] == list(range(30))


async def test_long_polling_clients_get_replay_and_live_events(box: RunningBox) -> None:
    """The non-websocket path of LeanSocket.poll (with its timeout) delivers in order too."""
    teacher = await box.teacher()
    cls = await teacher.make_class(sections=("A",))
    section = cls["sections"][0]
    student = await box.student(section["join_code"])
    first = await box.stream(student.token)
    live = await teacher.ok("/api/lecture/start", {"class_id": cls["class_id"],
                                                   "section_id": section["section_id"],
                                                   "subject": "S", "title": "T"}, 201)
    await wait_for(lambda: len(first.events) == 1)
    await first.disconnect()
    for i in range(5):
        await teacher.ok("/api/lecture/progress", {"session_id": live["session_id"],
                                                   "progress": i})
    from classroom_box.client import StreamClient

    polling = StreamClient(box.url, student.token, last_seq=first.last_seq)
    await polling.connect(transports=["polling"])
    await wait_for(lambda: polling.state is not None)
    assert [e["progress"] for e in polling.events] == [0, 1, 2, 3, 4]
    assert polling.syncs[0]["recovered"] is True
    await teacher.ok("/api/lecture/progress", {"session_id": live["session_id"], "progress": 99})
    await wait_for(lambda: len(polling.events) == 6)
    assert polling.events[-1]["progress"] == 99
    # A goodbye must end the server's pending long-poll GET at once (LeanSocket.close); with
    # python-engineio's async socket alone it hung for ping interval + timeout (45 s).
    await asyncio.wait_for(polling.disconnect(), 10)


async def test_teacher_in_a_classroom_room_gets_each_event_once(box: RunningBox) -> None:
    teacher = await box.teacher()
    cls = await teacher.make_class(sections=("A",))
    section = {"class_id": cls["class_id"], "section_id": cls["sections"][0]["section_id"]}
    stream = await box.stream(teacher.token)
    ack = await stream.sio.call("join_classroom", section)
    assert ack["ok"] is True
    await teacher.ok("/api/lecture/start", {**section, "subject": "S", "title": "T"}, 201)
    await wait_for(lambda: len(stream.events) == 1)
    await teacher.ok("/api/lecture/start", {**section, "subject": "S", "title": "T"}, 409)
    live = (await teacher.get("/api/lectures")).json()["live"][0]
    await teacher.ok("/api/lecture/end", {"session_id": live["session_id"]})
    await wait_for(lambda: len(stream.events) == 2)
    assert stream.dropped == 0  # no duplicate ever arrived
