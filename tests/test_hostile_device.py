"""Issue 15: one hostile device against a real box process (each 127.0.0.x is one device).

Each test reproduces an attack that took the box down, grew it without bound or locked someone
out, and checks that it now fails while the rest of the class is served.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection

from classroom_box.limits import BODY_TIMEOUT as BODY_DEADLINE
from classroom_box.transport import AUTH_DEADLINE, MAX_REFUSALS, PENDING_PER_ADDRESS
from tests.hostile import (
    EIO,
    Classroom,
    closed_within,
    dropped,
    held_request,
    socketio_auth,
    start_classroom,
    stop,
    websocket_from,
)

FRAME = b"\x00" * 60_000
POLL = EIO + "polling"


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


def _hold(address: str, port: int, count: int) -> list[socket.socket]:
    socks = []
    for i in range(count):
        path = POLL if i % 2 else "/api/join"
        try:
            socks.append(held_request(address, port, path, content_type="application/json"))
        except OSError:
            pass  # refused at connect: fine, that is the cap
    return socks


def test_connections_held_without_a_body_cannot_lock_the_class_out(tmp_path: Path) -> None:
    room = start_classroom(tmp_path, "--max-http-connections-per-address", "40", fd_limit=400)
    try:
        one_device = _hold("127.0.0.31", room.port, 100)
        alive = [s for s in one_device if not dropped(s, 0.05)]
        assert len(alive) <= 40  # the rest were reset at once
        many = [s for d in range(100, 110) for s in _hold(f"127.0.0.{d}", room.port, 40)]
        assert room.open_fds() < 400  # the box stopped short of its descriptor limit
        assert room.healthy("127.0.0.2")  # headroom: a light device still gets in
        assert room.login("127.0.0.3") == 200  # and the teacher logs in
        assert room.join("127.0.0.4").status_code == 200
        start = time.monotonic()
        assert all(dropped(s, BODY_DEADLINE + 3 - (time.monotonic() - start))
                   for s in alive + many)  # the body deadline ends every held request
        for s in one_device + many:
            s.close()
        assert room.healthy()
        log = room.log()
        assert "Traceback" not in log and "REQUEST_METHOD" not in log
    finally:
        stop(room)


def test_unauthenticated_engineio_sessions_are_capped_and_expire(room: Classroom) -> None:
    with room.device("127.0.0.41") as http:
        answers = [http.get(POLL).status_code for _ in range(200)]
        assert answers.count(200) == PENDING_PER_ADDRESS  # the rest refused
        with room.device("127.0.0.42") as classmate:  # another device is not affected
            assert classmate.get(POLL).status_code == 200
        ws = websocket_from(room, "127.0.0.43")  # never authenticates
        assert closed_within(ws, AUTH_DEADLINE + 3)
        time.sleep(1)
        assert http.get(POLL).status_code == 200  # the old sessions have gone
    token = room.student_token("127.0.0.44")
    ws = websocket_from(room, "127.0.0.44")
    assert socketio_auth(ws, token).startswith("40")
    assert not closed_within(ws, AUTH_DEADLINE + 1)  # authenticated sessions stay


def _refusals_until_closed(ws: ClientConnection) -> int:
    for count in range(1, 50):
        try:
            assert socketio_auth(ws, f"not-a-token-but-long-enough-{count:04d}").startswith("44")
        except ConnectionClosed:
            return count - 1
        if closed_within(ws, 0.3):
            return count
    return 50


def test_refused_socket_authentications_end_the_session(room: Classroom) -> None:
    first = _refusals_until_closed(websocket_from(room, "127.0.0.51"))
    assert first == MAX_REFUSALS
    later = [_refusals_until_closed(websocket_from(room, "127.0.0.51")) for _ in range(5)]
    assert later[-1] == 1  # the address kept failing: one refusal now ends a session
    ws = websocket_from(room, "127.0.0.51")  # a valid token from that address still works
    assert socketio_auth(ws, room.student_token("127.0.0.51")).startswith("40")
    assert not closed_within(ws, 1)


def _cli(room: Classroom, *args: str, password: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "classroom_box", "teacher", *args,
                           "--data-dir", str(room.box.data_dir)], input=password,
                          capture_output=True, text=True, timeout=60)


def test_a_student_cannot_lock_the_teacher_out(room: Classroom) -> None:
    attacker = "127.0.0.61"
    statuses = [room.login(attacker, "wrong password") for _ in range(12)]
    assert statuses[:5] == [401] * 5 and 429 in statuses  # the attacker is slowed down
    assert room.login("127.0.0.62") == 200  # the teacher's device has not been failing
    for _ in range(6):  # the account is hot now: still fine for a device that never failed
        room.login(f"127.0.0.{70 + _}", "wrong password")
    assert room.login("127.0.0.63") == 200
    assert room.login(attacker) == 429  # the right password from the failing device waits
    assert _cli(room, "unlock", "alice").returncode == 0  # IT unlocks, box still serving
    assert room.login(attacker) == 200


def test_cli_passwd_and_remove_while_serving(room: Classroom) -> None:
    done = _cli(room, "passwd", "alice", password="a new password\n")
    assert done.returncode == 0, done.stderr
    assert room.login("127.0.0.64") == 401
    assert room.login("127.0.0.64", "a new password") == 200
    with room.device("127.0.0.1") as http:  # the old session ended with the password change
        me = http.get("/api/me", headers={"Authorization": f"Bearer {room.teacher_token}"})
        assert me.status_code == 401
    refused = _cli(room, "remove", "alice")
    assert refused.returncode == 1 and "--with-classes" in refused.stderr
    removed = _cli(room, "remove", "alice", "--with-classes")
    assert removed.returncode == 0, removed.stderr
    assert room.login("127.0.0.65", "a new password") == 401
    assert room.join("127.0.0.66").status_code == 404  # the class went with the teacher
    assert _cli(room, "unlock", "nobody").returncode == 1
