"""Running the box for real: one process, one event loop, a banner IT can read, a clean exit.
It owns the process (uvicorn, the banner, mDNS, systemd readiness) and must never hold classroom
logic.

uvicorn (with uvloop and httptools where available) rather than hypercorn: it is what the
reference measurements in the benchmark issue used, and permessage-deflate can be turned off,
which the fan-out profile showed costs a compression per recipient.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
import sqlite3
import sys
from collections.abc import Callable
from typing import Any

import uvicorn

from classroom_box import __version__
from classroom_box.app import create_app
from classroom_box.appliance.discovery import Advertiser, box_id
from classroom_box.appliance.lock import AlreadyServing, ServeLock
from classroom_box.appliance.netinfo import local_hostname
from classroom_box.appliance.notify import notify, watchdog_loop
from classroom_box.appliance.qr import terminal_qr
from classroom_box.config import Settings
from classroom_box.domain import accounts
from classroom_box.domain.storage_faults import check_readable, startup_refusal
from classroom_box.live.gcpolicy import return_big_blocks, tune_gc
from classroom_box.web.limits import ConnectionBudget, fd_limit, harden, quiet_websocket_lines
from classroom_box.web.urls import base_url, remember_served

log = logging.getLogger(__name__)


def uvicorn_config(settings: Settings, app: Any) -> uvicorn.Config:
    budget = ConnectionBudget.for_fd_limit(settings.max_http_connections_per_address,
                                           fd_limit())
    quiet_websocket_lines()
    return harden(uvicorn.Config(
        app, host=settings.host, port=settings.port, lifespan="on",
        loop="uvloop" if importlib.util.find_spec("uvloop") else "asyncio", http="httptools",
        ws="websockets-sansio", ws_per_message_deflate=False, log_config=None,
        log_level=settings.log_level.lower(), access_log=False, timeout_graceful_shutdown=3,
        ssl_certfile=str(settings.tls_cert) if settings.tls_cert else None,
        ssl_keyfile=str(settings.tls_key) if settings.tls_key else None,
    ), budget=budget, gate=getattr(app, "gate", None))


def banner(settings: Settings, setup_token: str | None, mdns_host: str,
           sections: list[tuple[int, str, str, str]]) -> str:
    base = base_url(settings)
    local = f"{settings.scheme}://{mdns_host.rstrip('.')}:{settings.port}"
    also = (lambda path: f"   (also {local}{path})") if settings.mdns else (lambda path: "")
    lines = [
        f"classroom-box {__version__} '{settings.name}' serving on {settings.host}:{settings.port}",
        f"  teacher page: {base}/teacher{also('/teacher')}",
        f"  students:     {base}/{also('/')}",
        f"  data:         {settings.data_dir}",
    ]
    if setup_token:
        lines.append(f"  first start:  create the teacher account at"
                     f" {base}/setup?token={setup_token}")
    for section_id, class_name, section_name, code in sections:
        lines.append(f"  join {class_name} / {section_name}: {base}/join/{code}"
                     f"   (classroom-box qr --section {section_id})")
    ascii_only = (sys.stdout.encoding or "").lower().replace("-", "") != "utf8"
    lines += ["", "Students scan this to open the join page:", terminal_qr(base + "/",
                                                                            ascii_only=ascii_only)]
    return "\n".join(lines)


def serve(settings: Settings) -> int:
    """Run the box; a storage that keeps it from starting is one plain message and an exit
    status systemd acts on (storage_faults.startup_refusal), not a traceback."""
    try:
        return _serve_locked(settings)
    except (sqlite3.Error, OSError) as exc:
        refusal = startup_refusal(exc, settings.db_path)
        if refusal is None:
            raise
        print(f"classroom-box: {refusal[0]}", file=sys.stderr)
        return refusal[1]


def _serve_locked(settings: Settings) -> int:
    lock = ServeLock(settings.data_dir)
    try:
        lock.acquire()
    except AlreadyServing as exc:
        print(f"classroom-box: {exc}", file=sys.stderr)
        return 1
    try:
        check_readable(settings.db_path)
        app = create_app(settings)
        box = app.box  # type: ignore[attr-defined]
        if accounts.teachers_exist(settings.db_path):
            box.setup.consume()
        ident = box_id(settings.data_dir)
        remember_served(settings)
        print(banner(settings, box.setup.value, local_hostname(ident),
                     accounts.sections(settings.db_path)), flush=True)
        tune_gc()
        return_big_blocks()
        with asyncio.Runner(loop_factory=_loop_factory()) as runner:
            runner.run(_serve(settings, app, ident))
    finally:
        lock.release()
    return 0


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    if importlib.util.find_spec("uvloop") is None:
        return None
    import uvloop

    return uvloop.new_event_loop  # type: ignore[no-any-return]


class BoxServer(uvicorn.Server):  # type: ignore[misc]
    """uvicorn, plus a word to the clients before it closes their connections."""

    def __init__(self, config: uvicorn.Config, box: Any) -> None:
        super().__init__(config)
        self.box = box

    async def shutdown(self, sockets: Any = None) -> None:
        notify("STOPPING=1")
        with contextlib.suppress(Exception):
            async with asyncio.timeout(1):
                await self.box.realtime.announce_shutdown()
        await super().shutdown(sockets)


async def _serve(settings: Settings, app: Any, ident: str) -> None:
    """uvicorn plus the appliance around it: READY/watchdog for systemd, mDNS for the LAN."""
    server = BoxServer(uvicorn_config(settings, app), app.box)
    serving = asyncio.create_task(server.serve())
    while not server.started and not serving.done():  # noqa: ASYNC110 (uvicorn has no event)
        await asyncio.sleep(0.05)
    if serving.done():
        await serving
        return
    advertiser = await _advertise(settings, ident)
    notify(f"READY=1\nSTATUS=serving on port {settings.port}")
    watchdog = asyncio.create_task(watchdog_loop())
    try:
        await serving
    finally:
        watchdog.cancel()
        if advertiser is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2):
                    await advertiser.stop()


async def _advertise(settings: Settings, ident: str) -> Advertiser | None:
    if not settings.mdns:
        return None
    advertiser = Advertiser(settings.name, settings.port, ident, __version__,
                            interface_filter=settings.mdns_interface, scheme=settings.scheme,
                            hostname=local_hostname(ident))
    try:
        await advertiser.start()
    except Exception as exc:  # the box works without mDNS; say so and go on
        log.warning("mDNS advertisement failed (%s); students can still use the URL/QR", exc)
        return None
    return advertiser
