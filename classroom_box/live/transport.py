"""Every reach below python-socketio's and python-engineio's public API, in one module.

Owns each private hook the box depends on, and nothing else; `tests/live/test_transport.py` has a
test per reach that fails when an upgrade breaks it (a renamed method, a changed signature, a hook
that stops taking effect). Code elsewhere must never call an underscored Socket.IO/Engine.IO
name: add it here, with its test. The reaches:

- `send_packet`: `AsyncServer._send_eio_packet`, so the fan-out sends one encoded packet to many
  sockets (the public `emit` encodes again for every recipient).
- `LeanSocket` (swapped in for engineio's `AsyncSocket` at connect, through
  `_handle_eio_connect`) overrides `poll`, `close`, `handle_post_request` and
  `_websocket_handler`, and reads the socket's `queue`, `upgraded`, `closed` and `closing`:
  - its writer waits on the packet queue with no timer on websockets (engineio's reader loop
    already times out a silent client and then ends the writer) and with `asyncio.timeout` (no
    task) on long-polling: `asyncio.wait_for` creates a task per wait on Python 3.11 (Raspberry
    Pi OS Bookworm), 1,000 extra tasks per broadcast with 1,000 students, about a fifth of the
    fan-out CPU in our profile;
  - closing a long-polling socket also ends its pending GET at once, as engineio's sync socket
    does, and closing a websocket hangs up from our side (a hostile client never does);
  - a long-polling body that is not an Engine.IO payload ends the session with one warning line.
- `ClassroomServer` overrides `_handle_eio_message` (binary and undecodable packets, and events
  whose name is not a string, end the connection), `_handle_eio_connect` (the socket swap; a cap
  on sessions not yet authenticated per address, with a deadline), `_handle_connect` (refused
  authentications close the session) and `_handle_eio_disconnect` (the pending bookkeeping is
  settled).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from typing import Any

import socketio
from engineio import exceptions, payload
from engineio import packet as eio_packet
from engineio.async_socket import AsyncSocket
from socketio import packet as sio_packet

from classroom_box.domain.ratelimit import FailureThrottle, RateLimitedWarning, is_box_itself

log = logging.getLogger(__name__)
BINARY_TYPES = ("5", "6")  # Socket.IO BINARY_EVENT and BINARY_ACK packet types
PENDING_PER_ADDRESS = 64  # Engine.IO sessions not yet authenticated; a NAT'd class reconnecting
AUTH_DEADLINE = 5.0  # seconds from the Engine.IO handshake to Socket.IO authentication
MAX_REFUSALS = 3  # refused Socket.IO authentications before the session is closed


async def send_packet(server: socketio.AsyncServer, eio_sid: str, pkt: eio_packet.Packet) -> None:
    """One already encoded Engine.IO packet to one client (private: `_send_eio_packet`)."""
    await server._send_eio_packet(eio_sid, pkt)


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


    async def handle_post_request(self, environ: dict[str, Any]) -> None:
        """As engineio's, but a body that is not an Engine.IO payload ends the session with one
        rate-limited warning line (it logged a traceback twice per request, ~2.9 KB)."""
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = -1
        if length > self.server.max_http_buffer_size:
            raise exceptions.ContentTooLongError()
        raw = await environ["wsgi.input"].read(None if length < 0 else length)
        try:
            packets = payload.Payload(encoded_payload=raw.decode("utf-8")).packets
        except (ValueError, TypeError, KeyError, IndexError) as exc:
            BAD_BODIES.warn(f"closing {self.sid}: undecodable long-polling body"
                            f" ({type(exc).__name__})")
            refused(self.server, peer_address(environ))
            # abort: a plain close would wait for a GET to flush the close packet
            await self.close(wait=False, abort=True)
            # engineio forgets a closed session only when its service task walks past it (up
            # to ~40 s): 5 KB each, +23 MB from one device in 24 s (scripts/attack)
            self.server.sockets.pop(self.sid, None)
            return
        for pkt in packets:
            await self.receive(pkt)

    async def close(self, wait: bool = True, abort: bool = False, reason: Any = None) -> None:
        """Also end a pending long-poll GET at once, as python-engineio's sync socket does.

        The async socket leaves it waiting for up to ping interval + timeout (45 s) after a
        polling client said goodbye, holding the request and delaying shutdown.
        """
        was_open = not self.closed and not self.closing
        await super().close(wait=wait, abort=abort, reason=reason)
        if was_open and not self.upgraded:
            self.queue.put_nowait(None)
        pinger, self._pinger = getattr(self, "_pinger", None), None
        if pinger is not None and pinger is not asyncio.current_task():
            pinger.cancel()
        websocket, self._websocket = getattr(self, "_websocket", None), None
        if was_open and websocket is not None:
            # engineio sends a close packet and waits for the client to hang up (its reader
            # keeps the socket for up to 45 s); a hostile client never does, so we hang up.
            with contextlib.suppress(Exception):
                await websocket.close()

    def schedule_ping(self) -> None:
        """engineio's, keeping the task so that `close` can cancel it.

        Its ping task sleeps `ping_interval` (25 s) holding the socket; left running after a
        disconnect it kept every closed connection (socket, websocket, uvicorn protocol) alive
        for those 25 s, which showed as RSS growth under reconnect churn (and, found again by
        scripts/attack, ~85 MB kept by one device opening 130 refused websockets a second).
        """
        if getattr(self, "last_ping", None):
            self.last_ping = None
            self._pinger = self.server.start_background_task(self._send_ping)

    async def _websocket_handler(self, ws: Any) -> Any:
        """Remember the websocket so that `close` can end it from our side."""
        self._websocket = ws
        try:
            return await super()._websocket_handler(ws)
        finally:
            self._websocket = None


def refused(eio: Any, address: str) -> None:
    """Count a refusal for the address in the box's `RefusalGate` (hung on the Engine.IO
    server as `gate` by `ClassroomServer`; absent when the server was built without one)."""
    gate = getattr(eio, "gate", None)
    if gate is not None:
        gate.refused(address)


BAD_BODIES = RateLimitedWarning(log)
# Refusals a device can repeat at will: one line per refusal was ~250 KB of log a second from
# one laptop (scripts/attack, issue 15).
REFUSED_SESSIONS = RateLimitedWarning(log)
REFUSED_AUTH = RateLimitedWarning(log)


class ClassroomServer(socketio.AsyncServer):  # type: ignore[misc]
    """python-socketio with bounds on what a client may hold before and while authenticating.

    An Engine.IO session costs ~12 KB before Socket.IO authentication runs and used to live 45 s
    whether it authenticated or not (issue 15: 3,000 handshakes in 0.8 s, +36 MB). Now each
    address may hold `PENDING_PER_ADDRESS` sessions that have not authenticated, each gets
    `AUTH_DEADLINE` seconds to do so, and a session is closed after `MAX_REFUSALS` refused
    authentications (or at the first, once its address has failed too often). Every refusal
    is also counted in `gate` (`web/limits.RefusalGate`), which stops a device that keeps
    being refused before its requests reach Engine.IO.
    """

    def __init__(self, *args: Any, gate: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.eio.gate = gate
        self.pending: dict[str, tuple[str, asyncio.TimerHandle]] = {}  # eio sid -> address
        self.pending_per_address: dict[str, int] = defaultdict(int)
        self.refusals: dict[str, int] = defaultdict(int)
        self.auth_failures = FailureThrottle(free=10, max_delay=60)

    async def _handle_eio_message(self, eio_sid: str, data: Any) -> Any:
        """A packet that cannot be decoded (bad JSON, nesting deeper than json can recurse)
        closes that client's connection instead of logging an ERROR traceback per packet.

        python-socketio decodes here and lets the exception escape to Engine.IO, which logs it
        and keeps the connection open, so a client could fill the log at line rate. Client ->
        server traffic is a few small packets, so decoding twice costs nothing that matters.
        """
        if not isinstance(data, str) or data[:1] in BINARY_TYPES:
            # The box uses no binary events or acks. python-socketio would keep every announced
            # attachment in memory until the last one arrived (issue 15: 1,500 frames of 60 KB
            # grew the box by 90 MB, never returned), so anything binary ends the connection.
            # A `_placeholder` object inside an ordinary event is plain data (python-socketio
            # fills placeholders in binary packets only): refusing its text cut off a student
            # whose answer said "_placeholder" (found by tests/e2e/test_fuzz.py).
            log.warning("closing %s: binary Socket.IO packet refused", eio_sid)
            refused(self.eio, peer_address(self.environ.get(eio_sid, {})))
            await self.eio.disconnect(eio_sid)
            return None
        try:
            pkt = self.packet_class(encoded_packet=data)
            if pkt.packet_type == sio_packet.EVENT and not _names_an_event(pkt.data):
                # python-socketio looks the name up in a dict: a list or object as the name
                # raised "unhashable type" inside its dispatcher (found by tests/e2e/test_fuzz.py).
                # "*" and the reserved names reach the catch-all or the connect/disconnect
                # handlers with the wrong arguments (a TypeError per packet, and a client could
                # run the disconnect handler while staying connected).
                raise TypeError("event name is not a client event name")
        except (ValueError, TypeError, KeyError, IndexError, RecursionError) as exc:
            log.warning("closing %s: malformed Socket.IO packet (%s)", eio_sid,
                        type(exc).__name__)
            refused(self.eio, peer_address(self.environ.get(eio_sid, {})))
            await self.eio.disconnect(eio_sid)
            return None
        return await super()._handle_eio_message(eio_sid, data)

    async def _handle_eio_connect(self, eio_sid: str, environ: dict[str, Any]) -> Any:
        address = peer_address(environ)
        if (self.pending_per_address[address] >= PENDING_PER_ADDRESS
                and not is_box_itself(address)):
            REFUSED_SESSIONS.warn(f"refusing an Engine.IO session from {address}:"
                                  f" {self.pending_per_address[address]} not authenticated")
            refused(self.eio, address)
            return False
        timer = asyncio.get_running_loop().call_later(AUTH_DEADLINE, self._expire, eio_sid)
        self.pending[eio_sid] = (address, timer)
        self.pending_per_address[address] += 1
        sock = self.eio.sockets.get(eio_sid)
        if type(sock) is AsyncSocket:
            sock.__class__ = LeanSocket
        return await super()._handle_eio_connect(eio_sid, environ)

    async def _handle_connect(self, eio_sid: str, namespace: str | None, data: Any) -> None:
        if eio_sid not in self.environ:
            # Closed meanwhile: a CONNECT queued behind our disconnect (python-socketio would
            # raise KeyError and log a traceback per packet; found by scripts/attack).
            return
        await super()._handle_connect(eio_sid, namespace, data)
        if self.manager.sid_from_eio_sid(eio_sid, namespace or "/") is not None:
            self._settle(eio_sid)
            return
        address = self.pending.get(eio_sid, ("unknown", None))[0]
        refused(self.eio, address)
        self.refusals[eio_sid] += 1
        self.auth_failures.fail("addr:" + address)
        if (self.refusals[eio_sid] >= MAX_REFUSALS
                or self.auth_failures.retry_after("addr:" + address) > 0):
            REFUSED_AUTH.warn(f"closing {eio_sid} ({address}): Socket.IO authentication"
                              f" refused {self.refusals[eio_sid]} times")
            await self.eio.disconnect(eio_sid)

    async def _handle_eio_disconnect(self, eio_sid: str, reason: Any) -> None:
        self._settle(eio_sid)
        self.refusals.pop(eio_sid, None)
        await super()._handle_eio_disconnect(eio_sid, reason)

    def _settle(self, eio_sid: str) -> None:
        """The session authenticated or went away: it no longer counts as pending."""
        entry = self.pending.pop(eio_sid, None)
        if entry is None:
            return
        address, timer = entry
        timer.cancel()
        self.pending_per_address[address] -= 1
        if self.pending_per_address[address] <= 0:
            del self.pending_per_address[address]

    def _expire(self, eio_sid: str) -> None:
        if eio_sid in self.pending:
            log.info("closing %s: not authenticated within %.0f s", eio_sid, AUTH_DEADLINE)
            self._settle(eio_sid)
            self.start_background_task(self.eio.disconnect, eio_sid)


RESERVED_NAMES = frozenset({"*", "connect", "connect_error", "disconnect", "__disconnect_final"})


def _names_an_event(data: Any) -> bool:
    """An EVENT packet's data must be [name, *args] with a string name a client may send."""
    return (isinstance(data, list) and bool(data) and isinstance(data[0], str)
            and data[0] not in RESERVED_NAMES)


def peer_address(environ: dict[str, Any]) -> str:
    """The client's IP address as the ASGI server saw it."""
    scope = environ.get("asgi.scope") or {}
    client = scope.get("client") if isinstance(scope, dict) else None
    return str(client[0]) if client else str(environ.get("REMOTE_ADDR", "unknown"))
