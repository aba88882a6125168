"""mDNS advertisement and discovery of boxes (python-zeroconf, asyncio API).
It must never advertise on interfaces phones cannot reach, nor stop the box when mDNS fails.

The box registers two services: `_http._tcp.local.` so any mDNS browser (macOS Safari bookmarks,
Android "network services" apps) shows "Room 12 classroom-box", and `_classroom-box._tcp.local.` so
`classroom-box discover` lists only boxes. Zeroconf is bound to the LAN addresses only (see
netinfo), and a cheap periodic check rebinds and re-announces when they change, e.g. when DHCP
answers after boot or the Pi moves from Wi-Fi to Ethernet.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from dataclasses import dataclass, field
from pathlib import Path

from zeroconf import DNSQuestionType, InterfaceChoice, IPVersion, ServiceStateChange
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from classroom_box.appliance.netinfo import lan_addresses, local_hostname

log = logging.getLogger(__name__)

HTTP_TYPE = "_http._tcp.local."
BOX_TYPE = "_classroom-box._tcp.local."
BOX_ID_FILE = "box-id"


def box_id(data_dir: Path) -> str:
    """A stable random id for this box, created once in the data dir and kept forever.

    Lets `discover` and clients tell two boxes with the same room name apart, and keeps the mDNS
    host name stable across reboots. Written atomically so a crash never leaves an empty id.
    """
    path = Path(data_dir) / BOX_ID_FILE
    try:
        existing = path.read_text(encoding="ascii").strip()
        if existing:
            return existing
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    new_id = secrets.token_hex(6)
    tmp = path.with_name(f".{BOX_ID_FILE}.{os.getpid()}")
    tmp.write_text(new_id + "\n", encoding="ascii")
    os.replace(tmp, path)
    return new_id


@dataclass(frozen=True)
class BoxInfo:
    """One box found on the LAN."""

    name: str
    urls: list[str]
    version: str
    id: str
    host: str = ""
    port: int = 0
    addresses: list[str] = field(default_factory=list)


def _url(scheme: str, ip: str, port: int, path: str = "/") -> str:
    default = (scheme == "http" and port == 80) or (scheme == "https" and port == 443)
    host = f"[{ip}]" if ":" in ip else ip
    return f"{scheme}://{host}{'' if default else f':{port}'}{path or '/'}"


class Advertiser:
    """Advertise this box over mDNS for as long as it serves.

    `addresses=None` follows the LAN (netinfo.lan_addresses(interface_filter)) and is re-checked
    every `check_interval` seconds; a fixed list is advertised as given. `interfaces` are the
    addresses zeroconf binds to (None: the advertised addresses), e.g. ["127.0.0.1"] in tests.
    """

    def __init__(self, name: str, port: int, box_id: str, version: str,
                 addresses: list[str] | None = None, interfaces: list[str] | None = None,
                 scheme: str = "http", *, interface_filter: str = "",
                 check_interval: float = 10.0, hostname: str | None = None) -> None:
        self.name = name
        self.port = port
        self.box_id = box_id
        self.version = version
        self.scheme = scheme
        self.hostname = hostname or local_hostname(box_id)
        self._fixed_addresses = list(addresses) if addresses is not None else None
        self._fixed_interfaces = list(interfaces) if interfaces is not None else None
        self._filter = interface_filter
        self._interval = check_interval
        self._azc: AsyncZeroconf | None = None
        self._infos: list[AsyncServiceInfo] = []
        self._current: list[str] = []
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    @property
    def addresses(self) -> list[str]:
        """The addresses currently advertised (empty when no LAN is up yet)."""
        return list(self._current)

    @property
    def service_names(self) -> list[str]:
        """Registered instance names (zeroconf may have renamed them on a conflict)."""
        return [info.name for info in self._infos]

    async def _wanted(self) -> list[str]:
        if self._fixed_addresses is not None:
            return self._fixed_addresses
        # getifaddrs is fast but still a syscall storm: keep it off the event loop.
        return await asyncio.to_thread(lan_addresses, self._filter)

    def _service_infos(self, addresses: list[str]) -> list[AsyncServiceInfo]:
        props = {"path": "/", "app": "classroom-box", "version": self.version,
                 "id": self.box_id, "scheme": self.scheme}
        packed = [socket.inet_aton(ip) for ip in addresses]
        instance = f"{self.name} classroom-box"
        return [AsyncServiceInfo(stype, f"{instance}.{stype}", port=self.port, properties=props,
                                 addresses=packed, server=self.hostname)
                for stype in (HTTP_TYPE, BOX_TYPE)]

    async def _bind(self, addresses: list[str]) -> None:
        """(Re)create the zeroconf instance on `addresses` and register both services."""
        await self._unbind()
        self._current = list(addresses)
        if not addresses:
            log.warning("mDNS: no LAN address yet; will retry every %ss", self._interval)
            return
        interfaces = self._fixed_interfaces or addresses
        self._azc = AsyncZeroconf(interfaces=interfaces, ip_version=IPVersion.V4Only)
        self._infos = self._service_infos(addresses)
        # Each call returns once queued; awaiting its task waits for probing + announcing
        # (about 1.5 s), so register both services side by side.
        tasks = [await self._azc.async_register_service(info, allow_name_change=True)
                 for info in self._infos]
        await asyncio.gather(*tasks)
        log.info("mDNS: advertising %s on %s as %s", self.service_names, addresses, self.hostname)

    async def _unbind(self) -> None:
        azc, self._azc, infos, self._infos = self._azc, None, self._infos, []
        if azc is None:
            return
        try:
            for info in infos:
                # Await the returned task too: closing first would cancel the goodbye packets.
                await (await azc.async_unregister_service(info))
        finally:
            await azc.async_close()

    async def start(self) -> None:
        """Register the services and start watching the LAN addresses."""
        async with self._lock:
            await self._bind(await self._wanted())
        if self._fixed_addresses is None and self._interval > 0:
            self._task = asyncio.create_task(self._watch(), name="mdns-address-watch")

    async def refresh(self) -> bool:
        """Re-check addresses now; re-announce if they changed. Returns True when they did."""
        wanted = await self._wanted()
        async with self._lock:
            if sorted(wanted) == sorted(self._current):
                return False
            if self._azc is not None and self._fixed_interfaces is not None:
                # Same sockets, new A records: an update re-announces them.
                packed = [socket.inet_aton(ip) for ip in wanted]
                for info in self._infos:
                    info.addresses = packed
                    await (await self._azc.async_update_service(info))
                self._current = list(wanted)
            else:
                # New interfaces need new sockets (multicast membership is per interface).
                await self._bind(wanted)
            log.info("mDNS: LAN addresses changed, now %s", wanted)
            return True

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.refresh()
            except Exception:  # a flaky interface must not kill the box
                log.exception("mDNS: refresh failed")

    async def stop(self) -> None:
        """Unregister (goodbye packets, so no stale entries linger) and close the sockets."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        async with self._lock:
            await self._unbind()
            self._current = []

    async def __aenter__(self) -> Advertiser:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


def _box_from_info(info: AsyncServiceInfo) -> BoxInfo:
    props = {k.decode(): (v.decode() if v is not None else "")
             for k, v in (info.properties or {}).items()}
    addresses = info.parsed_scoped_addresses(IPVersion.V4Only)
    scheme = props.get("scheme", "http")
    port = info.port or 0
    return BoxInfo(
        name=info.name.removesuffix("." + BOX_TYPE).removesuffix(" classroom-box"),
        urls=[_url(scheme, ip, port, props.get("path", "/")) for ip in addresses],
        version=props.get("version", ""), id=props.get("id", ""),
        host=info.server or "", port=port, addresses=addresses)


async def discover(
    timeout: float = 3.0,  # noqa: ASYNC109 - how long to listen, not a cancellation deadline
    interfaces: list[str] | None = None,
) -> list[BoxInfo]:
    """Browse `_classroom-box._tcp.local.` for `timeout` seconds and return the boxes found.

    `interfaces=None` uses the LAN addresses (all interfaces when there are none).
    """
    if interfaces is None:
        lan = await asyncio.to_thread(lan_addresses)
        chosen: list[str] | InterfaceChoice = lan or InterfaceChoice.All
    else:
        chosen = interfaces
    azc = AsyncZeroconf(interfaces=chosen, ip_version=IPVersion.V4Only)
    found: dict[str, BoxInfo] = {}
    pending: set[asyncio.Task[None]] = set()

    async def resolve(name: str) -> None:
        info = AsyncServiceInfo(BOX_TYPE, name)
        if await info.async_request(azc.zeroconf, 1500, question_type=DNSQuestionType.QM):
            found[name] = _box_from_info(info)

    def on_change(zeroconf: object, service_type: str, name: str,
                  state_change: ServiceStateChange) -> None:
        if state_change is ServiceStateChange.Removed:
            found.pop(name, None)
        else:
            task = asyncio.get_running_loop().create_task(resolve(name))
            pending.add(task)
            task.add_done_callback(pending.discard)

    # QM (multicast answers), not QU: another mDNS stack on this machine (avahi, or a box under
    # test) shares port 5353 and the kernel would hand a unicast answer to only one of them.
    browser = AsyncServiceBrowser(azc.zeroconf, [BOX_TYPE], handlers=[on_change],
                                  question_type=DNSQuestionType.QM)
    try:
        await asyncio.sleep(timeout)
        if pending:  # give late answers a short grace period
            await asyncio.wait(pending, timeout=1.5)
    finally:
        for task in pending:
            task.cancel()
        await browser.async_cancel()
        await azc.async_close()
    return sorted(found.values(), key=lambda box: (box.name, box.id))
