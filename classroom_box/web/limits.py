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
  default same-origin check refuses browsers under TLS. `own_origin` compares the Origin with the
  scheme and Host the request really arrived on.
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
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from classroom_box.domain.ratelimit import is_box_itself

log = logging.getLogger(__name__)
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
    """httptools protocol with deadlines for headers and body, and a connection budget."""

    header_timeout: float = HEADER_TIMEOUT
    body_timeout: float = BODY_TIMEOUT
    budget: ConnectionBudget | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._timer: asyncio.TimerHandle | None = None
        super().connection_made(transport)
        if self.budget is not None and not self.budget.admit(transport, self._address()):
            log.info("refusing a connection from %s: too many open", self._address())
            transport.abort()  # RST, no TIME_WAIT: the descriptor is back at once
            return
        self._arm(self.header_timeout, "request headers")

    def _address(self) -> str:
        return str(self.client[0]) if self.client else "unknown"

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm(self.header_timeout, "request headers")  # keep-alive: a deadline per request

    def on_headers_complete(self) -> None:
        self._cancel()
        super().on_headers_complete()
        self._arm(self.body_timeout, "request body")

    def on_message_complete(self) -> None:
        self._cancel()
        super().on_message_complete()

    def handle_websocket_upgrade(self) -> None:
        self._cancel()  # the websocket protocol takes over; engineio pings it from now on
        super().handle_websocket_upgrade()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel()
        if self.budget is not None:
            self.budget.release(self.transport)
        super().connection_lost(exc)

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
    """The websocket protocol gives the connection's budget slot back when it closes."""

    budget: ConnectionBudget | None = None

    def connection_lost(self, exc: Exception | None) -> None:
        if self.budget is not None:
            self.budget.release(self.transport)
        super().connection_lost(exc)


def guarded_protocol(header_timeout: float, body_timeout: float = BODY_TIMEOUT,
                     budget: ConnectionBudget | None = None) -> type[GuardedHttpToolsProtocol]:
    """A protocol class with its own deadlines and budget (tests use short ones)."""
    return type("GuardedHttpToolsProtocol", (GuardedHttpToolsProtocol,),
                {"header_timeout": header_timeout, "body_timeout": body_timeout,
                 "budget": budget})


def harden(config: uvicorn.Config, header_timeout: float = HEADER_TIMEOUT,
           body_timeout: float = BODY_TIMEOUT,
           budget: ConnectionBudget | None = None) -> uvicorn.Config:
    """Put the slow-client guard and the connection budget into a uvicorn config."""
    config.http = guarded_protocol(header_timeout, body_timeout, budget)
    config.ws = type("GuardedWebSocketProtocol", (GuardedWebSocketProtocol,), {"budget": budget})
    return config


class SocketIOGuard:
    """ASGI middleware: cap WebSockets per address; refuse oversized Engine.IO POSTs up front."""

    def __init__(self, app: ASGIApp, limit: int = MAX_SOCKETS_PER_ADDRESS,
                 max_body: int = 64 * 1024) -> None:
        self.app, self.limit, self.max_body = app, limit, max_body
        self.open: dict[str, int] = defaultdict(int)

    def __getattr__(self, name: str) -> Any:
        if name == "app":
            raise AttributeError(name)
        return getattr(self.app, name)  # `box`, `quart` and friends stay reachable

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and _is_engineio(scope):
            body = None if self._too_big(scope) else await self._whole_body(receive)
            if body is None:
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
            log.warning("refusing websocket from %s: %d open", address, self.open[address])
            await send({"type": "websocket.close", "code": 1008})
            return
        self.open[address] += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.open[address] -= 1
            if self.open[address] <= 0:
                del self.open[address]


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


def own_origin(origin: str | None, environ: dict[str, Any]) -> bool:
    """Socket.IO CORS: only the box's own origin (scheme and host the request came in on)."""
    if not origin:
        return True  # not a browser cross-site request (browsers always send Origin there)
    scope = environ.get("asgi.scope") or {}
    return is_own_origin(origin, scope.get("scheme", "http"), environ.get("HTTP_HOST", ""))


def is_own_origin(origin: str, scheme: str, host: str) -> bool:
    """The one same-origin rule, for Socket.IO handshakes and for HTTP writes (CSRF)."""
    scheme = {"ws": "http", "wss": "https"}.get(scheme, scheme)
    return bool(host) and origin == f"{scheme}://{host}"
