"""Which address goes into join URLs and QR codes: the LAN IP (phones don't all resolve .local).

It must never put a `.local` name into a join URL by default (phones don't all resolve it).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

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


SERVED = "served.json"  # where `serve` notes the port and scheme it listens on, for `qr`


def remember_served(settings: Settings) -> None:
    """Note how this box is reached, so `classroom-box qr` prints the port it really serves on."""
    cert = str(settings.tls_cert) if settings.tls_cert else None
    (settings.data_dir / SERVED).write_text(
        json.dumps({"port": settings.port, "tls_cert": cert}) + "\n", encoding="utf-8")


def as_served(settings: Settings) -> Settings:
    """`settings` with the port and certificate (scheme) of the last `serve` of this data dir."""
    try:
        served = json.loads((settings.data_dir / SERVED).read_text(encoding="utf-8"))
        port, cert = int(served["port"]), served["tls_cert"]
    except (OSError, ValueError, KeyError, TypeError):
        return settings
    return replace(settings, port=port, tls_cert=Path(cert) if cert else None)
