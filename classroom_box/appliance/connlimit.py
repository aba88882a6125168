"""The kernel's share of refusing a connection flood: a per-device limit on new connections.
It must never touch a rule but its own table's, nor limit anything but new TCP connections to the
box's port.

The box resets a device's connections over its cap as soon as they are accepted
(`web/limits.ConnectionBudget`), but each accept, protocol object and close is still work on the
box's one event loop: a laptop opening 10,000-15,000 connections a second kept the box at 80 %
CPU and the class's p95 at 2.5-3.5x its quiet value (docs/security.md). Dropped by the kernel
before the handshake, the same flood costs the box nothing. nftables does that per source address
with a dynamic set; the systemd unit `classroom-box-connection-limit.service` loads this table
before the box starts (where nftables is installed) and deletes it when stopped.
"""

from __future__ import annotations

import shutil
import subprocess

TABLE = "classroom_box"
# New connections a second per source address, after a burst. A student's device opens at most
# ~7 to load a page and its socket; a whole class of 30 behind one NAT reconnecting at once after
# a Wi-Fi blip opens ~210, within the burst. A dropped SYN is retried by the device's kernel 1 s
# later, so a device over the limit is slowed, not cut off.
RATE_PER_SECOND = 50
BURST = 300
# Addresses remembered at most (each element a few hundred bytes of kernel memory), and for how
# long after their last new connection: a spoofed-address SYN flood cannot grow the set without
# bound, and a device's bucket is full again once it has been quiet.
MAX_ADDRESSES = 65535
FORGET_AFTER = "1m"


class NftError(RuntimeError):
    """nft is missing or refused the table (no root, no nf_tables in the kernel)."""


def ruleset(port: int) -> str:
    """The nft script: (re)creates the table in one transaction, so re-applying never doubles it."""
    rules = "\n".join(
        f"        tcp dport {port} ct state new update @{family}"
        f" {{ {match} saddr limit rate over {RATE_PER_SECOND}/second burst {BURST} packets }}"
        " counter drop"
        for family, match in (("new_v4", "ip"), ("new_v6", "ip6")))
    sets = "\n".join(
        f"    set {family} {{ type {kind}; size {MAX_ADDRESSES}; flags dynamic,timeout;"
        f" timeout {FORGET_AFTER}; }}"
        for family, kind in (("new_v4", "ipv4_addr"), ("new_v6", "ipv6_addr")))
    return (f"table inet {TABLE}\ndelete table inet {TABLE}\n"
            f"table inet {TABLE} {{\n{sets}\n"
            "    chain input {\n"
            "        type filter hook input priority filter; policy accept;\n"
            f"{rules}\n    }}\n}}\n")


def apply(port: int) -> None:
    """Load the limit for `port` (replacing an earlier one)."""
    _nft(["-f", "-"], ruleset(port))


def remove() -> None:
    """Delete the table; nothing to delete is fine (the unit's stop after a failed start)."""
    _nft(["-f", "-"], f"table inet {TABLE}\ndelete table inet {TABLE}\n")


def _nft(args: list[str], script: str) -> None:
    nft = shutil.which("nft") or shutil.which("nft", path="/usr/sbin:/sbin")
    if nft is None:
        raise NftError("nft is not installed (apt install nftables)")
    done = subprocess.run([nft, *args], input=script, text=True, capture_output=True,
                          check=False)
    if done.returncode != 0:
        raise NftError(done.stderr.strip() or f"nft exited with {done.returncode}")
