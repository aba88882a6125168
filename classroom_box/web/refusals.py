"""Who keeps being refused: the per-address refusal count and the answers given before any work.
It owns the gate's bookkeeping and canned answers and must never gate the box itself (loopback)
nor an HTTP route other than `/socket.io` and `POST /api/join`.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass, field

import httptools

from classroom_box.domain.ratelimit import KeyedBuckets, is_box_itself

REFUSALS_PER_ADDRESS = 40  # refused Engine.IO attempts an address may make in a burst
REFUSAL_HOLD = 1.0  # seconds a gated request waits for its 429: a flooding thread slows to 1/s


def _canned_429(body: bytes, retry_after: int) -> bytes:
    """A whole 429 answer, built once: the gated path allocates no response."""
    return (b"HTTP/1.1 429 Too Many Requests\r\ncontent-type: application/json\r\n"
            b"content-length: %d\r\nretry-after: %d\r\nx-content-type-options: nosniff\r\n"
            b"connection: close\r\n\r\n%s" % (len(body), retry_after, body))


TOO_MANY_REFUSALS = _canned_429(b'{"error": {"code": "throttled", "message": "too many refused'
                                b' attempts from this device: retry later"}}', 1)
TOO_MANY_JOINS = _canned_429(b'{"error": {"code": "throttled", "message": "too many joins from'
                             b' this device; wait a minute"}}', 60)


@dataclass
class RefusalGate:
    """Refused Engine.IO/Socket.IO attempts per client address: `burst` at once, then `rate`/s.

    The box refuses a handshake over the pending-session cap, a failed authentication, an
    undecodable body, a binary packet, a websocket over the cap; each is cheap alone, but one
    laptop repeats them hundreds of times a second. Once an address has spent its refusals,
    its Engine.IO requests are answered 429 by the protocol before any parsing beyond the
    request line and headers (`GuardedHttpToolsProtocol`). HTTP routes (`/api`, pages) are not
    gated: they have their own throttles, and a classmate behind the same NAT must still join.
    The box itself (loopback) is never gated.
    """

    burst: int = REFUSALS_PER_ADDRESS
    rate: float = 1.0
    refusals: KeyedBuckets = field(init=False)
    # the box's new-students-per-address budget (`Box.join_rate`): while an address has none
    # left, its `POST /api/join` would be 429 anyway (a rejoin with the device's cookie aside),
    # so the protocol answers it, held, instead of Quart, the JSON parser and SQLite (a join
    # flood kept ~300 such 429s a second going through all of them: scripts/attack)
    joins: KeyedBuckets | None = None

    def __post_init__(self) -> None:
        self.refusals = KeyedBuckets(self.rate, self.burst)

    def gated(self, address: str, method: bytes, url: bytes) -> bytes | None:
        """The canned answer for a request the protocol refuses itself, or None (the usual
        case: one or two dict lookups)."""
        refusing = self.closed(address)
        joining = method == b"POST" and self.joins is not None and self.joins.empty(address)
        if not (refusing or joining):
            return None
        path = _routed_path(url)
        if refusing and path.startswith(b"/socket.io"):
            return TOO_MANY_REFUSALS
        if joining and path == b"/api/join":
            return TOO_MANY_JOINS
        return None

    def refused(self, address: str) -> None:
        """The box refused something from this address."""
        if not is_box_itself(address):
            self.refusals.take(address)

    def closed(self, address: str) -> bool:
        """True while the address has no refusal left (no allocation: a dict lookup)."""
        return self.refusals.empty(address)


def _routed_path(url: bytes) -> bytes:
    """The path as uvicorn will hand it on (absolute-form and %-escapes too)."""
    try:
        path = httptools.parse_url(url).path or b""
    except httptools.HttpParserInvalidURLError:
        return b""  # uvicorn answers it 400 itself
    return urllib.parse.unquote_to_bytes(path) if b"%" in path else path
