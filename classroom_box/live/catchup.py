"""Replay-then-live: the whole catch-up protocol of a connecting socket, in one object.

The protocol, and the invariant it keeps: a socket is marked syncing (`begin`) BEFORE it enters
any room, so from its first room on every live event for it is parked here instead of sent
(`park`, asked by the fan-out). Its replay and `state_sync` are then read in ONE snapshot whose
high-water mark H becomes `state_sync.seq`, and sent; then the parked events are sent in order,
dropping those with seq <= H (the snapshot covered them), and the socket goes live with no
`await` between the last look at its buffer and its removal. So each event reaches the socket
exactly once, in seq order, and nothing overtakes the replay. This module must never send a live
event to a syncing socket, and never keep a buffer after its socket left (`end`).

Students of one section reconnecting together (a class whose Wi-Fi came back) ask for the same
catch-up: it is read and encoded once per newest seq (`CatchUpCache`), not once per student. Only
what is a client's own (a student's own room, their answers, hand and pulse; a teacher's tallies)
is read for each, in the same snapshot (`personal_parts`); other modules add to `state_sync`
through `shared_parts` / `personal_parts` and learn when a client went live (`on_live`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from engineio import packet as eio_packet

from classroom_box.domain.classes import Classes
from classroom_box.domain.events import Event, EventLog
from classroom_box.domain.lectures import section_state
from classroom_box.domain.storage_faults import storage_refusal
from classroom_box.domain.store import Store, Tx
from classroom_box.live.conn import Conn
from classroom_box.live.fanout import NAMESPACE, ClassroomManager

log = logging.getLogger(__name__)

Packets = list[eio_packet.Packet]
# What other modules add to state_sync: parts shared by everyone asking for the same sections
# (cached with the replay), and parts of one connection's own (never cached).
SharedPart = Callable[[Tx, list[int]], Awaitable[dict[str, Any]]]
PersonalPart = Callable[[Tx, Conn, dict[str, Any]], Awaitable[dict[str, Any]]]


@dataclass
class SharedCatchUp:
    """A catch-up as shared by the clients that asked for the same rooms and sections."""

    recovered: bool
    high_seq: int
    events: list[tuple[int, Packets]]
    state: dict[str, Any]
    room_highs: dict[str, int]  # each room's newest seq, for the client's gap check


class CatchUpCache:
    """Encoded catch-ups keyed by what was asked, valid only while the newest seq is unchanged.

    Lecture state changes only together with an event, so an unchanged newest seq means an
    unchanged answer.
    """

    def __init__(self, limit: int = 256) -> None:
        self.high = -1
        self.limit = limit
        self.entries: dict[tuple[Any, ...], SharedCatchUp] = {}

    def get(self, high: int, key: tuple[Any, ...]) -> SharedCatchUp | None:
        if high != self.high:
            self.high, self.entries = high, {}
        return self.entries.get(key)

    def clear(self) -> None:
        self.high, self.entries = -1, {}

    def put(self, high: int, key: tuple[Any, ...], entry: SharedCatchUp) -> None:
        if high == self.high and len(self.entries) < self.limit:
            self.entries[key] = entry


class CatchUp:
    def __init__(self, store: Store, events: EventLog, classes: Classes,
                 manager: ClassroomManager) -> None:
        self.store, self.events, self.classes, self.manager = store, events, classes, manager
        self.parked: dict[str, list[Event]] = {}  # sid -> live events held while it syncs
        self.cache = CatchUpCache()
        self.shared_parts: list[SharedPart] = [section_state]
        self.personal_parts: list[PersonalPart] = []
        self.on_live: list[Callable[[Conn], None]] = []  # a client finished catching up

    def begin(self, sid: str) -> None:
        """Call before the socket enters its first room: nothing can slip past."""
        self.parked[sid] = []

    def park(self, sid: str, event: Event) -> bool:
        """The fan-out asks for each recipient: True means held here, do not send now."""
        buffer = self.parked.get(sid)
        if buffer is None:
            return False
        buffer.append(event)
        return True

    def end(self, sid: str) -> None:
        self.parked.pop(sid, None)

    async def run(self, sid: str, conn_of: Callable[[str], Conn | None], last_seq: object) -> None:
        """Replay, then state_sync, then drain what arrived meanwhile, then go live."""
        try:
            await self._wait_connected(sid, conn_of)
            conn = conn_of(sid)
            if conn is None:
                return
            high, packets = await self._packets(conn, last_seq)
            await self.manager.send_packets(sid, packets)
            await self._drain(sid, high)
            for hook in self.on_live:
                hook(conn)
        except Exception as exc:
            # Connected but never synced would be a page stuck on "connecting" for good; hung
            # up, the client reconnects and asks again (and the log says why, once).
            if storage_refusal(exc, self.store.path, f"catch-up of {sid}") is None:
                log.exception("catch-up of %s failed", sid)
            await self.manager.server.disconnect(sid, namespace=NAMESPACE)
        finally:
            self.end(sid)

    async def _packets(self, conn: Conn, last_seq: object) -> tuple[int, Packets]:
        """The replay and state_sync for this socket, as encoded packets, from one snapshot."""
        teacher_id = conn.teacher_id
        sections = await self._sections_of(conn)
        position = last_seq if type(last_seq) is int else None
        own_rooms = [r for r in conn.rooms if r.startswith("student:")]
        rooms = sorted(conn.rooms.difference(own_rooms))
        key = (tuple(rooms), teacher_id, position, tuple(sections))
        async with self.store.read() as tx:  # one snapshot for replay and state
            high = await self.events.high_seq(tx)
            shared = self.cache.get(high, key)
            if shared is None:
                shared = await self._shared(tx, position, rooms, teacher_id, sections)
                self.cache.put(high, key, shared)
            own = (await self.events.since(tx, position, own_rooms, None)).events
            own_highs = await self.events.room_highs(tx, own_rooms, None) if own_rooms else {}
            personal = [await part(tx, conn, shared.state) for part in self.personal_parts]
        encode = self.manager.encode
        events = shared.events + [(e.seq, encode(e.type, e.payload)) for e in own]
        packets = [p for _, encoded in sorted(events, key=lambda e: e[0]) for p in encoded]
        state = {k: v for part in personal for k, v in part.items()}
        packets += encode("state_sync", {
            "seq": shared.high_seq, "recovered": shared.recovered,
            "rooms": {**shared.room_highs, **own_highs}, **shared.state, **state})
        return high, packets

    async def _shared(self, tx: Tx, position: int | None, rooms: list[str],
                      teacher_id: int | None, sections: list[int]) -> SharedCatchUp:
        replay = await self.events.since(tx, position, rooms, teacher_id)
        encode = self.manager.encode
        state: dict[str, Any] = {}
        for part in self.shared_parts:
            state.update(await part(tx, sections))
        return SharedCatchUp(replay.recovered, replay.high_seq,
                             [(e.seq, encode(e.type, e.payload)) for e in replay.events], state,
                             await self.events.room_highs(tx, rooms, teacher_id))

    async def _sections_of(self, conn: Conn) -> list[int]:
        if conn.teacher_id is not None:
            return [s for _, s in await self.classes.teacher_sections(conn.teacher_id)]
        return [conn.principal.section_id or 0]

    async def _drain(self, sid: str, covered: int) -> None:
        parked = self.parked.get(sid)
        while parked:
            event = parked.pop(0)
            if event.seq > covered:
                await self.manager.send_to(sid, event.type, event.payload)
        # No await between the last check and this pop: the next event goes out live.
        self.end(sid)

    async def _wait_connected(self, sid: str, conn_of: Callable[[str], Conn | None]) -> None:
        """The connect handler has not returned yet: wait until Socket.IO says connected."""
        for _ in range(100):
            if self.manager.is_connected(sid, NAMESPACE) or conn_of(sid) is None:
                return
            await asyncio.sleep(0.01)
