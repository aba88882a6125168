"""Which address goes into join URLs and QR codes: the LAN IP (phones don't all resolve .local).

It must never put a `.local` name into a join URL by default (phones don't all resolve it).
"""

from __future__ import annotations

from collections.abc import Callable

from classroom_box.appliance.netinfo import primary_lan_ip
from classroom_box.config import Settings


def public_host(settings: Settings) -> str:
    if settings.public_host:
        return settings.public_host
    if settings.host not in ("0.0.0.0", "::", ""):
        return settings.host
    return primary_lan_ip(settings.mdns_interface)


def base_url(settings: Settings) -> str:
    return f"{settings.scheme}://{public_host(settings)}:{settings.port}"


def join_url_maker(settings: Settings) -> Callable[[str], str]:
    base = base_url(settings)
    return lambda code: f"{base}/join/{code}"
