"""Which rooms each socket is in, kept beside python-socketio's own room table.

python-socketio finds a disconnecting socket's rooms by copying and scanning every room of the
namespace, and every socket has a room of its own, so N disconnects cost O(N^2): with 2,000
sockets, the 1,000 that left before a storm of answers were a large share of the box's CPU in
the benchmark's profile (`scripts/bench --scenario answers`). This index makes a disconnect
cost what the socket's own few rooms cost. python-socketio's table stays the truth for sending;
the index only ever names rooms to leave.
"""

from __future__ import annotations

from typing import Any

import socketio


class IndexedRooms(socketio.AsyncManager):  # type: ignore[misc]
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rooms_of: dict[tuple[str, str], set[str | None]] = {}  # (namespace, sid) -> rooms

    def basic_enter_room(self, sid: str, namespace: str, room: str | None,
                         eio_sid: str | None = None) -> None:
        super().basic_enter_room(sid, namespace, room, eio_sid=eio_sid)
        self.rooms_of.setdefault((namespace, sid), set()).add(room)

    def basic_leave_room(self, sid: str, namespace: str, room: str | None) -> None:
        super().basic_leave_room(sid, namespace, room)
        rooms = self.rooms_of.get((namespace, sid))
        if rooms is not None:
            rooms.discard(room)
            if not rooms:
                del self.rooms_of[(namespace, sid)]

    def basic_disconnect(self, sid: str, namespace: str, **kwargs: Any) -> None:
        """As python-socketio's, leaving only the rooms the index names (the room `None`, which
        maps sids to Engine.IO sessions, last: leaving a room may still look the sid up)."""
        rooms = self.rooms_of.pop((namespace, sid), set())
        for room in rooms - {None}:
            super().basic_leave_room(sid, namespace, room)
        if None in rooms:
            super().basic_leave_room(sid, namespace, None)
        self.callbacks.pop(sid, None)
        for pending in (self.pending_connect, self.pending_disconnect):
            sids = pending.get(namespace)
            if sids is not None and sid in sids:
                sids.remove(sid)
                if not sids:
                    del pending[namespace]

    def get_rooms(self, sid: str, namespace: str) -> list[str]:
        return [r for r in self.rooms_of.get((namespace, sid), ()) if r is not None]
