"""serve as IT runs it: SIGTERM tells clients and exits fast; mDNS comes and goes with it."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from classroom_box.appliance.discovery import discover
from classroom_box.client import StreamClient
from tests.faults.classroom import open_classroom
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
