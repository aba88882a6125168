"""Flood control for client -> server events: a token bucket per socket, then the door.

Owns the per-socket budget check, the strike count after which the box hangs up, and the cool-down
during which a flooder's login may not reconnect (a reconnect costs a replay). It must never let a
handler run past an empty bucket, and never turn a handler's `ApiError` into anything but a
negative ack.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import socketio

from classroom_box.domain.auth import token_hash
from classroom_box.domain.validation import ApiError
from classroom_box.live.conn import Conn

log = logging.getLogger(__name__)
FLOOD_STRIKES = 20  # refused events tolerated before the box hangs up
FLOOD_COOLDOWN = 30.0  # seconds a flooder's token may not reconnect (a reconnect costs a replay)
Ack = dict[str, Any]
Handler = Callable[[Conn, str, Any], Awaitable[Ack]]


class FloodControl:
    def __init__(self, sio: socketio.AsyncServer, conns: dict[str, Conn]) -> None:
        self.sio, self.conns = sio, conns
        self.cooldown: dict[str, float] = {}  # token hash -> monotonic time it may reconnect

    def cooling_down(self, token: object) -> bool:
        """Whether this login flooded recently and must wait before reconnecting."""
        return isinstance(token, str) and self.cooldown.get(token_hash(token), 0) > time.monotonic()

    def guarded(self, name: str, handler: Handler) -> Callable[..., Awaitable[Ack]]:
        """Rate-limit, then run; any ApiError becomes a negative ack, never a crash."""

        async def run(sid: str, *args: Any) -> Ack:
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
