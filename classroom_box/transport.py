"""Socket.IO server tuning: the one place the box reaches below python-socketio's public API.

Every websocket has a writer task that waits on its packet queue. engineio waits with
`asyncio.wait_for`, which on Python 3.11 (Raspberry Pi OS Bookworm) creates a task for every
wait: with 1,000 students that is 1,000 extra tasks per broadcast, about a fifth of the fan-out
CPU in our profile. `asyncio.timeout` does the same job without a task (Python 3.12's wait_for
does exactly this internally). We install it by subclassing the socket class at connect time,
through `AsyncServer._handle_eio_connect`; `tests/test_transport.py` fails if the hook stops
taking effect after a python-socketio upgrade.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import socketio
from engineio import exceptions
from engineio.async_socket import AsyncSocket

log = logging.getLogger(__name__)


class LeanSocket(AsyncSocket):  # type: ignore[misc]
    async def poll(self) -> list[Any]:
        """Same contract as AsyncSocket.poll: wait for packets, then take what is queued."""
        try:
            if self.upgraded:
                # websocket: its reader loop already times out a silent client and then puts
                # None here to end this writer, so a timer per wait is pure overhead
                first = await self.queue.get()
            else:
                async with asyncio.timeout(self.server.ping_interval + self.server.ping_timeout):
                    first = await self.queue.get()
            self.queue.task_done()
        except (TimeoutError, asyncio.CancelledError):
            raise exceptions.QueueEmpty() from None
        if first is None:
            return []
        packets = [first]
        while not self.queue.empty():
            pkt = self.queue.get_nowait()
            self.queue.task_done()
            if pkt is None:
                self.queue.put_nowait(None)  # let the next poll see the close marker
                break
            packets.append(pkt)
        return packets


class ClassroomServer(socketio.AsyncServer):  # type: ignore[misc]
    async def _handle_eio_message(self, eio_sid: str, data: Any) -> Any:
        """A packet that cannot be decoded (bad JSON, nesting deeper than json can recurse)
        closes that client's connection instead of logging an ERROR traceback per packet.

        python-socketio decodes here and lets the exception escape to Engine.IO, which logs it
        and keeps the connection open, so a client could fill the log at line rate. Client ->
        server traffic is a few small packets, so decoding twice costs nothing that matters.
        """
        if isinstance(data, str):
            try:
                self.packet_class(encoded_packet=data)
            except (ValueError, TypeError, KeyError, IndexError, RecursionError) as exc:
                log.warning("closing %s: malformed Socket.IO packet (%s)", eio_sid,
                            type(exc).__name__)
                await self.eio.disconnect(eio_sid)
                return None
        return await super()._handle_eio_message(eio_sid, data)

    async def _handle_eio_connect(self, eio_sid: str, environ: dict[str, Any]) -> Any:
        sock = self.eio.sockets.get(eio_sid)
        if type(sock) is AsyncSocket:
            sock.__class__ = LeanSocket
        return await super()._handle_eio_connect(eio_sid, environ)
