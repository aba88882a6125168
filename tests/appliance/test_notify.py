"""sd_notify against real AF_UNIX datagram sockets (path and abstract), like systemd uses."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from pathlib import Path

import pytest

from classroom_box.appliance.notify import notify, watchdog_interval, watchdog_loop


@pytest.fixture
def listener(tmp_path: Path):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = tmp_path / "notify.sock"
    sock.bind(str(path))
    sock.settimeout(2)
    yield sock, {"NOTIFY_SOCKET": str(path)}
    sock.close()


def test_notify_sends_datagram_to_path_socket(listener) -> None:
    sock, env = listener
    assert notify("READY=1\nSTATUS=serving", env) is True
    assert sock.recv(4096) == b"READY=1\nSTATUS=serving"


def test_notify_supports_abstract_socket() -> None:
    name = f"classroom-box-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(b"\0" + name.encode())
        sock.settimeout(2)
        assert notify("STOPPING=1", {"NOTIFY_SOCKET": "@" + name}) is True
        assert sock.recv(4096) == b"STOPPING=1"


def test_notify_without_systemd_is_a_noop(tmp_path: Path) -> None:
    assert notify("READY=1", {}) is False
    assert notify("READY=1", {"NOTIFY_SOCKET": "relative/nope"}) is False
    assert notify("READY=1", {"NOTIFY_SOCKET": str(tmp_path / "missing.sock")}) is False


def test_watchdog_interval() -> None:
    assert watchdog_interval({}) is None
    assert watchdog_interval({"WATCHDOG_USEC": "junk"}) is None
    assert watchdog_interval({"WATCHDOG_USEC": "30000000"}) == 15.0
    assert watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}) is None
    env = {"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}
    assert watchdog_interval(env) == 15.0


async def test_watchdog_loop_pings_at_half_the_interval(listener) -> None:
    sock, env = listener
    sock.setblocking(False)
    env = {**env, "WATCHDOG_USEC": "200000"}  # 0.2 s -> ping every 0.1 s
    loop = asyncio.get_running_loop()
    task = asyncio.create_task(watchdog_loop(env))
    try:
        start = loop.time()
        got = [await asyncio.wait_for(loop.sock_recv(sock, 64), 2) for _ in range(4)]
        elapsed = loop.time() - start
    finally:
        task.cancel()
    assert got == [b"WATCHDOG=1"] * 4
    assert 0.25 <= elapsed < 1.5  # first ping at once, then three more 0.1 s apart


async def test_watchdog_loop_returns_when_not_armed() -> None:
    await asyncio.wait_for(watchdog_loop({}), 1)
