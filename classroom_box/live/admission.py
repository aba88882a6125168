"""Who may open a socket, and into which rooms: connect auth and the per-address cap.

Owns the decision at connect time: a login token (from `auth.token` or the login cookie) that is
not cooling down after a flood, a live principal, room under the per-address cap, a reconnect
rate the token and the address may have; then the rooms that principal hears. It must never
admit a socket without a principal, and never let the per-address count drift from the sockets
actually open (`release` on every disconnect).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from socketio.exceptions import ConnectionRefusedError

from classroom_box.domain.auth import Principal, cookie_token, principal_for
from classroom_box.domain.classes import Classes
from classroom_box.domain.events import classroom_room, teacher_room
from classroom_box.domain.ratelimit import KeyedBuckets, TokenBucket, is_box_itself
from classroom_box.domain.store import Store
from classroom_box.live.conn import Conn
from classroom_box.live.flood import FloodControl
from classroom_box.live.transport import peer_address


class Admission:
    def __init__(self, store: Store, classes: Classes, flood: FloodControl,
                 max_per_address: int) -> None:
        self.store, self.classes, self.flood = store, classes, flood
        self.per_address: dict[str, int] = defaultdict(int)
        self.max_per_address = max_per_address
        # Each connect costs a lookup and a replay (~53 KB for a student at last_seq=0): one
        # token reconnecting 150 times a second raised the class's p95 from 9 to 99 ms
        # (issue 15). A device may reconnect 10 times in a row, then once every 2 s; an address
        # (a class behind one NAT after a Wi-Fi blip) 200 at once, then 20 a second.
        self.connects_per_token = KeyedBuckets(rate=0.5, burst=10)
        self.connects_per_address = KeyedBuckets(rate=20, burst=200)

    async def admit(self, environ: dict[str, Any], auth: dict[str, Any]) -> Conn:
        """A new connection's record, or ConnectionRefusedError (Socket.IO's refusal)."""
        token = auth.get("token") or cookie_token(environ.get("HTTP_COOKIE", ""))
        if self.flood.cooling_down(token):
            raise ConnectionRefusedError("flooding: wait before reconnecting")
        principal = await principal_for(self.store, token)
        if principal is None:
            raise ConnectionRefusedError("authentication required")
        address = peer_address(environ)
        if self.per_address[address] >= self.max_per_address:
            raise ConnectionRefusedError("too many connections")
        if not (is_box_itself(address) or (self.connects_per_token.take(principal.token_hash)
                                           and self.connects_per_address.take(address))):
            raise ConnectionRefusedError("reconnecting too fast: wait")
        if not principal.seen:
            await self.classes.mark_seen(principal.id)
        self.per_address[address] += 1
        return Conn(principal, address, rooms_for(principal), TokenBucket(rate=5, burst=20))

    def release(self, conn: Conn) -> None:
        self.per_address[conn.address] -= 1
        if self.per_address[conn.address] <= 0:
            del self.per_address[conn.address]


def rooms_for(principal: Principal) -> set[str]:
    if principal.kind == "teacher":
        return {teacher_room(principal.id)}
    assert principal.class_id is not None and principal.section_id is not None
    return {classroom_room(principal.class_id, principal.section_id)}

