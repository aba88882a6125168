"""Resource limits: HTTP body, Socket.IO message size, sockets per address, slow headers."""

from __future__ import annotations

import asyncio
import inspect
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import websockets
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

import tests.helpers
from classroom_box.config import Settings
from classroom_box.server import uvicorn_config
from classroom_box.web.limits import GuardedHttpToolsProtocol, harden
from tests.helpers import RunningBox, running_box, wait_for
from tests.security_helpers import client_from, polling_close, polling_connect, socket_connect

BIG = 100 * 1024  # the limit is 64 KiB


async def test_http_body_over_64_kib_is_413(box: RunningBox) -> None:
    teacher = await box.teacher()
    huge = {"name": "x" * BIG, "sections": ["A"]}
    assert (await teacher.post("/api/classes", huge)).status_code == 413

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted while streaming
        yield b'{"name": "'
        for _ in range(BIG // 1024):
            yield b"x" * 1024
        yield b'", "sections": ["A"]}'

    r = await box.http.post("/api/classes", content=chunks(), headers={
        **teacher.headers, "Content-Type": "application/json"})
    assert r.status_code == 413
    assert (await teacher.get("/api/classes")).json()["classes"] == []


async def test_huge_socket_message_refused_on_websocket_and_polling(box: RunningBox) -> None:
    teacher = await box.teacher()
    sock = await socket_connect(box.url, teacher.token)
    assert sock is not None
    await sock.emit("join_classroom", {"class_id": 1, "section_id": 1, "pad": "x" * BIG})
    await wait_for(lambda: not sock.connected)  # the box drops the connection
    base = "/socket.io/?EIO=4&transport=polling"
    sid = (await box.http.get(base)).text.split('"sid":"')[1].split('"')[0]
    r = await box.http.post(f"{base}&sid={sid}", content="4" + "x" * BIG)
    assert r.status_code == 413
    assert (await box.http.get("/healthz")).status_code == 200


async def test_sockets_per_address_capped_on_both_transports(tmp_path: Path) -> None:
    async with running_box(tmp_path, max_connections_per_address=3) as box:
        teacher = await box.teacher()
        held: list[Any] = [await socket_connect(box.url, teacher.token) for _ in range(2)]
        polled = await polling_connect(box.http, teacher.token, keep=True)
        assert all(held) and polled.startswith("40")
        assert await socket_connect(box.url, teacher.token) is None  # websocket: 4th refused
        assert await polling_connect(box.http, teacher.token) == "44"  # polling: refused too
        async with client_from(box, "127.0.0.50") as neighbour:  # another address is unaffected
            assert await polling_connect(neighbour, teacher.token) == "40"
        await held[0].disconnect()
        await wait_for(lambda: box.box.realtime.admission.per_address.get("127.0.0.1") == 2)
        assert await polling_connect(box.http, teacher.token) == "40"  # a slot freed up
        await held[1].disconnect()
        await polling_close(box.http, polled[2:])


async def test_raw_websockets_capped_before_authentication(tmp_path: Path) -> None:
    """Engine.IO sessions that never authenticate still hold a socket: cap them per address."""
    async with running_box(tmp_path, max_connections_per_address=3) as box:
        url = box.url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket"
        opened = [await websockets.connect(url) for _ in range(3)]
        with pytest.raises(websockets.exceptions.InvalidStatus):
            await websockets.connect(url, open_timeout=5)
        for ws in opened:
            await ws.close()
        await wait_for(lambda: not box.app.open)
        async with websockets.connect(url) as ws:
            assert str(await ws.recv()).startswith("0{")


@pytest.fixture
def hardened(monkeypatch: pytest.MonkeyPatch) -> None:
    """Boxes in this test run with the slow-header guard (1 s, to keep the test short)."""
    monkeypatch.setattr(tests.helpers, "uvicorn_config",
                        lambda s, app: harden(uvicorn_config(s, app), header_timeout=1.0))


def _slow_client(port: int, idle: bool) -> float:
    """Open TCP, trickle a header line every 0.3 s (or send nothing); seconds until dropped."""
    start = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        if idle:
            assert s.recv(1) == b""  # blocks until the box hangs up
            return time.monotonic() - start
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: box\r\n")
        try:
            for i in range(30):
                time.sleep(0.3)
                s.sendall(f"X-Slow-{i}: 1\r\n".encode())
        except OSError:
            return time.monotonic() - start
    return time.monotonic() - start


@pytest.mark.usefixtures("hardened")
async def test_slowloris_client_is_dropped(tmp_path: Path) -> None:
    async with running_box(tmp_path) as box:
        port = box.settings.port
        trickle = await asyncio.to_thread(_slow_client, port, False)
        idle = await asyncio.to_thread(_slow_client, port, True)
        assert trickle < 3 and idle < 3, (trickle, idle)  # 30 lines would take 9 s
        for _ in range(3):  # ordinary keep-alive requests are untouched
            assert (await box.http.get("/healthz")).status_code == 200
        await asyncio.sleep(1.3)
        assert (await box.http.get("/healthz")).status_code == 200


def test_serve_uses_the_slow_header_guard(tmp_path: Path) -> None:
    config = uvicorn_config(Settings(data_dir=tmp_path), object())
    assert isinstance(config.http, type) and issubclass(config.http, GuardedHttpToolsProtocol)


def test_the_uvicorn_internals_the_guard_reaches_are_still_there() -> None:
    """`GuardedHttpToolsProtocol` overrides uvicorn's private `_start_asgi_task(cycle, app)` and
    reads the cycle's `more_body`, `waiting_for_100_continue` and `on_response`: a uvicorn
    release that renames them fails here, not as a box that stops deferring held bodies."""
    assert list(inspect.signature(HttpToolsProtocol._start_asgi_task).parameters) == [
        "self", "cycle", "app"]
    made = inspect.getsource(RequestResponseCycle.__init__)
    for name in ("more_body", "waiting_for_100_continue", "on_response"):
        assert f"self.{name} =" in made, name
