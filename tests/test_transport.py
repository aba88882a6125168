"""The engineio socket tuning (transport.py) is really in effect and keeps the packet order."""

from __future__ import annotations

from classroom_box.transport import LeanSocket
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
