"""The event log on its own, with a real SQLite file and no sockets: the publisher is injected."""

from __future__ import annotations

from pathlib import Path

import pytest

from classroom_box.domain.clock import Clock
from classroom_box.domain.events import Event, EventLog
from classroom_box.domain.store import Store


async def test_events_are_published_after_commit_in_seq_order(tmp_path: Path) -> None:
    heard: list[Event] = []
    store = Store(tmp_path / "box.db")
    log = EventLog(store, Clock(), publish=heard.append)
    await store.open()
    try:
        async with store.write() as tx:
            first = await log.append(tx, class_id=1, section_id=2, teacher_id=3,
                                     type="lecture_started", payload={"title": "A"})
            second = await log.append(tx, class_id=1, section_id=2, teacher_id=3,
                                      type="lecture_ended", payload={})
            assert heard == []  # nothing is published before the commit
        assert heard == [first, second] and first.seq < second.seq
        assert second.payload["seq"] == second.seq and second.rooms == ("classroom:1:2",
                                                                         "teacher:3")
        with pytest.raises(RuntimeError):
            async with store.write() as tx:
                await log.append(tx, class_id=1, section_id=2, teacher_id=3,
                                 type="lecture_started", payload={})
                raise RuntimeError("the request failed after appending")
        assert heard == [first, second]  # a rolled-back event is never published
        async with store.read() as tx:
            replay = await log.since(tx, first.seq, ["classroom:1:2"], None)
        assert [e.seq for e in replay.events] == [second.seq] and replay.recovered
    finally:
        await store.close()
