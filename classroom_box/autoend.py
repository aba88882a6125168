"""When does a live lecture end by itself? One timer per live lecture, at its planned end.

A teacher who forgets to press "End" must not leave a lecture live all night. The timers follow
the event log: `observe()` sees every committed event, arms on `lecture_started` (scheduled starts
included), re-arms on `lecture_duration_update` and disarms on `lecture_ended`. After a restart
`start()` re-arms every live lecture; one whose planned end passed while the box was down ends at
once, with `end_time` = its planned end (the decision and the event live in `Lectures.end_due`).
Like the scheduler, a timer sleeps in steps of at most `MAX_NAP` so a wall-clock change is seen.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from classroom_box.events import Event
from classroom_box.lectures import Lectures
from classroom_box.validation import from_iso, utcnow

log = logging.getLogger(__name__)
MAX_NAP = 5.0
ARMING_EVENTS = ("lecture_started", "lecture_duration_update")


class AutoEnd:
    def __init__(self, lectures: Lectures) -> None:
        self.lectures = lectures
        self.timers: dict[int, asyncio.Task[None]] = {}

    async def start(self) -> None:
        for session_id, planned_end in await self.lectures.live_ends():
            self.arm(session_id, planned_end)

    def observe(self, event: Event) -> None:
        """A publisher: called after each commit, in seq order, so it must not block."""
        lecture = event.payload.get("lecture")
        if not isinstance(lecture, dict):
            return
        if event.type in ARMING_EVENTS and lecture.get("status") == "live":
            self.arm(int(lecture["session_id"]), from_iso(lecture["planned_end"]))
        elif event.type == "lecture_ended":
            self.disarm(int(lecture["session_id"]))

    def arm(self, session_id: int, planned_end: datetime) -> None:
        self.disarm(session_id)
        self.timers[session_id] = asyncio.get_running_loop().create_task(
            self._wait_and_end(session_id, planned_end), name=f"lecture-end-{session_id}")

    def disarm(self, session_id: int) -> None:
        task = self.timers.pop(session_id, None)
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    async def _wait_and_end(self, session_id: int, planned_end: datetime) -> None:
        try:
            while True:
                while (left := (planned_end - utcnow()).total_seconds()) > 0:  # noqa: ASYNC110
                    await asyncio.sleep(min(left, MAX_NAP))
                try:
                    later = await self.lectures.end_due(session_id)
                except Exception:  # a failed write (disk full) is retried, not forgotten
                    log.exception("lecture %s could not be ended; retrying", session_id)
                    await asyncio.sleep(MAX_NAP)
                    continue
                if later is None:
                    return
                planned_end = from_iso(later)  # moved meanwhile: keep waiting
        finally:
            if self.timers.get(session_id) is asyncio.current_task():
                del self.timers[session_id]

    async def stop(self) -> None:
        timers = list(self.timers.values())
        for task in timers:
            task.cancel()
        await asyncio.gather(*timers, return_exceptions=True)
