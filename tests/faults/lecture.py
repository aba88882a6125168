"""A lecture over flaky Wi-Fi: N students behind a LossyLink, the teacher posting updates.

Every student must end with the complete, ordered sequence of the teacher's updates, however
often the link dropped it. Reported: reconnects and catch-up times (from the moment a client
noticed its connection was gone to the `state_sync` after it was back).

`python -m tests.faults.lecture --students 100 --minutes 5` runs the full-length version.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sqlite3
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from classroom_box.client import StreamClient
from tests.faults.classroom import open_classroom, progress_body
from tests.faults.lossylink import LossyLink
from tests.helpers import PASSWORD, wait_for
from tests.process import BoxProcess, add_teacher


@dataclass
class Student:
    client: StreamClient
    connects: int = 0
    gone_at: float | None = None
    catch_ups: list[float] = field(default_factory=list)

    def notes(self) -> list[str]:
        return [e["note"] for e in self.client.events if e["type"] == "lecture_progress_update"]

    def owed(self, sent: list[str], seqs: dict[str, int]) -> list[str]:
        """The updates committed after this student's first `state_sync`, in order.

        A first connect carries no `last_seq`, so its `state_sync` is a full redraw: what was
        committed before it is in that state, not replayed as events. When the link drops such
        a connection before the student got that first sync, the next one is the baseline.
        """
        baseline = self.client.syncs[0]["seq"] if self.client.syncs else 0
        return [note for note in sent if seqs[note] > baseline]

    def complete(self, sent: list[str], seqs: dict[str, int]) -> bool:
        return self.notes() == self.owed(sent, seqs)


def watch(student: Student) -> None:
    """Count connects; time each catch-up from the drop to the next state_sync."""
    sio = student.client.sio
    synced = student.client._on_state_sync

    async def on_connect() -> None:
        student.connects += 1

    async def on_disconnect(*_: Any) -> None:
        student.gone_at = time.monotonic()

    async def on_state_sync(data: dict[str, Any]) -> None:
        await synced(data)
        if student.gone_at is not None:
            student.catch_ups.append(time.monotonic() - student.gone_at)
            student.gone_at = None

    sio.on("connect", on_connect)
    sio.on("disconnect", on_disconnect)
    sio.on("state_sync", on_state_sync)


async def lecture(tmp: Path, students: int, seconds: float, interval: float = 0.5,
                  drop_rate: float = 1 / 30) -> dict[str, Any]:
    data = tmp / "data"
    add_teacher(data, "alice", PASSWORD)
    box = BoxProcess(data).start()
    link = LossyLink(box.port, drop_rate)
    try:
        port = await link.start()
        room = await open_classroom(box.url, "alice", students)
        url = f"http://127.0.0.1:{port}"
        crowd = [Student(StreamClient(url, t, reconnection=True, reconnection_delay=0.5,
                                      reconnection_delay_max=3, randomization_factor=0.5))
                 for t in room.student_tokens]
        for s in crowd:
            watch(s)
        await asyncio.gather(*(connect_until_up(s.client) for s in crowd))
        sent = await teach(box.url, room, seconds, interval)
        seqs = committed_seqs(data / "classroom-box.db")
        with contextlib.suppress(AssertionError):  # a student still missing events is reported
            await wait_for(lambda: all(s.complete(sent, seqs) for s in crowd), timeout=60,
                           interval=0.5)
        report = summary(crowd, sent, seqs, link)
        for s in crowd:
            s.client.sio.reconnection = False
            await s.client.disconnect()
        return report
    finally:
        await link.stop()
        box.stop()


async def connect_until_up(client: StreamClient) -> None:
    """The first connect over the lossy link may be dropped too; try again like a phone would."""
    for _ in range(20):
        try:
            await client.connect()
            return
        except Exception:
            await asyncio.sleep(0.5)
    raise RuntimeError("a student never got through the link")


async def teach(url: str, room: Any, seconds: float, interval: float) -> list[str]:
    """The teacher (on the box's side of the link) posts an update every `interval` s."""
    sent: list[str] = []
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        end = time.monotonic() + seconds
        i = 0
        while time.monotonic() < end:
            r = await http.post("/api/lecture/progress", json=progress_body(room.session_id, i),
                                headers=room.auth)
            r.raise_for_status()
            sent.append(f"n{i}")
            i += 1
            await asyncio.sleep(interval)
    return sent


def committed_seqs(db: Path) -> dict[str, int]:
    """Each progress note's seq, as the box's event log has it."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT seq, payload FROM events"
                            " WHERE type = 'lecture_progress_update'").fetchall()
    return {json.loads(payload)["note"]: seq for seq, payload in rows}


def summary(crowd: list[Student], sent: list[str], seqs: dict[str, int],
            link: LossyLink) -> dict[str, Any]:
    catch_ups = sorted(t for s in crowd for t in s.catch_ups)
    return {
        "students": len(crowd), "events": len(sent),
        "complete_in_order": sum(s.complete(sent, seqs) for s in crowd),
        # students whose first state_sync came after an update (it was in their first state)
        "baseline_after_first_update": sum(len(s.owed(sent, seqs)) < len(sent) for s in crowd),
        "duplicates_dropped": sum(s.client.dropped for s in crowd),
        "reconnects": sum(max(0, s.connects - 1) for s in crowd),
        "link_drops": link.stats.dropped, "chunks_lost": link.stats.lost,
        "catch_up_median_s": round(statistics.median(catch_ups), 2) if catch_ups else None,
        "catch_up_max_s": round(catch_ups[-1], 2) if catch_ups else None,
        "incomplete": [diagnose(s, sent, seqs) for s in crowd if not s.complete(sent, seqs)],
    }


def diagnose(student: Student, sent: list[str], seqs: dict[str, int]) -> dict[str, Any]:
    """What a student who did not end with the whole lecture has, so a failure says why."""
    notes, client, owed = student.notes(), student.client, student.owed(sent, seqs)
    return {"got": len(notes), "owed": len(owed), "in_order_prefix": notes == owed[:len(notes)],
            "missing": [n for n in owed if n not in notes][:5],
            "syncs": [(s.get("seq"), s.get("recovered")) for s in client.syncs[:4]],
            "connected": client.sio.connected, "connects": student.connects,
            "gaps": client.gaps, "healing": client._healer is not None,
            "last_seq": client.last_seq}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=100)
    parser.add_argument("--minutes", type=float, default=5.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        print(json.dumps(asyncio.run(lecture(Path(tmp), args.students, args.minutes * 60))))


if __name__ == "__main__":
    main()
