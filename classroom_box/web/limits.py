"""Resource limits below the application: slow clients, socket counts per address, own origins.
It must never let one client hold a socket or a parser without a deadline.

Three things the frameworks do not do for us:

- uvicorn arms no timer on a fresh connection: its keep-alive timeout only starts after a response,
  and any byte received cancels it. A client that opens TCP and trickles a header line every few
  seconds (slowloris) holds a socket and a parser forever. `GuardedHttpToolsProtocol` gives each
  request `HEADER_TIMEOUT` seconds from its first byte (or from the connection) to end its headers.
- Engine.IO accepts any number of WebSocket sessions per address before Socket.IO authentication
  runs; `SocketIOGuard` caps open WebSockets per client address at the ASGI level. It also answers
  an oversized long-polling POST with 413 itself: Engine.IO would disconnect the session and then
  wait forever for a GET to flush the close packet, hanging the request (python-engineio 4.x).
- Engine.IO's ASGI driver believes every request is `http` (it only reads X-Forwarded-Proto), so its
  default same-origin check refuses browsers under TLS: web/origin.py has our own rule.
- A device can repeat a refused Engine.IO request hundreds of times a second, and each refusal
  costs the box's one event loop a parse, an environ, a session and its answer (issue 15: the
  class's p95 rose 2.5-4x under such floods). `RefusalGate` (web/refusals.py) counts refusals
  per address; once an address has spent its burst, `GuardedHttpToolsProtocol` answers its
  Engine.IO requests 429 straight from the parser callback, after holding them a second, before
  any ASGI work.
"""

from __future__ import annotations

import asyncio
import logging
import resource
from collections import defaultdict
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from uvicorn.protocols.http.flow_control import HIGH_WATER_LIMIT
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.protocol import State

from classroom_box.domain.ratelimit import RateLimitedWarning, is_box_itself
from classroom_box.web.refusals import REFUSAL_HOLD, RefusalGate

log = logging.getLogger(__name__)
# A device refused again and again gets one line per 10 s, not one per refusal (~250 KB of log a
# second from one laptop holding 1,100 connections: scripts/attack, issue 15).
REFUSED_CONNECTIONS = RateLimitedWarning(log, level=logging.INFO)
REFUSED_WEBSOCKETS = RateLimitedWarning(log)
REFUSED_EARLY = RateLimitedWarning(log, level=logging.INFO)
HEADER_TIMEOUT = 10.0  # seconds for a request line + headers; a phone on bad Wi-Fi needs < 1 s
BODY_TIMEOUT = 5.0  # seconds for a body (64 KiB at most) once the headers are in
MAX_SOCKETS_PER_ADDRESS = 200  # a whole school behind one NAT address must still fit


Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass
class ConnectionBudget:
    """Open TCP connections (websockets included), per client address and in total.

    Every connection holds a file descriptor; at the process's limit the box can accept nothing,
    not even `/healthz` or the teacher (issue 15: 1,050 idle POSTs kept it unreachable for 21 s).
    So: at most `per_address` per address, at most `ceiling` in all, and the last `reserve`
    slots only for addresses that hold fewer than `fair_share` connections: a device opening
    hundreds is refused first, the teacher's laptop (a handful) still gets in.
    """

    per_address: int
    ceiling: int
    reserve: int = 64
    fair_share: int = 8
    open: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    holders: dict[int, str] = field(default_factory=dict)

    @classmethod
    def for_fd_limit(cls, per_address: int, fd_limit: int) -> ConnectionBudget:
        """Leave an eighth of the descriptors (at least 32) for SQLite, logs, mDNS, threads."""
        ceiling = max(16, fd_limit - max(32, fd_limit // 8))
        return cls(per_address=per_address, ceiling=ceiling, reserve=min(64, ceiling // 4))

    def admit(self, transport: asyncio.BaseTransport, address: str) -> bool:
        held, total = self.open.get(address, 0), len(self.holders)
        if is_box_itself(address):
            held = 0  # the box's own clients (IT, benchmarks) count only towards the ceiling
        crowded = total >= self.ceiling - self.reserve and held >= self.fair_share
        if held >= self.per_address or total >= self.ceiling or crowded:
            return False
        self.open[address] += 1
        self.holders[id(transport)] = address
        return True

    def release(self, transport: asyncio.BaseTransport) -> None:
        """Idempotent: called by the HTTP protocol or, after an upgrade, by the websocket one."""
        address = self.holders.pop(id(transport), None)
        if address is not None:
            self.open[address] -= 1
            if self.open[address] <= 0:
                del self.open[address]


def fd_limit() -> int:
    """Raise the soft descriptor limit to the hard one (systemd's LimitNOFILE); return it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
    if soft != target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as exc:
            log.warning("could not raise the open-file limit to %s (%s)", target, exc)
    return soft


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """httptools protocol with deadlines for headers and body, a connection budget, and the
    refusal gate for Engine.IO requests."""

    header_timeout: float = HEADER_TIMEOUT
    body_timeout: float = BODY_TIMEOUT
    budget: ConnectionBudget | None = None
    gate: RefusalGate | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._timer: asyncio.TimerHandle | None = None
        self._gated: asyncio.TimerHandle | None = None
        self._deferred: tuple[Any, Any] | None = None  # (cycle, app) waiting for its body
        peer = transport.get_extra_info("peername")
        self._peer = str(peer[0]) if isinstance(peer, tuple) else "unknown"
        self._refused = self.budget is not None and not self.budget.admit(transport, self._peer)
        if self._refused:
            # Before uvicorn's own set-up (flow control, two socket look-ups, its connection
            # set): one device opened ~8,600 connections a second at its cap (scripts/attack).
            REFUSED_CONNECTIONS.warn(f"refusing a connection from {self._peer}: too many open")
            transport.abort()  # RST, no TIME_WAIT: the descriptor is back at once
            return
        super().connection_made(transport)
        self._arm(self.header_timeout, "request headers")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm(self.header_timeout, "request headers")  # keep-alive: a deadline per request

    def on_headers_complete(self) -> None:
        self._cancel()
        if self._gated is not None:
            return  # a request pipelined behind a gated one: the connection is closing
        if self.gate is not None:
            answer = self.gate.gated(self._peer, self.parser.get_method(), self.url)
            if answer is not None:
                self._refuse_later(answer)
                return
        super().on_headers_complete()
        self._arm(self.body_timeout, "request body")

    def on_body(self, body: bytes) -> None:
        if self._gated is None:
            super().on_body(body)

    def on_message_complete(self) -> None:
        self._cancel()
        if self._gated is not None:
            return
        super().on_message_complete()
        deferred, self._deferred = self._deferred, None
        if deferred is not None:
            super()._start_asgi_task(*deferred)

    def _start_asgi_task(self, cycle: Any, app: Any) -> None:
        """Start the application only once a (small) body is in (uvicorn starts it at the
        headers; private: `HttpToolsProtocol._start_asgi_task`).

        A request whose body never comes then costs no task, no Quart request, no Engine.IO
        environ: closing it at the body deadline is as cheap as refusing it. A client that
        asked for `100 Continue`, or a body larger than uvicorn buffers before pausing, starts
        at once as before (the application answers 100 or 413).
        """
        if (cycle.more_body and not cycle.waiting_for_100_continue
                and _buffered_body(cycle.scope["headers"])):
            self._deferred = (cycle, app)
            return
        super()._start_asgi_task(cycle, app)

    def shutdown(self) -> None:
        """A request still waiting for its body never reached the application: nothing of it
        was done, and its client will retry. uvicorn would hold the stop for the whole grace
        period (3 s) for it and then log an ERROR; close it now instead."""
        if self._deferred is not None:
            self.transport.close()
            return
        super().shutdown()

    def handle_websocket_upgrade(self) -> None:
        self._cancel()  # the websocket protocol takes over; engineio pings it from now on
        if self._gated is not None:
            return
        super().handle_websocket_upgrade()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._refused:
            return  # uvicorn never set it up: nothing of it to take down
        self._cancel()
        if self._gated is not None:
            self._gated.cancel()
        deferred, self._deferred = self._deferred, None
        if deferred is not None:
            # The application never ran, so uvicorn never broke the cycle <-> protocol loop
            # (its run_asgi does, on the way out); left to the rare full collections
            # (gcpolicy), ~2-5 KB each: +240 MB from one device in 12 s (scripts/attack).
            deferred[0].on_response = _nothing
        if self.budget is not None:
            self.budget.release(self.transport)
        super().connection_lost(exc)

    def _refuse_later(self, answer: bytes) -> None:
        """429 in REFUSAL_HOLD seconds, reading nothing more meanwhile, then hang up.

        No ASGI task, no scope beyond uvicorn's own, no environ, no session. Held, because an
        instant 429 only makes a flooding loop spin faster; held, each of its connections
        costs the box one timer a second.
        """
        REFUSED_EARLY.warn(f"answering {self._peer} 429 up front: too many refusals or joins")
        self.transport.pause_reading()
        self._gated = self.loop.call_later(REFUSAL_HOLD, self._answer_429, answer)

    def _answer_429(self, answer: bytes) -> None:
        if not self.transport.is_closing():
            self.transport.write(answer)
            self.transport.close()

    def _arm(self, seconds: float, what: str) -> None:
        self._cancel()
        self._timer = self.loop.call_later(seconds, self._too_slow, seconds, what)

    def _cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _too_slow(self, seconds: float, what: str) -> None:
        self._timer = None
        if not self.transport.is_closing():
            log.info("dropping %s: %s not complete in %.0f s", self.client, what, seconds)
            self.transport.close()


class GuardedWebSocketProtocol(WebSocketsSansIOProtocol):
    """The websocket protocol gives the connection's budget slot back when it closes, and
    stops cleanly while a client's own close is under way."""

    budget: ConnectionBudget | None = None

    def connection_lost(self, exc: Exception | None) -> None:
        if self.budget is not None:
            self.budget.release(self.transport)
        super().connection_lost(exc)

    def shutdown(self) -> None:
        """uvicorn's own shutdown sends a close frame, which websockets refuses (InvalidState)
        on a connection whose client has begun closing but that is not gone yet. That ended
        uvicorn's shutdown before the app's: a SIGTERM during a reconnect storm left the box
        hung, its store never closed, until systemd killed it. Such a connection has answered
        the close already; what it still has queued is for a client that is leaving and may
        not read it (waiting would hold the stop for the whole grace period): drop it."""
        if self.handshake_complete and not self.close_sent and self.conn.state is not State.OPEN:
            self.stop_keepalive()
            self.transport.abort()
            return
        super().shutdown()


def _nothing() -> None:
    """What a cycle that will never answer calls when done (nothing)."""


def _buffered_body(headers: list[tuple[bytes, bytes]]) -> bool:
    """A Content-Length body uvicorn will buffer whole without pausing the socket."""
    for name, value in headers:
        if name == b"content-length":
            return value.isdigit() and int(value) <= HIGH_WATER_LIMIT
    return False  # chunked (or no body): the application starts at once, as before


def guarded_protocol(header_timeout: float, body_timeout: float = BODY_TIMEOUT,
                     budget: ConnectionBudget | None = None,
                     gate: RefusalGate | None = None) -> type[GuardedHttpToolsProtocol]:
    """A protocol class with its own deadlines, budget and gate (tests use short ones)."""
    return type("GuardedHttpToolsProtocol", (GuardedHttpToolsProtocol,),
                {"header_timeout": header_timeout, "body_timeout": body_timeout,
                 "budget": budget, "gate": gate})


def harden(config: uvicorn.Config, header_timeout: float = HEADER_TIMEOUT,
           body_timeout: float = BODY_TIMEOUT, budget: ConnectionBudget | None = None,
           gate: RefusalGate | None = None) -> uvicorn.Config:
    """Put the slow-client guard, the connection budget and the refusal gate into a config."""
    config.http = guarded_protocol(header_timeout, body_timeout, budget, gate)
    config.ws = type("GuardedWebSocketProtocol", (GuardedWebSocketProtocol,), {"budget": budget})
    return config


class WebSocketLines(logging.Filter):
    """Drops the INFO lines uvicorn and websockets log per websocket ("WebSocket /socket.io/..."
    accepted or refused, "connection open", "connection closed"): three per student connect,
    and ~300 KB in 12 s from one device opening refused websockets (scripts/attack). The box
    logs its own refusals, rate-limited. With --log-level DEBUG they stay."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO or logging.getLogger().isEnabledFor(logging.DEBUG):
            return True
        msg = record.msg
        return not (isinstance(msg, str) and (msg.startswith('%s - "WebSocket ')
                                              or msg in PER_WEBSOCKET))


PER_WEBSOCKET = frozenset({"connection open", "connection closed"})


def quiet_websocket_lines() -> None:
    uvicorn_log = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, WebSocketLines) for f in uvicorn_log.filters):
        uvicorn_log.addFilter(WebSocketLines())


class SocketIOGuard:
    """ASGI middleware: cap WebSockets per address; refuse oversized Engine.IO POSTs up front."""

    def __init__(self, app: ASGIApp, limit: int = MAX_SOCKETS_PER_ADDRESS,
                 max_body: int = 64 * 1024, gate: RefusalGate | None = None) -> None:
        self.app, self.limit, self.max_body = app, limit, max_body
        self.gate = gate
        self.open: dict[str, int] = defaultdict(int)

    def __getattr__(self, name: str) -> Any:
        if name == "app":
            raise AttributeError(name)
        return getattr(self.app, name)  # `box`, `quart` and friends stay reachable

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and _is_engineio(scope):
            body = None if self._too_big(scope) else await self._whole_body(receive)
            if body is None:
                self._refused(scope)
                await _too_large(send)
                return
            if isinstance(body, Gone):
                return  # the client went away mid-request: nothing to answer, nothing to log
            receive = _replay(body, receive)
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return
        address = str((scope.get("client") or ("unknown",))[0])
        if self.open[address] >= self.limit:
            REFUSED_WEBSOCKETS.warn(f"refusing websocket from {address}: {self.open[address]} open")
            self._refused(scope)
            await send({"type": "websocket.close", "code": 1008})
            return
        self.open[address] += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.open[address] -= 1
            if self.open[address] <= 0:
                del self.open[address]


    def _refused(self, scope: Scope) -> None:
        if self.gate is not None:
            self.gate.refused(str((scope.get("client") or ("unknown",))[0]))

    async def _whole_body(self, receive: Receive) -> bytes | Gone | None:
        """Engine.IO's body, read before Engine.IO sees the request (None: too large).

        Engine.IO turns a client that vanished before its body into `KeyError: 'REQUEST_METHOD'`
        and an 18-line ERROR traceback, and decodes a half-received body as if it were whole.
        """
        body = b""
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return Gone()
            body += message.get("body", b"")
            if len(body) > self.max_body:
                return None
            if not message.get("more_body"):
                return body

    def _too_big(self, scope: Scope) -> bool:
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                return not value.isdigit() or int(value) > self.max_body
        return False  # Engine.IO reads no more than Content-Length says


class Gone:
    """The client disconnected before its request was complete."""


def _is_engineio(scope: Scope) -> bool:
    return str(scope.get("path", "")).startswith("/socket.io")  # Quart guards its own routes


def _replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands out the already-read body once, then the real channel."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replayed() -> MutableMapping[str, Any]:
        return pending.pop() if pending else await receive()

    return replayed


async def _too_large(send: Send) -> None:
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"text/plain"), (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": b"payload too large"})
