"""mDNS advertisement and discovery with real zeroconf sockets.

Loopback first (always runs), then across two network namespaces joined by a veth pair, which is
the closest thing to "a teacher's box and a student's laptop on the same LAN" a test can build.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from zeroconf import ServiceStateChange
from zeroconf.asyncio import AsyncServiceBrowser, AsyncZeroconf

from classroom_box.appliance import discovery
from classroom_box.appliance.discovery import BOX_TYPE, Advertiser, box_id, discover
from classroom_box.appliance.netinfo import lan_addresses, local_hostname, primary_lan_ip

REPO = Path(__file__).resolve().parents[2]
LO = ["127.0.0.1"]


def test_box_id_is_created_once_and_kept(tmp_path: Path) -> None:
    first = box_id(tmp_path / "data")
    assert len(first) == 12 and int(first, 16) >= 0
    assert box_id(tmp_path / "data") == first
    assert box_id(tmp_path / "other") != first
    assert local_hostname(first) == f"classroom-box-{first[:6]}.local."


def test_lan_addresses_exclude_loopback_unless_named() -> None:
    assert "127.0.0.1" not in lan_addresses()
    assert lan_addresses("lo") == ["127.0.0.1"]
    assert lan_addresses("127.0.0.1") == ["127.0.0.1"]
    assert lan_addresses("no-such-interface0") == []
    assert primary_lan_ip("no-such-interface0") == "127.0.0.1"
    ip = primary_lan_ip()
    assert ip == "127.0.0.1" or ip in lan_addresses()


def test_lan_addresses_skip_virtual_interfaces(monkeypatch: pytest.MonkeyPatch) -> None:
    import ifaddr

    def adapter(name: str, ip: str) -> ifaddr.Adapter:
        return ifaddr.Adapter(name, name, [ifaddr.IP(ip, 24, name)])

    fake = [adapter("lo", "127.0.0.1"), adapter("docker0", "172.17.0.1"),
            adapter("br-1a2b", "172.18.0.1"), adapter("veth9", "10.9.9.9"),
            adapter("virbr0", "192.168.122.1"), adapter("wlan0", "169.254.3.4"),
            adapter("eth0", "192.168.1.20"), adapter("wlan0", "10.0.0.7")]
    monkeypatch.setattr("classroom_box.appliance.netinfo.ifaddr.get_adapters", lambda: fake)
    assert lan_addresses() == ["192.168.1.20", "10.0.0.7"]
    assert lan_addresses("docker0,wlan0") == ["172.17.0.1", "169.254.3.4", "10.0.0.7"]


async def test_advertise_and_discover_on_loopback(tmp_path: Path) -> None:
    ident = box_id(tmp_path)
    async with Advertiser("Room 12", 8080, ident, "9.9.9", addresses=LO, interfaces=LO) as adv:
        assert adv.service_names == ["Room 12 classroom-box._http._tcp.local.",
                                     "Room 12 classroom-box._classroom-box._tcp.local."]
        boxes = await discover(2.0, interfaces=LO)
        # The _http._tcp record carries the TXT properties generic browsers rely on.
        azc = AsyncZeroconf(interfaces=LO)
        try:
            info = await azc.async_get_service_info(
                "_http._tcp.local.", "Room 12 classroom-box._http._tcp.local.", 2000)
        finally:
            await azc.async_close()
    mine = [b for b in boxes if b.id == ident]
    assert len(mine) == 1, boxes
    box = mine[0]
    assert box.name == "Room 12"
    assert box.urls == ["http://127.0.0.1:8080/"]
    assert box.version == "9.9.9"
    assert box.host == local_hostname(ident)
    assert info is not None
    assert info.properties[b"path"] == b"/"
    assert info.properties[b"app"] == b"classroom-box"
    assert info.properties[b"id"] == ident.encode()
    assert info.properties[b"version"] == b"9.9.9"


async def test_stop_sends_goodbye_so_browsers_drop_the_box() -> None:
    events: list[tuple[str, ServiceStateChange]] = []
    changed = asyncio.Event()

    def on_change(zeroconf: object, service_type: str, name: str,
                  state_change: ServiceStateChange) -> None:
        events.append((name, state_change))
        changed.set()

    ident = uuid.uuid4().hex[:12]
    azc = AsyncZeroconf(interfaces=LO)
    browser = AsyncServiceBrowser(azc.zeroconf, [BOX_TYPE], handlers=[on_change])
    adv = Advertiser(f"Bye {ident}", 8081, ident, "1", addresses=LO, interfaces=LO)
    name = f"Bye {ident} classroom-box.{BOX_TYPE}"
    try:
        await adv.start()
        async with asyncio.timeout(5):
            while (name, ServiceStateChange.Added) not in events:
                changed.clear()
                await changed.wait()
        await adv.stop()
        async with asyncio.timeout(4):  # a cache expiry would take 75 min: only goodbyes are fast
            while (name, ServiceStateChange.Removed) not in events:
                changed.clear()
                await changed.wait()
    finally:
        await adv.stop()
        await browser.async_cancel()
        await azc.async_close()


async def test_address_change_is_reannounced(monkeypatch: pytest.MonkeyPatch) -> None:
    current = ["127.0.0.1"]
    monkeypatch.setattr(discovery, "lan_addresses", lambda _filter="": list(current))
    ident = uuid.uuid4().hex[:12]
    adv = Advertiser("Moving", 8082, ident, "1", addresses=None, interfaces=LO, check_interval=0)
    try:
        await adv.start()
        assert adv.addresses == ["127.0.0.1"]
        assert await adv.refresh() is False
        current.append("10.123.45.6")  # e.g. DHCP answered on a second interface
        assert await adv.refresh() is True
        boxes = [b for b in await discover(2.0, interfaces=LO) if b.id == ident]
        assert len(boxes) == 1
        assert sorted(boxes[0].addresses) == ["10.123.45.6", "127.0.0.1"]
    finally:
        await adv.stop()


# --- two network namespaces ------------------------------------------------------------------

ADVERTISE = """
import asyncio, sys
from classroom_box.appliance.discovery import Advertiser
async def main():
    adv = Advertiser("Netns Room", 8443, "feedc0ffee00", "2.0", scheme="https",
                     check_interval=1)
    await adv.start()
    print("READY", ",".join(adv.addresses), flush=True)
    await asyncio.to_thread(sys.stdin.readline)
    await adv.stop()
asyncio.run(main())
"""

DISCOVER = """
import asyncio, dataclasses, json
from classroom_box.appliance.discovery import discover
boxes = asyncio.run(discover(2.0))
print(json.dumps([dataclasses.asdict(b) for b in boxes]))
"""


def _ip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10)


@pytest.fixture
def two_namespaces():
    """Two netns `a` (10.77.0.1) and `b` (10.77.0.2) joined by a veth pair; skip if not allowed."""
    if shutil.which("ip") is None:
        pytest.skip("`ip` (iproute2) is not installed")
    if os.geteuid() != 0:
        pytest.skip("ip netns needs root")
    tag = uuid.uuid4().hex[:6]
    ns_a, ns_b = f"cbA{tag}", f"cbB{tag}"
    probe = _ip("netns", "add", ns_a)
    if probe.returncode != 0:
        pytest.skip(f"`ip netns add` is not permitted here: {probe.stderr.strip()}")
    try:
        steps = [
            ("netns", "add", ns_b),
            ("link", "add", f"cba{tag}", "netns", ns_a, "type", "veth",
             "peer", "name", f"cbb{tag}", "netns", ns_b),
            ("-n", ns_a, "addr", "add", "10.77.0.1/24", "dev", f"cba{tag}"),
            ("-n", ns_b, "addr", "add", "10.77.0.2/24", "dev", f"cbb{tag}"),
            ("-n", ns_a, "link", "set", "lo", "up"), ("-n", ns_b, "link", "set", "lo", "up"),
            ("-n", ns_a, "link", "set", f"cba{tag}", "up"),
            ("-n", ns_b, "link", "set", f"cbb{tag}", "up"),
        ]
        for step in steps:
            result = _ip(*step)
            assert result.returncode == 0, (step, result.stderr)
        yield ns_a, ns_b
    finally:
        _ip("netns", "del", ns_a)
        _ip("netns", "del", ns_b)


def test_discover_across_network_namespaces(two_namespaces: tuple[str, str]) -> None:
    ns_a, ns_b = two_namespaces
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    adv = subprocess.Popen(["ip", "netns", "exec", ns_a, sys.executable, "-c", ADVERTISE],
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert adv.stdout is not None and adv.stdin is not None
        ready = adv.stdout.readline().split()
        # Auto-detected LAN address: loopback excluded, the veth end included.
        assert ready == ["READY", "10.77.0.1"]
        out = subprocess.run(["ip", "netns", "exec", ns_b, sys.executable, "-c", DISCOVER],
                             capture_output=True, text=True, env=env, timeout=20)
        assert out.returncode == 0, out.stderr
        boxes = json.loads(out.stdout)
        assert [(b["name"], b["urls"], b["version"], b["id"]) for b in boxes] == [
            ("Netns Room", ["https://10.77.0.1:8443/"], "2.0", "feedc0ffee00")]
        adv.stdin.write("\n")
        adv.stdin.flush()
        assert adv.wait(timeout=10) == 0
    finally:
        if adv.poll() is None:
            adv.kill()
            adv.wait()
