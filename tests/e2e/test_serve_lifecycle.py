"""serve as IT runs it: SIGTERM tells clients and exits fast; mDNS comes and goes with it."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import time
from pathlib import Path

import httpx

from classroom_box.appliance.discovery import discover
from classroom_box.client import StreamClient
from tests.faults.classroom import Classroom, open_classroom
from tests.helpers import PASSWORD, wait_for
from tests.process import BoxProcess, add_teacher


async def test_sigterm_tells_clients_and_exits_within_5_s(tmp_path: Path) -> None:
    data = tmp_path / "data"
    add_teacher(data, "t", PASSWORD)
    box = BoxProcess(data).start()
    room = await open_classroom(box.url, "t", 1)
    client = StreamClient(box.url, room.teacher_token)
    notices: list[dict] = []
    client.sio.on("box_shutdown", lambda data: notices.append(data))
    await client.connect()
    # A student leaving at shutdown makes a roster announcement the store must not outlive.
    student = StreamClient(box.url, room.student_tokens[0])
    await student.connect()
    await wait_for(lambda: client.state is not None and student.state is not None)
    await student.disconnect()  # its roster announcement is still due when the box stops
    started = time.monotonic()
    assert box.proc is not None
    box.proc.terminate()
    await wait_for(lambda: bool(notices), timeout=5)
    code = await asyncio.to_thread(box.proc.wait, 10)
    assert time.monotonic() - started < 5
    assert code in (0, -15)
    assert notices == [{"restarting": True}]
    log = box.log.read_text()
    assert "Application shutdown complete" in log and "Traceback" not in log
    await wait_for(lambda: not client.sio.connected, timeout=5)


async def test_serve_advertises_over_mdns_and_unregisters_on_stop(tmp_path: Path) -> None:
    box = BoxProcess(tmp_path / "data", None, "--mdns", "--mdns-interface", "127.0.0.1",
                     "--name", "Room 12")
    box.start()
    try:
        found = []
        for _ in range(3):
            found = [b for b in await discover(3.0, interfaces=["127.0.0.1"])
                     if b.name.startswith("Room 12")]
            if found:
                break
        assert found, "the box was not discovered on loopback"
        assert found[0].version and found[0].id
        assert any(f":{box.port}" in url for url in found[0].urls)
    finally:
        box.stop()
    await asyncio.sleep(0.5)
    after = [b for b in await discover(2.0, interfaces=["127.0.0.1"])
             if b.name.startswith("Room 12")]
    assert after == []


async def test_sigterm_with_devices_mid_request_stops_at_once(tmp_path: Path) -> None:
    """Devices caught halfway by the stop must not hold it, nor leave an error behind.

    - A student's websocket that asked to close but is not gone yet: uvicorn's shutdown sent
      it a close frame, websockets raised InvalidState, and the app's shutdown (store close)
      never ran; the box hung until systemd killed it. A reconnect storm leaves such sockets
      about; here one is made on purpose: it asks to close and reads nothing.
    - A request whose body has not all come: uvicorn waited the whole grace period (3 s) for
      it, then logged an ERROR, though the application had never seen it."""
    data = tmp_path / "data"
    add_teacher(data, "t", PASSWORD)
    box = BoxProcess(data).start()
    try:
        room = await open_classroom(box.url, "t", 1)
        await _open_questions(room, 40)  # ~100 KB of state_sync, more than the socket holds
        closing = await asyncio.to_thread(_closing_but_not_reading, box.port,
                                          room.student_tokens[0])
        uploading = socket.create_connection(("127.0.0.1", box.port))
        uploading.sendall(b"POST /api/join HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type:"
                          b" application/json\r\nContent-Length: 40\r\n\r\n{\"join_code\"")
        await asyncio.sleep(0.3)
        assert box.proc is not None
        started = time.monotonic()
        box.proc.terminate()
        code = await asyncio.to_thread(box.proc.wait, 15)
        stopped_in = time.monotonic() - started
        closing.close()
        uploading.close()
    finally:
        box.kill()  # only if the stop above failed
    assert code in (0, -15)
    log = box.log.read_text()
    assert "Application shutdown complete" in log
    assert "Traceback" not in log and "ERROR" not in log, log[-3000:]
    assert stopped_in < 3  # uvicorn's grace period, which neither may use up


async def _open_questions(room: Classroom, count: int) -> None:
    async with httpx.AsyncClient(base_url=room.url, timeout=30) as http:
        for i in range(count):
            created = await http.post("/api/questions", headers={
                "Authorization": f"Bearer {room.teacher_token}"}, json={
                "class_id": room.class_id, "section_id": room.section_id, "kind": "single",
                "prompt": f"{i} " + "p" * 490, "options": [str(n) * 200 for n in range(10)]})
            created.raise_for_status()


def _closing_but_not_reading(port: int, token: str) -> socket.socket:
    """A student's websocket, connected, that then sends a close frame and never reads."""
    device = socket.socket()
    device.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
    # Small segments keep the box's kernel send buffer small (it is sized from the MSS; on
    # loopback's 64 KB MSS it would swallow the whole state_sync), so the rest waits in the box.
    device.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 536)
    device.connect(("127.0.0.1", port))
    device.sendall(
        b"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
        b"Sec-WebSocket-Key: " + base64.b64encode(os.urandom(16)) + b"\r\n\r\n")
    greeting = b""
    while b'"sid"' not in greeting:  # the 101 and Engine.IO's open packet
        greeting += device.recv(4096)
    assert greeting.startswith(b"HTTP/1.1 101"), greeting[:200]
    device.sendall(_masked_frame(0x1, b"40" + json.dumps({"token": token}).encode()))
    time.sleep(1.0)  # the box sends its state_sync: most of it waits in the box
    device.sendall(_masked_frame(0x8, (1000).to_bytes(2, "big")))
    time.sleep(0.5)  # the box answers the close (that waits too) and closes its side
    return device


def _masked_frame(opcode: int, payload: bytes) -> bytes:
    """One client-to-server WebSocket frame (RFC 6455: clients mask), payload under 126 bytes."""
    assert len(payload) < 126
    mask = os.urandom(4)
    return (bytes([0x80 | opcode, 0x80 | len(payload)]) + mask
            + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
