"""What does a socket see? Connect auth, rooms, replay-then-live, presence and rate limits.

Ordering is the whole point here. Events reach this module through `publish()`, which the store
calls after each commit, still under the write lock, so the dispatcher queue holds events in seq
order and one dispatcher task sends them in that order. A connecting client is first marked
`syncing`: the fan-out parks its live events in a per-client buffer while the client is sent its
replay (read in one snapshot) and `state_sync`; then the buffer is drained, dropping anything the
snapshot already covered, and the client goes live. No event is lost, none is sent twice, and
nothing overtakes the replay.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import socketio
from engineio import packet as eio_packet

from classroom_box.auth import Principal, cookie_token, principal_for, token_hash
from classroom_box.classes import Classes
from classroom_box.events import Event, EventLog, classroom_room, teacher_room
from classroom_box.fanout import NAMESPACE, CatchUpCache, ClassroomManager
from classroom_box.gcpolicy import QuietCollector
from classroom_box.lectures import section_state
from classroom_box.ratelimit import KeyedBuckets, TokenBucket, is_box_itself
from classroom_box.store import Store
from classroom_box.transport import peer_address
from classroom_box.validation import ApiError, Field, validate

log = logging.getLogger(__name__)
COUNT_DEBOUNCE = 0.25  # seconds: how stale a teacher's online count may be
ROOM_SCHEMA = {"class_id": Field("id"), "section_id": Field("id")}
PresenceHook = Callable[[int, int, bool], None]  # section id, student id, online now
FLOOD_STRIKES = 20  # refused events tolerated before the box hangs up
FLOOD_COOLDOWN = 30.0  # seconds a flooder's token may not reconnect (a reconnect costs a replay)


@dataclass
class Conn:
    principal: Principal
    address: str
    rooms: set[str]
    bucket: TokenBucket
    strikes: int = 0


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
                 sio: socketio.AsyncServer, manager: ClassroomManager,
                 max_per_address: int = 200) -> None:
        self.store, self.events, self.classes = store, events, classes
        self.sio, self.manager = sio, manager
        self.queue: asyncio.Queue[Event] = asyncio.Queue()
        self.conns: dict[str, Conn] = {}
        self.presence = Presence()
        self.catch_ups = CatchUpCache()
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
        self._dispatcher: asyncio.Task[None] | None = None
        self.fanning_out = False
        self.collector = QuietCollector(busy=self.busy)
        self._collecting: asyncio.Task[None] | None = None
        # Attendance hears a student arrive (first socket) and leave (last socket); set by app.
        self.on_presence: PresenceHook = lambda section_id, student_id, online: None
        self._register()

    # --- the live path -------------------------------------------------------------------
    def publish(self, event: Event) -> None:
        """Called after commit, under the write lock: the queue is in seq order."""
        self.queue.put_nowait(event)

    async def start(self) -> None:
        self._dispatcher = asyncio.create_task(self._dispatch(), name="event-dispatcher")
        self._collecting = asyncio.create_task(self.collector.run(), name="quiet-gc")

    async def stop(self) -> None:
        if self._collecting:
            self._collecting.cancel()
        if self._dispatcher:
            await self.queue.join()
            self._dispatcher.cancel()

    async def announce_shutdown(self) -> None:
        """Flush what is committed, then tell every client the box is going away for now.

        Clients then see the transport close (not a Socket.IO disconnect, which would stop
        socket.io-client from reconnecting) and come back with their last_seq.
        """
        await self.queue.join()
        await self.sio.emit("box_shutdown", {"restarting": True})

    async def _dispatch(self) -> None:
        while True:
            event = await self.queue.get()
            self.fanning_out = True
            try:
                await self.manager.fanout(event)
            except Exception:
                log.exception("fan-out of seq %s failed", event.seq)
            finally:
                self.fanning_out = False
                self.queue.task_done()

    def busy(self) -> bool:
        """An event is being sent or waits to be: no time for a full GC pause."""
        return self.fanning_out or not self.queue.empty()

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
        self.manager.syncing[sid] = []  # before entering rooms: nothing can slip past
        for room in rooms:
            await self.sio.enter_room(sid, room)
        self.conns[sid] = Conn(principal, address, rooms, TokenBucket(rate=5, burst=20))
        if principal.kind == "student":
            assert principal.section_id is not None
            if self.presence.add(principal.section_id, principal.id, principal.name):
                self.on_presence(principal.section_id, principal.id, True)
                self._count_changed(principal.class_id or 0, principal.section_id)
        self.sio.start_background_task(self._sync, sid, auth.get("last_seq"))

    async def _rooms_for(self, principal: Principal) -> set[str]:
        if principal.kind == "teacher":
            return {teacher_room(principal.id)}
        assert principal.class_id is not None and principal.section_id is not None
        return {classroom_room(principal.class_id, principal.section_id)}

    async def _sections_of(self, conn: Conn) -> list[int]:
        if conn.principal.kind == "teacher":
            return [s for _, s in await self.classes.teacher_sections(conn.principal.id)]
        return [conn.principal.section_id or 0]

    async def _sync(self, sid: str, last_seq: object) -> None:
        """Replay, then state_sync, then drain what arrived meanwhile, then go live."""
        try:
            await self._wait_connected(sid)
            conn = self.conns.get(sid)
            if conn is None:
                return
            high, packets = await self._catch_up(conn, last_seq)
            await self.manager.send_packets(sid, packets)
            await self._drain(sid, high)
        finally:
            self.manager.syncing.pop(sid, None)

    async def _catch_up(self, conn: Conn, last_seq: object) -> tuple[int, list[eio_packet.Packet]]:
        """The replay and state_sync for this client, as encoded packets, from one snapshot.

        Students of one section reconnecting together (a class whose Wi-Fi came back) ask for
        the same thing: it is read and encoded once per newest seq, not once per student.
        """
        teacher_id = conn.principal.id if conn.principal.kind == "teacher" else None
        sections = await self._sections_of(conn)
        position = last_seq if type(last_seq) is int else None
        key = (tuple(sorted(conn.rooms)), teacher_id, position, tuple(sections))
        async with self.store.read() as tx:  # one snapshot for replay and state
            high = await self.events.high_seq(tx)
            cached = self.catch_ups.get(high, key)
            if cached is not None:
                return high, cached
            replay = await self.events.since(tx, position, list(key[0]), teacher_id)
            state = await section_state(tx, sections)
            rooms = await self.events.room_highs(tx, list(key[0]), teacher_id)
        encode = self.manager.encode
        packets = [p for event in replay.events for p in encode(event.type, event.payload)]
        packets += encode("state_sync", {"seq": replay.high_seq, "recovered": replay.recovered,
                                         "rooms": rooms, **state})
        self.catch_ups.put(high, key, packets)
        return high, packets

    async def _drain(self, sid: str, covered: int) -> None:
        parked = self.manager.syncing.get(sid)
        while parked:
            event = parked.pop(0)
            if event.seq > covered:
                await self.manager.send_to(sid, event.type, event.payload)
        # No await between the last check and this pop: the next event goes out live.
        self.manager.syncing.pop(sid, None)

    async def _wait_connected(self, sid: str) -> None:
        for _ in range(100):
            if self.manager.is_connected(sid, NAMESPACE) or sid not in self.conns:
                return
            await asyncio.sleep(0.01)

    async def on_disconnect(self, sid: str, reason: Any = None) -> None:
        self.collector.note_disconnect()
        self.manager.syncing.pop(sid, None)
        conn = self.conns.pop(sid, None)
        if conn is None:
            return
        self.per_address[conn.address] -= 1
        if self.per_address[conn.address] <= 0:
            del self.per_address[conn.address]
        p = conn.principal
        if p.kind == "student" and p.section_id is not None:
            if self.presence.remove(p.section_id, p.id):
                self.on_presence(p.section_id, p.id, False)
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

    async def remove_student(self, student_id: int) -> None:
        """A removed student's sockets hear why (`removed`), then close; tokens are gone."""
        for sid, conn in list(self.conns.items()):
            if conn.principal.kind == "student" and conn.principal.id == student_id:
                await self.sio.emit("removed", {"student_id": student_id}, to=sid)
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


