"""Which address goes into join URLs and QR codes: the LAN IP, since phones don't all resolve .local."""

from __future__ import annotations

import socket
from collections.abc import Callable

from classroom_box.config import Settings


def lan_ip() -> str:
    """The address the default route would use; no packet is sent (UDP connect only)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.255.255.255", 1))
            return str(probe.getsockname()[0])
        except OSError:
            return "127.0.0.1"


def public_host(settings: Settings) -> str:
    if settings.public_host:
        return settings.public_host
    if settings.host not in ("0.0.0.0", "::", ""):
        return settings.host
    return lan_ip()


def base_url(settings: Settings) -> str:
    return f"{settings.scheme}://{public_host(settings)}:{settings.port}"


def join_url_maker(settings: Settings) -> Callable[[str], str]:
    base = base_url(settings)
    return lambda code: f"{base}/join/{code}"
