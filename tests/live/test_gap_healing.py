"""A lost event is noticed and healed: `prev_seq` reveals the gap, a replay fills it.

What is faked: the loss itself. A TCP proxy between the box and the client forwards every byte
unchanged except one server-to-client WebSocket frame (one Socket.IO event), which it swallows, as
a broken link or a box bug would. The box, the socket, SQLite and the client are the real ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from classroom_box.client import StreamClient
from tests.helpers import RunningBox, free_port, wait_for


class DropOneFrame:
    """Forwards TCP to the box; swallows the first server WebSocket frame containing `marker`."""

    def __init__(self, target_port: int, marker: bytes, refuse_after: int = 0) -> None:
        self.target_port, self.marker = target_port, marker
        self.refuse_after = refuse_after  # connections cut at once after the swallow (bad Wi-Fi)
        self.port = free_port()
        self.swallowed: list[bytes] = []
        self.tasks: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.swallowed and self.refuse_after > 0:
            self.refuse_after -= 1
            writer.close()
            return
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        for job in (self._pipe(reader, up_writer), self._downstream(up_reader, writer)):
            task = asyncio.create_task(job)
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    @staticmethod
    async def _pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await src.read(65536):
                dst.write(data)
                await dst.drain()
        dst.close()

    async def _downstream(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        """After the 101 answer, read whole frames (server frames are never masked)."""
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            head = await src.readuntil(b"\r\n\r\n")
            dst.write(head)
            if not head.startswith(b"HTTP/1.1 101"):
                return await self._pipe(src, dst)
            while True:
                frame = await src.readexactly(2)
                size = frame[1] & 0x7F
                if size >= 126:
                    extra = await src.readexactly(2 if size == 126 else 8)
                    frame += extra
                    size = int.from_bytes(extra, "big")
                body = await src.readexactly(size)
                if not self.swallowed and self.marker in body:
                    self.swallowed.append(body)
                    continue
                dst.write(frame + body)
                await dst.drain()
        dst.close()

    @asynccontextmanager
    async def running(self) -> AsyncIterator[DropOneFrame]:
        server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        try:
            yield self
        finally:
            server.close()
            for task in list(self.tasks):
                task.cancel()


def logged(box: RunningBox) -> list[tuple[int, str]]:
    with sqlite3.connect(box.settings.db_path) as db:
        return [(r[0], r[1]) for r in db.execute("SELECT seq, room FROM events ORDER BY seq")]


async def progress(teacher: Any, session_id: int, note: str) -> None:
    await teacher.ok("/api/lecture/progress", {"session_id": session_id, "progress": 10,
                                               "note": note})


async def test_a_student_notices_a_lost_event_and_is_replayed_it(box: RunningBox) -> None:
    teacher = await box.teacher()
    cls = await teacher.make_class(sections=("A",))
    sec = cls["sections"][0]
    kim = await box.student(sec["join_code"], "Kim")
    async with DropOneFrame(box.settings.port, b'"note":"lost on the way"').running() as proxy:
        student = StreamClient(proxy.url, kim.token)
        box.clients.append(student)
        await student.connect()
        await wait_for(lambda: student.state is not None)
        live = await teacher.ok("/api/lecture/start", status=201, body={
            "class_id": cls["class_id"], "section_id": sec["section_id"], "subject": "S",
            "title": "T"})
        for note in ("one", "lost on the way", "three", "four"):
            await progress(teacher, live["session_id"], note)
        committed = [seq for seq, _ in logged(box)]
        await wait_for(lambda: student.last_seq == committed[-1])

    assert len(proxy.swallowed) == 1  # the event really was lost on the first connection
    assert [e["seq"] for e in student.events] == committed  # complete, in order, once
    assert student.gaps == 1
    assert [e.get("note") for e in student.events[1:]] == ["one", "lost on the way", "three",
                                                             "four"]
    assert student.syncs[-1]["recovered"] is True


async def test_healing_keeps_trying_while_the_link_is_still_down(box: RunningBox) -> None:
    """The reconnect a gap triggers can fail too (the link that lost the event is still bad):
    a client with reconnection on keeps trying, as its automatic reconnection would."""
    teacher = await box.teacher()
    cls = await teacher.make_class(sections=("A",))
    sec = cls["sections"][0]
    kim = await box.student(sec["join_code"], "Kim")
    marker = b'"note":"lost on the way"'
    async with DropOneFrame(box.settings.port, marker, refuse_after=3).running() as proxy:
        student = StreamClient(proxy.url, kim.token, reconnection=True, reconnection_delay=0.1,
                               reconnection_delay_max=0.2, randomization_factor=0)
        box.clients.append(student)
        await student.connect()
        await wait_for(lambda: student.state is not None)
        live = await teacher.ok("/api/lecture/start", status=201, body={
            "class_id": cls["class_id"], "section_id": sec["section_id"], "subject": "S",
            "title": "T"})
        for note in ("one", "lost on the way", "three"):
            await progress(teacher, live["session_id"], note)
        committed = [seq for seq, _ in logged(box)]
        await wait_for(lambda: student.last_seq == committed[-1])

    assert proxy.refuse_after == 0  # the first reconnects really were cut
    assert [e["seq"] for e in student.events] == committed


async def test_a_teacher_heals_one_room_without_replaying_the_others_twice(
    box: RunningBox,
) -> None:
    """Teachers hear several rooms; seq gaps between rooms are normal, prev_seq is per room."""
    teacher = await box.teacher()
    cls = await teacher.make_class(sections=("A", "B"))
    a, b = cls["sections"]
    async with DropOneFrame(box.settings.port, b'"note":"lost in A"').running() as proxy:
        stream = StreamClient(proxy.url, teacher.token)
        box.clients.append(stream)
        await stream.connect()
        await wait_for(lambda: stream.state is not None)
        lectures = {}
        for sec in (a, b):
            lectures[sec["section_id"]] = (await teacher.ok("/api/lecture/start", status=201, body={
                "class_id": cls["class_id"], "section_id": sec["section_id"], "subject": "S",
                "title": "T"}))["session_id"]
        in_a, in_b = lectures[a["section_id"]], lectures[b["section_id"]]
        await progress(teacher, in_a, "lost in A")
        await progress(teacher, in_b, "fine in B")  # processed: B has no gap
        await progress(teacher, in_a, "reveals the gap in A")
        await progress(teacher, in_b, "after the heal")
        committed = logged(box)
        await wait_for(lambda: len(stream.events) == len(committed))

    assert len(proxy.swallowed) == 1
    assert stream.gaps == 1
    seqs = [e["seq"] for e in stream.events]
    assert sorted(seqs) == [seq for seq, _ in committed]  # each exactly once
    for room in {r for _, r in committed}:  # and in order within each room
        assert [e["seq"] for e in stream.events if e["room"] == room] == \
            [seq for seq, r in committed if r == room]
