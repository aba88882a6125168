"""How an event reaches sockets: one encode per event, one awaited send per recipient.

Sockets still catching up (see realtime.py) have live events parked instead of sent, and the
encoded catch-ups of students asking for the same thing are shared.
"""

from __future__ import annotations

from typing import Any

import socketio
from engineio import packet as eio_packet
from socketio import packet as sio_packet

from classroom_box.events import Event

NAMESPACE = "/"


class ClassroomManager(socketio.AsyncManager):
    """Fan-out with one encode per event and one awaited send per recipient (no task each).

    Recipients still replaying their missed events get the event parked in their buffer instead.
    """

    def __init__(self) -> None:
        super().__init__()
        self.syncing: dict[str, list[Event]] = {}

    def encode(self, event: str, data: Any) -> list[eio_packet.Packet]:
        pkt = self.server.packet_class(sio_packet.EVENT, namespace=NAMESPACE, data=[event, data])
        encoded = pkt.encode()
        return [eio_packet.Packet(eio_packet.MESSAGE, p)
                for p in (encoded if isinstance(encoded, list) else [encoded])]

    async def fanout(self, event: Event) -> int:
        packets = self.encode(event.type, event.payload)
        sent = 0
        # get_participants iterates over its own copy, so awaiting inside the loop is safe
        for sid, eio_sid in self.get_participants(NAMESPACE, list(event.rooms)):
            parked = self.syncing.get(sid)
            if parked is not None:
                parked.append(event)
                continue
            for p in packets:
                await self.server._send_eio_packet(eio_sid, p)
            sent += 1
        return sent

    async def send_to(self, sid: str, event: str, data: Any) -> None:
        await self.send_packets(sid, self.encode(event, data))

    async def send_packets(self, sid: str, packets: list[eio_packet.Packet]) -> None:
        eio_sid = self.eio_sid_from_sid(sid, NAMESPACE)
        if eio_sid is None:
            return
        for p in packets:
            await self.server._send_eio_packet(eio_sid, p)


class CatchUpCache:
    """Encoded catch-ups keyed by what was asked, valid only while the newest seq is unchanged.

    Lecture state changes only together with an event, so an unchanged newest seq means an
    unchanged answer.
    """

    def __init__(self, limit: int = 256) -> None:
        self.high = -1
        self.limit = limit
        self.entries: dict[tuple[Any, ...], Any] = {}

    def get(self, high: int, key: tuple[Any, ...]) -> Any:
        if high != self.high:
            self.high, self.entries = high, {}
        return self.entries.get(key)

    def clear(self) -> None:
        self.high, self.entries = -1, {}

    def put(self, high: int, key: tuple[Any, ...], entry: Any) -> None:
        if high == self.high and len(self.entries) < self.limit:
            self.entries[key] = entry
