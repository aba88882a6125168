"""Flood control for client -> server events: a token bucket per socket, then the door.

Owns the per-socket budget check, the strike count after which the box hangs up, and the cool-down
during which a flooder's login may not reconnect (a reconnect costs a replay). It must never let a
handler run past an empty bucket, and never answer a failed handler with silence: an `ApiError`
is a negative ack with its code, a storage fault one with HTTP's code for it (`disk_full`,
`storage_damaged`), anything else `internal` and a traceback in the log.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import socketio

from classroom_box.domain.auth import token_hash
from classroom_box.domain.storage_faults import storage_refusal
from classroom_box.domain.validation import ApiError
from classroom_box.live.conn import Conn

log = logging.getLogger(__name__)
FLOOD_STRIKES = 20  # refused events tolerated before the box hangs up
FLOOD_COOLDOWN = 30.0  # seconds a flooder's token may not reconnect (a reconnect costs a replay)
Ack = dict[str, Any]
Handler = Callable[[Conn, str, Any], Awaitable[Ack]]


class FloodControl:
    def __init__(self, sio: socketio.AsyncServer, conns: dict[str, Conn], db_path: Path) -> None:
        self.sio, self.conns, self.db_path = sio, conns, db_path
        self.cooldown: dict[str, float] = {}  # token hash -> monotonic time it may reconnect

    def cooling_down(self, token: object) -> bool:
        """Whether this login flooded recently and must wait before reconnecting."""
        return isinstance(token, str) and self.cooldown.get(token_hash(token), 0) > time.monotonic()

    def guarded(self, name: str, handler: Handler,
                structured: bool = False) -> Callable[..., Awaitable[Ack]]:
        """Rate-limit, then run; any ApiError becomes a negative ack, never a crash.

        `structured`: errors as `{code, message}` like HTTP bodies (the answer-back events),
        instead of the message alone.
        """

        def refuse(code: str, message: str) -> Ack:
            return {"ok": False,
                    "error": {"code": code, "message": message} if structured else message}

        async def run(sid: str, *args: Any) -> Ack:
            data = args[0] if args else None  # extra arguments from a hostile client are ignored
            conn = self.conns.get(sid)
            if conn is None:
                return refuse("not_connected", "not connected")
            if not conn.bucket.take(time.monotonic()):
                conn.strikes += 1
                if conn.strikes > FLOOD_STRIKES:
                    log.warning("disconnecting %s (%s): event flood", sid, conn.address)
                    self._cool_down(conn.principal.token_hash)
                    await self.sio.disconnect(sid)
                return refuse("throttled", "rate limited: slow down")
            try:
                return await handler(conn, sid, data)
            except ApiError as exc:
                return refuse(exc.code, exc.message)
            except Exception as exc:  # as HTTP's 5xx: an ack the client can show, not silence
                refusal = storage_refusal(exc, self.db_path, f"{name} from {sid}")
                if refusal is None:
                    log.exception("%s from %s failed", name, sid)
                    refusal = ApiError(500, "internal", "internal error")
                return refuse(refusal.code, refusal.message)

        run.__name__ = name
        return run

    def _cool_down(self, hashed: str) -> None:
        now = time.monotonic()
        if len(self.cooldown) > 10_000:
            self.cooldown = {k: t for k, t in self.cooldown.items() if t > now}
        self.cooldown[hashed] = now + FLOOD_COOLDOWN
