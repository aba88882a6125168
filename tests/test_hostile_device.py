"""Issue 15: one hostile device against a real box process (each 127.0.0.x is one device).

Each test reproduces an attack that took the box down, grew it without bound or locked someone
out, and checks that it now fails while the rest of the class is served.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.hostile import (
    Classroom,
    closed_within,
    socketio_auth,
    start_classroom,
    stop,
    websocket_from,
)

FRAME = b"\x00" * 60_000


@pytest.fixture
def room(tmp_path: Path) -> Iterator[Classroom]:
    running = start_classroom(tmp_path)
    try:
        yield running
    finally:
        stop(running)


def test_binary_attachments_are_refused_and_the_device_dropped(room: Classroom) -> None:
    token = room.student_token("127.0.0.21")
    ws = websocket_from(room, "127.0.0.21")
    assert socketio_auth(ws, token).startswith("40")
    before = room.rss_kib()
    ws.send('451-["x",{"_placeholder":true,"num":0}]')  # announces attachments to come
    try:
        for _ in range(300):  # 18 MB the box used to keep, frame for frame
            ws.send(FRAME)
    except Exception:  # noqa: BLE001 - the box hung up mid-flood: that is the point
        pass
    assert closed_within(ws, 5)
    assert room.rss_kib() - before < 10_000  # KiB: nothing of the 18 MB was kept
    ws = websocket_from(room, "127.0.0.21")  # a bare binary frame, no announcement
    assert socketio_auth(ws, token).startswith("40")
    ws.send(FRAME)
    assert closed_within(ws, 5)
    ws = websocket_from(room, "127.0.0.21")  # a placeholder inside an ordinary event
    assert socketio_auth(ws, token).startswith("40")
    ws.send('42["join_classroom",{"_placeholder":true,"num":0}]')
    assert closed_within(ws, 5)
    assert room.healthy()
