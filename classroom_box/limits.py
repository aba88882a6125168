"""Resource limits below the application: slow clients, socket counts per address, own origins.

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
from collections import defaultdict
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger(__name__)
HEADER_TIMEOUT = 10.0  # seconds for a request line + headers; a phone on bad Wi-Fi needs < 1 s
MAX_SOCKETS_PER_ADDRESS = 200  # a whole school behind one NAT address must still fit

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """httptools protocol that drops a connection whose request headers do not arrive in time."""

    header_timeout: float = HEADER_TIMEOUT

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._header_timer: asyncio.TimerHandle | None = None
        super().connection_made(transport)
        self._arm_header_timer()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm_header_timer()  # keep-alive: the next request gets its own deadline

    def on_headers_complete(self) -> None:
        self._cancel_header_timer()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        super().connection_lost(exc)

    def _arm_header_timer(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self.header_timeout, self._too_slow)

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _too_slow(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            log.info("dropping %s: request headers not complete in %.0f s",
                     self.client, self.header_timeout)
            self.transport.close()


def guarded_protocol(header_timeout: float) -> type[GuardedHttpToolsProtocol]:
    """A protocol class with its own header timeout (tests use a short one)."""
    return type("GuardedHttpToolsProtocol", (GuardedHttpToolsProtocol,),
                {"header_timeout": header_timeout})


def harden(config: uvicorn.Config, header_timeout: float = HEADER_TIMEOUT) -> uvicorn.Config:
    """Put the slow-client guard into a uvicorn config built by `server.uvicorn_config`."""
    config.http = guarded_protocol(header_timeout)
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
        if scope["type"] == "http" and self._too_big(scope):
            await send({"type": "http.response.start", "status": 413,
                        "headers": [(b"content-type", b"text/plain"), (b"connection", b"close")]})
            await send({"type": "http.response.body", "body": b"payload too large"})
            return
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


    def _too_big(self, scope: Scope) -> bool:
        if not str(scope.get("path", "")).startswith("/socket.io"):
            return False  # Quart enforces MAX_CONTENT_LENGTH on its own routes
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                return not value.isdigit() or int(value) > self.max_body
        return False  # Engine.IO reads no more than Content-Length says


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
