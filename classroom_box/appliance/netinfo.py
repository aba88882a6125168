"""Which addresses of this machine a phone on the classroom LAN can reach.
It must never resolve names or touch the network: it only lists local interfaces.

Join URLs use the LAN IP (not `.local`) because many phones, Android in particular, still do not
resolve mDNS host names in the browser. The same list decides which interfaces mDNS is advertised
on, so a laptop running docker does not announce the box on its bridge networks.

Addresses come from `ifaddr` (already a zeroconf dependency; it calls getifaddrs(3), which glibc
implements over an AF_NETLINK socket, hence AF_NETLINK in the systemd unit).
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import socket

import ifaddr

# Virtual interfaces that phones on the LAN can never reach.
EXCLUDED_PREFIXES: tuple[str, ...] = ("lo", "docker", "br-", "veth", "virbr", "cni", "flannel",
                                      "podman", "lxcbr", "vboxnet", "vmnet", "tun", "tap", "wg")


def _filter_items(interface_filter: str) -> set[str]:
    return {item.strip() for item in interface_filter.split(",") if item.strip()}


def _usable(name: str, ip: str) -> bool:
    """Default rule: real interfaces, routable-ish IPv4 (no loopback, no 169.254/16)."""
    if name.startswith(EXCLUDED_PREFIXES):
        return False
    addr = ipaddress.IPv4Address(ip)
    return not (addr.is_loopback or addr.is_link_local or addr.is_unspecified
                or addr.is_multicast)


def lan_addresses(interface_filter: str = "") -> list[str]:
    """IPv4 addresses students can reach, in interface order (the first is the "primary" one).

    `interface_filter` is a comma-separated list of interface names and/or IPv4 addresses
    (`--mdns-interface`). When given, exactly the matching addresses are returned, even loopback,
    docker or link-local ones: naming something explicitly overrides the default exclusions.
    """
    wanted = _filter_items(interface_filter)
    found: list[str] = []
    for adapter in ifaddr.get_adapters():
        for entry in adapter.ips:
            if not isinstance(entry.ip, str):  # IPv6 entries are tuples
                continue
            if wanted:
                keep = adapter.name in wanted or entry.ip in wanted
            else:
                keep = _usable(adapter.name, entry.ip)
            if keep and entry.ip not in found:
                found.append(entry.ip)
    return found


def primary_lan_ip(interface_filter: str = "") -> str:
    """The address to print in join URLs and QR codes; 127.0.0.1 when there is no LAN at all.

    Prefers the interface carrying the default route (what the kernel would pick to reach the
    outside), found with a connected UDP socket that sends nothing, then the first LAN address.
    """
    candidates = lan_addresses(interface_filter)
    if not candidates:
        return "127.0.0.1"
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: never contacted, only routed
            routed = probe.getsockname()[0]
        if routed in candidates:
            return routed
    except OSError:
        pass  # no default route (offline classroom): fall back to interface order
    return candidates[0]


def _sanitize_label(text: str) -> str:
    label = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    return label[:63].strip("-")


def local_hostname(box_id: str = "") -> str:
    """mDNS host name for the box, e.g. `classroom-box-3f9a1c.local.`.

    A name of our own (rather than the OS host name) avoids fighting avahi, which already
    publishes `raspberrypi.local` on Raspberry Pi OS. Derived from the stable box id so the name
    survives reboots; without an id, from a hash of the OS host name.
    """
    short = _sanitize_label(box_id)[:6]
    if not short:
        short = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:6]
    return f"classroom-box-{short}.local."
