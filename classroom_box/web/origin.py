"""Same origin: the one rule for Socket.IO handshakes and for HTTP writes (CSRF).
It owns that rule and must never trust a forwarded header: the scheme and Host are the ones the
request really arrived on (Engine.IO's own check reads X-Forwarded-Proto and refused TLS).
"""

from __future__ import annotations

from typing import Any


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
