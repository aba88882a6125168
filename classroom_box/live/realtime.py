"""The live layer's front door: a socket's life from connect to disconnect, wired in one place.

Owns the registry of open sockets (`conns`) and the order of steps at connect (admit -> mark
syncing -> enter rooms -> presence -> catch-up in the background) and at disconnect (the reverse).
Each step is its own module: admission.py (who may connect, per-address cap), catchup.py
(replay-then-live), presence.py (who is online), handlers.py (client events) behind flood.py,
dispatch.py + fanout.py for live events, gcpolicy.py (full collections between fan-outs). It must
never send a live event itself, and never keep anything of a socket after its disconnect.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from functools import partial
from typing import Any

import socketio

from classroom_box.domain.classes import Classes
from classroom_box.domain.events import EventLog
from classroom_box.domain.store import Store
from classroom_box.live.admission import Admission
from classroom_box.live.background import BackgroundTasks
from classroom_box.live.catchup import CatchUp
from classroom_box.live.conn import Conn
from classroom_box.live.dispatch import Dispatcher
from classroom_box.live.fanout import ClassroomManager
from classroom_box.live.flood import FloodControl
from classroom_box.live.gcpolicy import QuietCollector
from classroom_box.live.handlers import ClientEvents
from classroom_box.live.presence import Presence, RosterAnnouncer

PresenceHook = Callable[[int, int, bool], None]  # section id, student id, online now
REMOVED_GRACE = 1.0  # seconds for a removed student's `removed` notice to leave before hang-up


class Realtime:
    def __init__(self, store: Store, events: EventLog, classes: Classes,
                 sio: socketio.AsyncServer, manager: ClassroomManager, dispatcher: Dispatcher,
                 max_per_address: int = 200) -> None:
        self.sio, self.manager, self.dispatcher = sio, manager, dispatcher
        self.conns: dict[str, Conn] = {}
        self.flood = FloodControl(sio, self.conns, store.path)
        self.admission = Admission(store, classes, self.flood, max_per_address)
        self.catchup = CatchUp(store, events, classes, manager)
        self.presence = Presence()
        self.background = BackgroundTasks()  # ends before the store closes
        self.roster_announcer = RosterAnnouncer(self.presence, classes, sio, self.background)
        self.collector = QuietCollector(busy=dispatcher.busy)
        self._collecting: asyncio.Task[None] | None = None
        # Attendance hears a student arrive (first socket) and leave (last socket); set by app.
        self.on_presence: PresenceHook = lambda section_id, student_id, online: None
        sio.on("connect", self.on_connect)
        sio.on("disconnect", self.on_disconnect)
        ClientEvents(sio, classes).register(self.flood)

    async def start(self) -> None:
        self.dispatcher.start(partial(self.manager.fanout, park=self.catchup.park))
        self._collecting = asyncio.create_task(self.collector.run(), name="quiet-gc")

    async def stop(self) -> None:
        if self._collecting:
            self._collecting.cancel()
        await self.background.stop()
        await self.dispatcher.stop()

    async def announce_shutdown(self) -> None:
        """Flush what is committed, then tell every client the box is going away for now.

        Clients then see the transport close (not a Socket.IO disconnect, which would stop
        socket.io-client from reconnecting) and come back with their last_seq.
        """
        await self.dispatcher.flush()
        await self.sio.emit("box_shutdown", {"restarting": True})

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        auth = auth if isinstance(auth, dict) else {}
        conn = await self.admission.admit(environ, auth)
        self.catchup.begin(sid)  # before entering rooms: nothing can slip past
        for room in conn.rooms:
            await self.sio.enter_room(sid, room)
        self.conns[sid] = conn
        p = conn.principal
        if p.kind == "student":
            assert p.section_id is not None
            if self.presence.add(p.section_id, p.id, p.name):
                self.on_presence(p.section_id, p.id, True)
                self.roster_announcer.changed(p.class_id or 0, p.section_id)
        self.background.spawn(self.catchup.run(sid, self.conns.get, auth.get("last_seq")))

    async def on_disconnect(self, sid: str, reason: Any = None) -> None:
        self.collector.note_disconnect()
        self.catchup.end(sid)
        conn = self.conns.pop(sid, None)
        if conn is None:
            return
        self.admission.release(conn)
        p = conn.principal
        if p.kind == "student" and p.section_id is not None:
            if self.presence.remove(p.section_id, p.id):
                self.on_presence(p.section_id, p.id, False)
                self.roster_announcer.changed(p.class_id or 0, p.section_id)

    def roster(self, section_id: int) -> list[dict[str, Any]]:
        return self.presence.roster(section_id)

    async def disconnect_token(self, hashed: str) -> None:
        """Logout revokes the token: its open sockets go too."""
        for sid, conn in list(self.conns.items()):
            if conn.principal.token_hash == hashed:
                await self.sio.disconnect(sid)

    async def remove_student(self, student_id: int) -> None:
        """A removed student's sockets leave their rooms at once (no further event reaches them),
        hear why (`removed`), and are closed `REMOVED_GRACE` later: closing at once cut the
        notice off before it left the box. The tokens are already gone."""
        sids = [sid for sid, conn in self.conns.items()
                if conn.principal.kind == "student" and conn.principal.id == student_id]
        for sid in sids:
            for room in list(self.conns[sid].rooms):
                await self.sio.leave_room(sid, room)
            await self.sio.emit("removed", {"student_id": student_id}, to=sid)
        if sids:
            self.background.spawn(self._hang_up(sids))

    async def _hang_up(self, sids: list[str]) -> None:
        await asyncio.sleep(REMOVED_GRACE)
        for sid in sids:
            if sid in self.conns:
                await self.sio.disconnect(sid)
