"""The documented way to consume the box's event stream from Python.
It owns the Python consumer's half of the replay promise and must never process an event twice or
skip one.

Keep the highest `seq` you processed, send it as `auth.last_seq` on every (re)connect, drop any
event you already have, and treat `state_sync` as the new truth. Then every event is seen exactly
once, in order, across Wi-Fi drops and box restarts. The PWA's `static/js/stream.js` does the same
in the browser.

Gaps: `seq` is box-wide, so a missing number means nothing. Each event names its `room` and that
room's previous seq (`prev_seq`); this client keeps the last seq it has per room (seeded from
`state_sync.rooms`). An event whose `prev_seq` is above that means one was lost on the way: the
client drops it, reconnects with that room's last seq as `last_seq` and is replayed what it
missed (anything it already has is dropped by seq, per room).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import socketio

from classroom_box.domain.event_types import EVENT_TYPES

Handler = Callable[[str, dict[str, Any]], Any]


class StreamClient:
    """A Socket.IO client that never double-processes an event and never skips one."""

    def __init__(self, url: str, token: str, last_seq: int | None = None,
                 on_event: Handler | None = None, **client_options: Any) -> None:
        self.url, self.token = url, token
        self.last_seq = last_seq
        self.rooms: dict[str, int] = {}  # room -> the last seq this client has for it
        self.synced_at = last_seq or 0  # the box-wide position `rooms` describes
        self.resume_from: int | None = None  # set by a gap: replay from here on reconnect
        self.events: list[dict[str, Any]] = []  # every event processed, in order
        self.state: dict[str, Any] | None = None
        self.syncs: list[dict[str, Any]] = []
        self.dropped = 0
        self.gaps = 0
        self.on_event = on_event
        self._transports = ["websocket"]
        self._healer: asyncio.Task[None] | None = None
        self._rejoin: asyncio.Task[None] | None = None
        client_options.setdefault("reconnection", False)
        self.sio = socketio.AsyncClient(**client_options)
        for name in EVENT_TYPES:
            self.sio.on(name, self._handler(name))
        self.sio.on("state_sync", self._on_state_sync)

    def auth(self) -> dict[str, Any]:
        """Called by the client at every (re)connect, so a retry sends the newest last_seq."""
        data: dict[str, Any] = {"token": self.token}
        position = self.resume_from if self.resume_from is not None else self.last_seq
        if position is not None:
            data["last_seq"] = position
        return data

    async def connect(self, transports: list[str] | None = None) -> None:
        self._transports = transports or self._transports
        await self.sio.connect(self.url, auth=lambda: self.auth(),
                               transports=self._transports, wait_timeout=10)

    async def disconnect(self) -> None:
        if self._rejoin is not None:
            self._rejoin.cancel()
        await self.sio.disconnect()

    def _room_mark(self, data: dict[str, Any]) -> tuple[str, int]:
        """The event's room and the last seq we have for it (events without a room: box-wide)."""
        room = data.get("room")
        if not isinstance(room, str):
            return "", self.last_seq or 0
        return room, self.rooms.get(room, self.synced_at)

    def _handler(self, name: str) -> Callable[[dict[str, Any]], Any]:
        async def handle(data: dict[str, Any]) -> None:
            seq = data.get("seq") if isinstance(data, dict) else None
            if not isinstance(seq, int):
                self.dropped += 1
                return
            room, mark = self._room_mark(data)
            if seq <= mark:
                self.dropped += 1
                return
            prev = data.get("prev_seq")
            if self._healer is not None or (isinstance(prev, int) and prev > mark):
                self._heal(mark)  # something in this room never reached us: get it replayed
                return
            if room:
                self.rooms[room] = seq
            self.last_seq = max(seq, self.last_seq or 0)
            self.events.append({"type": name, **data})
            if self.on_event:
                result = self.on_event(name, data)
                if hasattr(result, "__await__"):
                    await result
        return handle

    def _heal(self, mark: int) -> None:
        """Reconnect to be replayed everything after `mark`; live events until then are dropped."""
        self.resume_from = mark if self.resume_from is None else min(mark, self.resume_from)
        if self._healer is None:
            self.gaps += 1
            # Not awaited here: disconnecting from inside an event handler would wait on itself.
            self._healer = self._rejoin = asyncio.get_running_loop().create_task(self._reconnect())

    async def _reconnect(self) -> None:
        """Our own disconnect stops the client's automatic reconnection, so a failed reconnect
        (the link that lost the event may still be bad) is retried here with the same policy;
        without reconnection enabled the failure is raised, as `connect()` would."""
        await self.sio.disconnect()
        self._healer = None
        delay = self.sio.reconnection_delay
        while True:
            try:
                await self.connect()
                return
            except socketio.exceptions.ConnectionError:
                if not self.sio.reconnection:
                    raise
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.sio.reconnection_delay_max)

    async def _on_state_sync(self, data: dict[str, Any]) -> None:
        self.state = data
        self.syncs.append(data)
        seq = data.get("seq")
        if isinstance(seq, int) and (self.last_seq is None or seq > self.last_seq
                                     or not data.get("recovered")):
            # A full redraw (recovered: false) resets the position to the box's own.
            self.last_seq = seq
        rooms = data.get("rooms")
        if isinstance(seq, int) and isinstance(rooms, dict):
            self.rooms = {r: s for r, s in rooms.items() if isinstance(s, int)}
            self.synced_at = seq
        self.resume_from = None
