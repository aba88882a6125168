"""The documented way to consume the box's event stream from Python.

Keep the highest `seq` you processed, send it as `auth.last_seq` on every (re)connect, drop any
event whose `seq` is not above it, and treat `state_sync` as the new truth. Then every event is
seen exactly once, in order, across Wi-Fi drops and box restarts. The PWA's `static/js/stream.js`
does the same in the browser.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import socketio

LECTURE_EVENTS = (
    "lecture_started", "lecture_scheduled", "lecture_ended", "lecture_cancelled",
    "lecture_duration_update", "lecture_progress_update", "section_updated",
)
Handler = Callable[[str, dict[str, Any]], Any]


class StreamClient:
    """A Socket.IO client that never double-processes an event and never skips one."""

    def __init__(self, url: str, token: str, last_seq: int | None = None,
                 on_event: Handler | None = None, **client_options: Any) -> None:
        self.url, self.token = url, token
        self.last_seq = last_seq
        self.events: list[dict[str, Any]] = []  # every event processed, in order
        self.state: dict[str, Any] | None = None
        self.syncs: list[dict[str, Any]] = []
        self.dropped = 0
        self.on_event = on_event
        client_options.setdefault("reconnection", False)
        self.sio = socketio.AsyncClient(**client_options)
        for name in LECTURE_EVENTS:
            self.sio.on(name, self._handler(name))
        self.sio.on("state_sync", self._on_state_sync)

    def auth(self) -> dict[str, Any]:
        """Called by the client at every (re)connect, so a retry sends the newest last_seq."""
        data: dict[str, Any] = {"token": self.token}
        if self.last_seq is not None:
            data["last_seq"] = self.last_seq
        return data

    async def connect(self, transports: list[str] | None = None) -> None:
        await self.sio.connect(self.url, auth=lambda: self.auth(),
                               transports=transports or ["websocket"], wait_timeout=10)

    async def disconnect(self) -> None:
        await self.sio.disconnect()

    def _handler(self, name: str) -> Callable[[dict[str, Any]], Any]:
        async def handle(data: dict[str, Any]) -> None:
            seq = data.get("seq") if isinstance(data, dict) else None
            if not isinstance(seq, int) or (self.last_seq is not None and seq <= self.last_seq):
                self.dropped += 1
                return
            self.last_seq = seq
            self.events.append({"type": name, **data})
            if self.on_event:
                result = self.on_event(name, data)
                if hasattr(result, "__await__"):
                    await result
        return handle

    async def _on_state_sync(self, data: dict[str, Any]) -> None:
        self.state = data
        self.syncs.append(data)
        seq = data.get("seq")
        if isinstance(seq, int) and (self.last_seq is None or seq > self.last_seq
                                     or not data.get("recovered")):
            # A full redraw (recovered: false) resets the position to the box's own.
            self.last_seq = seq
