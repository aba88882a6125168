"""What does a socket see? Connect auth, rooms, presence and rate limits; catch-up is catchup.py.

Events reach the sockets through the dispatcher (dispatch.py), whose queue is in seq order, and the
fan-out (fanout.py), which holds back events for a socket that catchup.py is still bringing up to
date. No event is lost, none is sent twice, and nothing overtakes the replay.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import socketio

from classroom_box.domain.auth import Principal, cookie_token, principal_for, token_hash
from classroom_box.domain.classes import Classes
from classroom_box.domain.events import EventLog, classroom_room, teacher_room
from classroom_box.domain.ratelimit import KeyedBuckets, TokenBucket, is_box_itself
from classroom_box.domain.store import Store
from classroom_box.domain.validation import ApiError, Field, validate
from classroom_box.live.catchup import CatchUp
from classroom_box.live.conn import Conn
from classroom_box.live.dispatch import Dispatcher
from classroom_box.live.fanout import ClassroomManager
from classroom_box.live.gcpolicy import QuietCollector
from classroom_box.live.transport import peer_address

log = logging.getLogger(__name__)
COUNT_DEBOUNCE = 0.25  # seconds: how stale a teacher's online count may be
ROOM_SCHEMA = {"class_id": Field("id"), "section_id": Field("id")}
FLOOD_STRIKES = 20  # refused events tolerated before the box hangs up
FLOOD_COOLDOWN = 30.0  # seconds a flooder's token may not reconnect (a reconnect costs a replay)


@dataclass
class Presence:
    """Who is online, per section: student id -> number of open sockets (two tabs count once)."""

    sockets: dict[int, dict[int, int]] = field(default_factory=lambda: defaultdict(dict))
    names: dict[int, str] = field(default_factory=dict)

    def add(self, section_id: int, student_id: int, name: str) -> bool:
        counts = self.sockets[section_id]
        counts[student_id] = counts.get(student_id, 0) + 1
        self.names[student_id] = name
        return counts[student_id] == 1

    def remove(self, section_id: int, student_id: int) -> bool:
        counts = self.sockets[section_id]
        counts[student_id] = counts.get(student_id, 1) - 1
        if counts[student_id] <= 0:
            del counts[student_id]
            return True
        return False

    def roster(self, section_id: int) -> list[dict[str, Any]]:
        ids = sorted(self.sockets.get(section_id, {}))
        return [{"id": i, "name": self.names.get(i, "")} for i in ids]


class Realtime:
    def __init__(self, store: Store, events: EventLog, classes: Classes,
                 sio: socketio.AsyncServer, manager: ClassroomManager, dispatcher: Dispatcher,
                 max_per_address: int = 200) -> None:
        self.store, self.events, self.classes = store, events, classes
        self.sio, self.manager, self.dispatcher = sio, manager, dispatcher
        self.conns: dict[str, Conn] = {}
        self.presence = Presence()
        self.catchup = CatchUp(store, events, classes, manager)
        self._counts_due: set[int] = set()
        self.per_address: dict[str, int] = defaultdict(int)
        self.max_per_address = max_per_address
        self.cooldown: dict[str, float] = {}  # token hash -> monotonic time it may reconnect
        # Each connect costs a lookup and a replay (~53 KB for a student at last_seq=0): one
        # token reconnecting 150 times a second raised the class's p95 from 9 to 99 ms
        # (issue 15). A device may reconnect 10 times in a row, then once every 2 s; an address
        # (a class behind one NAT after a Wi-Fi blip) 200 at once, then 20 a second.
        self.connects_per_token = KeyedBuckets(rate=0.5, burst=10)
        self.connects_per_address = KeyedBuckets(rate=20, burst=200)
        self.collector = QuietCollector(busy=dispatcher.busy)
        self._collecting: asyncio.Task[None] | None = None
        self._register()

    # --- the live path -------------------------------------------------------------------
    async def start(self) -> None:
        self.dispatcher.start(partial(self.manager.fanout, park=self.catchup.park))
        self._collecting = asyncio.create_task(self.collector.run(), name="quiet-gc")

    async def stop(self) -> None:
        if self._collecting:
            self._collecting.cancel()
        await self.dispatcher.stop()

    async def announce_shutdown(self) -> None:
        """Flush what is committed, then tell every client the box is going away for now.

        Clients then see the transport close (not a Socket.IO disconnect, which would stop
        socket.io-client from reconnecting) and come back with their last_seq.
        """
        await self.dispatcher.flush()
        await self.sio.emit("box_shutdown", {"restarting": True})

    # --- connect, replay, state ------------------------------------------------------------
    def _register(self) -> None:
        self.sio.on("connect", self.on_connect)
        self.sio.on("disconnect", self.on_disconnect)
        for name in ("join_classroom", "leave_classroom", "teacher_connect", "student_connect"):
            self.sio.on(name, self._guarded(name, getattr(self, "on_" + name)))
        unknown = self._guarded("*", self.on_unknown_event)

        async def any_other_event(event: str, sid: str, *args: Any) -> dict[str, Any]:
            """Unknown event names cost tokens too, so they cannot be flooded for free."""
            return await unknown(sid, *args)

        self.sio.on("*", any_other_event)

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        auth = auth if isinstance(auth, dict) else {}
        token = auth.get("token") or cookie_token(environ.get("HTTP_COOKIE", ""))
        if isinstance(token, str) and self.cooldown.get(token_hash(token), 0) > time.monotonic():
            raise socketio.exceptions.ConnectionRefusedError("flooding: wait before reconnecting")
        principal = await principal_for(self.store, token)
        if principal is None:
            raise socketio.exceptions.ConnectionRefusedError("authentication required")
        address = peer_address(environ)
        if self.per_address[address] >= self.max_per_address:
            raise socketio.exceptions.ConnectionRefusedError("too many connections")
        if not (is_box_itself(address) or (self.connects_per_token.take(principal.token_hash)
                                           and self.connects_per_address.take(address))):
            raise socketio.exceptions.ConnectionRefusedError("reconnecting too fast: wait")
        if not principal.seen:
            await self.classes.mark_seen(principal.id)
        self.per_address[address] += 1
        rooms = await self._rooms_for(principal)
        self.catchup.begin(sid)  # before entering rooms: nothing can slip past
        for room in rooms:
            await self.sio.enter_room(sid, room)
        self.conns[sid] = Conn(principal, address, rooms, TokenBucket(rate=5, burst=20))
        if principal.kind == "student":
            assert principal.section_id is not None
            if self.presence.add(principal.section_id, principal.id, principal.name):
                self._count_changed(principal.class_id or 0, principal.section_id)
        self.sio.start_background_task(self.catchup.run, sid, self.conns.get, auth.get("last_seq"))

    async def _rooms_for(self, principal: Principal) -> set[str]:
        if principal.kind == "teacher":
            return {teacher_room(principal.id)}
        assert principal.class_id is not None and principal.section_id is not None
        return {classroom_room(principal.class_id, principal.section_id)}

    async def on_disconnect(self, sid: str, reason: Any = None) -> None:
        self.collector.note_disconnect()
        self.catchup.end(sid)
        conn = self.conns.pop(sid, None)
        if conn is None:
            return
        self.per_address[conn.address] -= 1
        if self.per_address[conn.address] <= 0:
            del self.per_address[conn.address]
        p = conn.principal
        if p.kind == "student" and p.section_id is not None:
            if self.presence.remove(p.section_id, p.id):
                self._count_changed(p.class_id or 0, p.section_id)

    def _count_changed(self, class_id: int, section_id: int) -> None:
        """Coalesce: a class of 30 arriving at once is one roster update, not 30 growing ones.

        (Each update carries the whole roster; sending one per connect made a reconnect storm
        of N students cost O(N^2).)
        """
        if section_id in self._counts_due:
            return
        self._counts_due.add(section_id)
        self.sio.start_background_task(self._announce_count, class_id, section_id)

    async def _announce_count(self, class_id: int, section_id: int) -> None:
        await asyncio.sleep(COUNT_DEBOUNCE)
        self._counts_due.discard(section_id)
        section = await self.classes.section(section_id)
        if section is None:
            return
        roster = self.presence.roster(section_id)
        await self.sio.emit(
            "student_count",
            {"class_id": class_id, "section_id": section_id, "count": len(roster),
             "students": roster},
            room=teacher_room(section["teacher_id"]),
        )

    def roster(self, section_id: int) -> list[dict[str, Any]]:
        return self.presence.roster(section_id)

    async def disconnect_token(self, hashed: str) -> None:
        """Logout revokes the token: its open sockets go too."""
        for sid, conn in list(self.conns.items()):
            if conn.principal.token_hash == hashed:
                await self.sio.disconnect(sid)

    # --- client -> server events -----------------------------------------------------------
    def _guarded(self, name: str, handler: Any) -> Any:
        """Rate-limit, then run; any ApiError becomes a negative ack, never a crash."""

        async def run(sid: str, *args: Any) -> dict[str, Any]:
            data = args[0] if args else None  # extra arguments from a hostile client are ignored
            conn = self.conns.get(sid)
            if conn is None:
                return {"ok": False, "error": "not connected"}
            if not conn.bucket.take(time.monotonic()):
                conn.strikes += 1
                if conn.strikes > FLOOD_STRIKES:
                    log.warning("disconnecting %s (%s): event flood", sid, conn.address)
                    self._cool_down(conn.principal.token_hash)
                    await self.sio.disconnect(sid)
                return {"ok": False, "error": "rate limited: slow down"}
            try:
                return await handler(conn, sid, data)
            except ApiError as exc:
                return {"ok": False, "error": exc.message}

        run.__name__ = name
        return run

    def _cool_down(self, hashed: str) -> None:
        now = time.monotonic()
        if len(self.cooldown) > 10_000:
            self.cooldown = {k: t for k, t in self.cooldown.items() if t > now}
        self.cooldown[hashed] = now + FLOOD_COOLDOWN

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

    async def on_join_classroom(self, conn: Conn, sid: str, data: Any) -> dict[str, Any]:
        room = await self._room_for_request(conn, data)
        if room not in conn.rooms:
            conn.rooms.add(room)
            await self.sio.enter_room(sid, room)
        return {"ok": True, "room": room}

    async def on_leave_classroom(self, conn: Conn, sid: str, data: Any) -> dict[str, Any]:
        room = await self._room_for_request(conn, data)
        conn.rooms.discard(room)
        await self.sio.leave_room(sid, room)
        return {"ok": True, "room": room}

    async def on_unknown_event(self, conn: Conn, sid: str, data: Any) -> dict[str, Any]:
        raise ApiError(404, "unknown_event", "no such event")

    async def on_teacher_connect(self, conn: Conn, sid: str, data: Any) -> dict[str, Any]:
        if conn.principal.kind != "teacher":
            raise ApiError(403, "forbidden", "not a teacher")
        return {"ok": True, "user_id": conn.principal.id, "rooms": sorted(conn.rooms)}

    async def on_student_connect(self, conn: Conn, sid: str, data: Any) -> dict[str, Any]:
        p = conn.principal
        if p.kind != "student":
            raise ApiError(403, "forbidden", "not a student")
        return {"ok": True, "student_id": p.id, "class_id": p.class_id,
                "section_id": p.section_id, "rooms": sorted(conn.rooms)}


