"""The per-socket room index (live/rooms.py) against python-socketio's own room table, on a real
box with real clients: it must name exactly the rooms each socket is in, and a socket that
leaves must leave no trace in either (a stale sid in a room would be sent to; a stale index
entry would grow for good)."""

from __future__ import annotations

import inspect

import socketio

from classroom_box.live.rooms import IndexedRooms
from tests.helpers import RunningBox, wait_for


def test_the_overridden_manager_methods_keep_their_signatures() -> None:
    """IndexedRooms replaces basic_disconnect and wraps enter/leave: a changed upstream
    signature must fail here, not silently bypass the index."""
    for name in ("basic_enter_room", "basic_leave_room", "basic_disconnect", "get_rooms"):
        upstream = inspect.signature(getattr(socketio.AsyncManager, name)).parameters
        ours = inspect.signature(getattr(IndexedRooms, name)).parameters
        assert list(upstream) == list(ours), name


def table_rooms(manager: IndexedRooms) -> dict[str, set[str | None]]:
    """sid -> rooms, as python-socketio's own table says."""
    found: dict[str, set[str | None]] = {}
    for room, members in manager.rooms.get("/", {}).items():
        for sid in members:
            found.setdefault(sid, set()).add(room)
    return found


async def test_index_matches_the_room_table_through_connects_and_disconnects(
        box: RunningBox) -> None:
    teacher = await box.teacher()
    cls = await teacher.make_class(sections=("A",))
    section = cls["sections"][0]
    students = [await box.student(section["join_code"], f"S{i}") for i in range(6)]
    streams = [await box.stream(s.token) for s in students]
    await box.stream(teacher.token)
    manager = box.app.box.realtime.manager
    index = {sid: rooms for (ns, sid), rooms in manager.rooms_of.items() if ns == "/"}
    assert index == table_rooms(manager) and len(index) == 7
    classroom = f"classroom:{cls['class_id']}:{section['section_id']}"
    assert all(classroom in manager.get_rooms(sid, "/") for sid in index
               if box.app.box.realtime.conns[sid].principal.kind == "student")

    for stream in streams[:4]:
        await stream.disconnect()
    await wait_for(lambda: len(box.app.box.realtime.conns) == 3)
    index = {sid: rooms for (ns, sid), rooms in manager.rooms_of.items() if ns == "/"}
    assert index == table_rooms(manager) and len(index) == 3
    assert set(index) == set(box.app.box.realtime.conns)

    live = await teacher.ok("/api/lecture/start", {"class_id": cls["class_id"],
                                                   "section_id": section["section_id"],
                                                   "subject": "S", "title": "T"}, 201)
    for stream in streams[4:]:  # those still connected still hear their class
        await wait_for(lambda s=stream: any(e.get("lecture", {}).get("session_id")
                                            == live["session_id"] for e in s.events))
