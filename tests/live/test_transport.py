"""Every reach below the Socket.IO/Engine.IO public API (live/transport.py) still holds.

One test per reach: its signature where a changed one would break us silently, and its effect on a
real server where only behaviour can tell (the socket swap, the lean writer's order, the goodbye
ending a long-poll, the direct send). The malformed-packet hook is tested in
test_security_regressions.py (test_malformed_socket_packet_drops_client_without_error).
"""

from __future__ import annotations

import asyncio
import inspect

import engineio
import pytest
import socketio
from engineio.async_socket import AsyncSocket

from classroom_box.live.transport import LeanSocket, send_packet
from tests.helpers import RunningBox, wait_for

# (owner, private name, parameters we call or override it with)
REACHES = [
    (socketio.AsyncServer, "_send_eio_packet", ["self", "eio_sid", "eio_pkt"]),
    (socketio.AsyncServer, "_handle_eio_connect", ["self", "eio_sid", "environ"]),
    (socketio.AsyncServer, "_handle_eio_message", ["self", "eio_sid", "data"]),
    (socketio.AsyncServer, "_handle_connect", ["self", "eio_sid", "namespace", "data"]),
    (socketio.AsyncServer, "_handle_eio_disconnect", ["self", "eio_sid", "reason"]),
    (AsyncSocket, "_websocket_handler", ["self", "ws"]),
    (AsyncSocket, "poll", ["self"]),
    (AsyncSocket, "handle_post_request", ["self", "environ"]),
    (AsyncSocket, "receive", ["self", "pkt"]),
    (AsyncSocket, "close", ["self", "wait", "abort", "reason"]),
    # LeanSocket.schedule_ping keeps engineio's ping task so that close() can cancel it
    (AsyncSocket, "schedule_ping", ["self"]),
    (AsyncSocket, "_send_ping", ["self"]),
]


@pytest.mark.parametrize(("owner", "name", "params"), REACHES, ids=[r[1] for r in REACHES])
def test_private_hook_keeps_its_signature(owner: type, name: str, params: list[str]) -> None:
    assert list(inspect.signature(getattr(owner, name)).parameters) == params


def test_engineio_socket_still_has_the_state_lean_socket_reads() -> None:
    """LeanSocket reads `queue`, `upgraded`, `closed`, `closing`, `last_ping` of engineio's."""
    sock = AsyncSocket(engineio.AsyncServer(async_mode="asgi"), "x")
    for name in ("queue", "upgraded", "closed", "closing", "last_ping"):
        assert hasattr(sock, name), name


async def test_send_packet_reaches_a_real_client(box: RunningBox) -> None:
    teacher = await box.teacher()
    stream = await box.stream(teacher.token)
    heard: list[object] = []
    stream.sio.on("probe", heard.append)
    manager = box.app.box.realtime.manager
    sid = next(iter(box.app.box.realtime.conns))
    eio_sid = manager.eio_sid_from_sid(sid, "/")
    for pkt in manager.encode("probe", {"n": 1}):
        await send_packet(box.app.box.realtime.sio, eio_sid, pkt)
    await wait_for(lambda: heard == [{"n": 1}])


async def test_sockets_use_the_lean_writer_and_stay_ordered(box: RunningBox) -> None:
    teacher = await box.teacher()
    cls = await teacher.make_class(sections=("A",))
    section = cls["sections"][0]
    student = await box.student(section["join_code"])
    stream = await box.stream(student.token)
    eio = box.app.box.realtime.sio.eio
    assert eio.sockets and all(type(s) is LeanSocket for s in eio.sockets.values())
    live = await teacher.ok("/api/lecture/start", {"class_id": cls["class_id"],
                                                   "section_id": section["section_id"],
                                                   "subject": "S", "title": "T"}, 201)
    for i in range(30):
        await teacher.ok("/api/lecture/progress", {"session_id": live["session_id"],
                                                   "progress": i})
    await wait_for(lambda: len(stream.events) == 31)
    assert [e.get("progress") for e in stream.events[1:]] == list(range(30))


async def test_long_polling_clients_get_replay_and_live_events(box: RunningBox) -> None:
    """The non-websocket path of LeanSocket.poll (with its timeout) delivers in order too."""
    teacher = await box.teacher()
    cls = await teacher.make_class(sections=("A",))
    section = cls["sections"][0]
    student = await box.student(section["join_code"])
    first = await box.stream(student.token)
    live = await teacher.ok("/api/lecture/start", {"class_id": cls["class_id"],
                                                   "section_id": section["section_id"],
                                                   "subject": "S", "title": "T"}, 201)
    await wait_for(lambda: len(first.events) == 1)
    await first.disconnect()
    for i in range(5):
        await teacher.ok("/api/lecture/progress", {"session_id": live["session_id"],
                                                   "progress": i})
    from classroom_box.client import StreamClient

    polling = StreamClient(box.url, student.token, last_seq=first.last_seq)
    await polling.connect(transports=["polling"])
    await wait_for(lambda: polling.state is not None)
    assert [e["progress"] for e in polling.events] == [0, 1, 2, 3, 4]
    assert polling.syncs[0]["recovered"] is True
    await teacher.ok("/api/lecture/progress", {"session_id": live["session_id"], "progress": 99})
    await wait_for(lambda: len(polling.events) == 6)
    assert polling.events[-1]["progress"] == 99
    # A goodbye must end the server's pending long-poll GET at once (LeanSocket.close); with
    # python-engineio's async socket alone it hung for ping interval + timeout (45 s).
    await asyncio.wait_for(polling.disconnect(), 10)


async def test_teacher_in_a_classroom_room_gets_each_event_once(box: RunningBox) -> None:
    teacher = await box.teacher()
    cls = await teacher.make_class(sections=("A",))
    section = {"class_id": cls["class_id"], "section_id": cls["sections"][0]["section_id"]}
    stream = await box.stream(teacher.token)
    ack = await stream.sio.call("join_classroom", section)
    assert ack["ok"] is True
    await teacher.ok("/api/lecture/start", {**section, "subject": "S", "title": "T"}, 201)
    await wait_for(lambda: len(stream.events) == 1)
    await teacher.ok("/api/lecture/start", {**section, "subject": "S", "title": "T"}, 409)
    live = (await teacher.get("/api/lectures")).json()["live"][0]
    await teacher.ok("/api/lecture/end", {"session_id": live["session_id"]})
    await wait_for(lambda: len(stream.events) == 2)
    assert stream.dropped == 0  # no duplicate ever arrived
