"""How an event reaches sockets: one encode per event, one awaited send per recipient.

Owns the send path (encoding a Socket.IO event once, sending the same packets to every
recipient). It must never decide whether a socket may have an event yet: for each recipient it
asks `park` (the catch-up, see catchup.py) first, and sends only when that says no.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import socketio
from engineio import packet as eio_packet
from socketio import packet as sio_packet

from classroom_box.domain.events import Event
from classroom_box.live.transport import send_packet

NAMESPACE = "/"


class ClassroomManager(socketio.AsyncManager):
    """Fan-out with one encode per event and one awaited send per recipient (no task each)."""

    def encode(self, event: str, data: Any) -> list[eio_packet.Packet]:
        pkt = self.server.packet_class(sio_packet.EVENT, namespace=NAMESPACE, data=[event, data])
        encoded = pkt.encode()
        return [eio_packet.Packet(eio_packet.MESSAGE, p)
                for p in (encoded if isinstance(encoded, list) else [encoded])]

    async def fanout(self, event: Event, park: Callable[[str, Event], bool]) -> int:
        """Send `event` to everyone in its rooms whom `park(sid, event)` does not hold back."""
        packets = self.encode(event.type, event.payload)
        sent = 0
        # get_participants iterates over its own copy, so awaiting inside the loop is safe
        for sid, eio_sid in self.get_participants(NAMESPACE, list(event.rooms)):
            if park(sid, event):
                continue
            for p in packets:
                await send_packet(self.server, eio_sid, p)
            sent += 1
        return sent

    async def send_to(self, sid: str, event: str, data: Any) -> None:
        await self.send_packets(sid, self.encode(event, data))

    async def send_packets(self, sid: str, packets: list[eio_packet.Packet]) -> None:
        eio_sid = self.eio_sid_from_sid(sid, NAMESPACE)
        if eio_sid is None:
            return
        for p in packets:
            await send_packet(self.server, eio_sid, p)
