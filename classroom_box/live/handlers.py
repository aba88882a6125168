"""What a connected device may ask over its socket: one short handler per client event.

Owns the client -> server events (`join_classroom`, `leave_classroom`, `teacher_connect`,
`student_connect`, and a refusal for any other name), each validate -> authorize -> act -> ack.
Every handler runs behind flood control. It must never change lecture state (that is HTTP's job,
through the domain) and never answer with anything but an ack dict.
"""

from __future__ import annotations

from typing import Any

import socketio

from classroom_box.domain.classes import Classes
from classroom_box.domain.events import classroom_room
from classroom_box.domain.validation import ApiError, Field, validate
from classroom_box.live.conn import Conn
from classroom_box.live.flood import Ack, FloodControl

ROOM_SCHEMA = {"class_id": Field("id"), "section_id": Field("id")}
EVENTS = ("join_classroom", "leave_classroom", "teacher_connect", "student_connect")


class ClientEvents:
    def __init__(self, sio: socketio.AsyncServer, classes: Classes) -> None:
        self.sio, self.classes = sio, classes

    def register(self, flood: FloodControl) -> None:
        for name in EVENTS:
            self.sio.on(name, flood.guarded(name, getattr(self, "on_" + name)))
        unknown = flood.guarded("*", self.on_unknown_event)

        async def any_other_event(event: str, sid: str, *args: Any) -> Ack:
            """Unknown event names cost tokens too, so they cannot be flooded for free."""
            return await unknown(sid, *args)

        self.sio.on("*", any_other_event)

    async def _room_for_request(self, conn: Conn, data: Any) -> str:
        req = validate(data, ROOM_SCHEMA)
        p = conn.principal
        if p.kind == "student":
            if (req["class_id"], req["section_id"]) != (p.class_id, p.section_id):
                raise ApiError(403, "forbidden", "students may only join their own section")
        else:
            owned = await self.classes.teacher_sections(p.id)
            if (req["class_id"], req["section_id"]) not in owned:
                raise ApiError(403, "forbidden", "that class belongs to another teacher")
        return classroom_room(req["class_id"], req["section_id"])

    async def on_join_classroom(self, conn: Conn, sid: str, data: Any) -> Ack:
        room = await self._room_for_request(conn, data)
        if room not in conn.rooms:
            conn.rooms.add(room)
            await self.sio.enter_room(sid, room)
        return {"ok": True, "room": room}

    async def on_leave_classroom(self, conn: Conn, sid: str, data: Any) -> Ack:
        room = await self._room_for_request(conn, data)
        conn.rooms.discard(room)
        await self.sio.leave_room(sid, room)
        return {"ok": True, "room": room}

    async def on_unknown_event(self, conn: Conn, sid: str, data: Any) -> Ack:
        raise ApiError(404, "unknown_event", "no such event")

    async def on_teacher_connect(self, conn: Conn, sid: str, data: Any) -> Ack:
        if conn.principal.kind != "teacher":
            raise ApiError(403, "forbidden", "not a teacher")
        return {"ok": True, "user_id": conn.principal.id, "rooms": sorted(conn.rooms)}

    async def on_student_connect(self, conn: Conn, sid: str, data: Any) -> Ack:
        p = conn.principal
        if p.kind != "student":
            raise ApiError(403, "forbidden", "not a student")
        return {"ok": True, "student_id": p.id, "class_id": p.class_id,
                "section_id": p.section_id, "rooms": sorted(conn.rooms)}
