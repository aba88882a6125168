"""When does a live lecture end by itself? One timer per live lecture, at its planned end.
It owns the end timers and must never end a lecture on a wall clock that just jumped.

A teacher who forgets to press "End" must not leave a lecture live all night. The timers follow
the event log: `observe()` sees every committed event, arms on `lecture_started` (scheduled starts
included), re-arms on `lecture_duration_update` and disarms on `lecture_ended`. After a restart
`start()` re-arms every live lecture; one whose planned end passed while the box was down ends at
once, with `end_time` = its planned end (the decision and the event live in `Lectures.end_due`).

Time left is measured like a lecture's span (`Lectures.time_left`): by the monotonic clock when
this process started the lecture, so a wall-clock jump (a Pi without RTC getting its NTP step)
neither ends a lecture early nor stretches it. A timer sleeps in steps of at most `MAX_NAP`.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from classroom_box.domain.events import Event
from classroom_box.domain.lectures import Lectures
from classroom_box.domain.storage_faults import log_write_failure

log = logging.getLogger(__name__)
MAX_NAP = 5.0
ARMING_EVENTS = ("lecture_started", "lecture_duration_update")


class AutoEnd:
    def __init__(self, lectures: Lectures) -> None:
        self.lectures = lectures
        self.timers: dict[int, asyncio.Task[None]] = {}

    async def start(self) -> None:
        for lecture in await self.lectures.live_lectures():
            self.arm(lecture)

    def observe(self, event: Event) -> None:
        """A publisher: called after each commit, in seq order, so it must not block."""
        lecture = event.payload.get("lecture")
        if not isinstance(lecture, dict):
            return
        if event.type in ARMING_EVENTS and lecture.get("status") == "live":
            self.arm(lecture)
        elif event.type == "lecture_ended":
            self.disarm(int(lecture["session_id"]))

    def arm(self, lecture: dict[str, Any]) -> None:
        session_id = int(lecture["session_id"])
        self.disarm(session_id)
        self.timers[session_id] = asyncio.get_running_loop().create_task(
            self._wait_and_end(session_id, lecture["start_time"],
                               int(lecture["duration_minutes"])),
            name=f"lecture-end-{session_id}")

    def disarm(self, session_id: int) -> None:
        task = self.timers.pop(session_id, None)
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    async def _wait_and_end(self, session_id: int, start_time: str, minutes: int) -> None:
        try:
            while True:
                left = self.lectures.time_left(start_time, minutes, session_id)[0]
                if left > 0:
                    await asyncio.sleep(min(left, MAX_NAP))
                    continue
                wait = await self._end(session_id)
                if wait is None:
                    return
                await asyncio.sleep(min(wait, MAX_NAP))
        finally:
            if self.timers.get(session_id) is asyncio.current_task():
                del self.timers[session_id]

    async def _end(self, session_id: int) -> float | None:
        """`Lectures.end_due`; a failed write (the disk is full) is retried, not forgotten."""
        try:
            return await self.lectures.end_due(session_id)
        except Exception as exc:
            log_write_failure(log, exc, self.lectures.store.path, f"ending lecture {session_id}")
            return MAX_NAP

    async def stop(self) -> None:
        timers = list(self.timers.values())
        for task in timers:
            task.cancel()
        await asyncio.gather(*timers, return_exceptions=True)
