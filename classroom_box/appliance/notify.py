"""sd_notify(3) without libsystemd: readiness, stopping and watchdog pings for `Type=notify`.
It must never fail the box when systemd is absent: outside it every call is a no-op.

The protocol is one datagram of `KEY=VALUE` lines to the AF_UNIX socket named in
`$NOTIFY_SOCKET` (a leading "@" means the Linux abstract namespace). Outside systemd the variable
is unset and every call is a cheap no-op, so `serve` can call these unconditionally.

Call `notify("READY=1")` once the HTTP socket is listening (so `systemctl start` returns only
when students can connect), `notify("STOPPING=1")` on SIGTERM, and run `watchdog_loop()` as a task
for the lifetime of the server: if the event loop wedges, the pings stop and systemd restarts us.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Mapping

log = logging.getLogger(__name__)


def _address(raw: str) -> str | bytes:
    if raw.startswith("@"):
        return b"\0" + raw[1:].encode()
    return raw


def notify(message: str, environ: Mapping[str, str] | None = None) -> bool:
    """Send `message` (e.g. "READY=1" or "STATUS=serving on :8080") to systemd.

    Returns True if a datagram was sent, False when not running under systemd or the socket is
    gone. Never raises: failing to notify must not take the box down. Non-blocking (one local
    datagram), so it is fine to call from the event loop.
    """
    environ = os.environ if environ is None else environ
    raw = environ.get("NOTIFY_SOCKET", "")
    if not raw or not (raw.startswith("@") or raw.startswith("/")):
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.setblocking(False)
            sock.connect(_address(raw))
            sock.sendall(message.encode())
        return True
    except OSError as exc:
        log.debug("sd_notify %r failed: %s", message, exc)
        return False


def watchdog_interval(environ: Mapping[str, str] | None = None) -> float | None:
    """Seconds between pings (half of `$WATCHDOG_USEC`), or None when no watchdog is armed.

    Honors `$WATCHDOG_PID` like sd_watchdog_enabled(3): a child process that inherited the
    environment must not ping on behalf of the service.
    """
    environ = os.environ if environ is None else environ
    try:
        usec = int(environ.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    if usec <= 0:
        return None
    pid = environ.get("WATCHDOG_PID", "")
    if pid and pid != str(os.getpid()):
        return None
    return usec / 2_000_000


async def watchdog_loop(environ: Mapping[str, str] | None = None) -> None:
    """Send WATCHDOG=1 every half `$WATCHDOG_USEC` until cancelled; returns at once if unset.

    It pings from the event loop on purpose: a blocked loop is exactly what should trip it.
    """
    interval = watchdog_interval(environ)
    if interval is None:
        return
    log.debug("systemd watchdog: ping every %.1fs", interval)
    while True:
        notify("WATCHDOG=1", environ)
        await asyncio.sleep(interval)
