"""When does a scheduled lecture start? One timer task per pending schedule, kept in SQLite.

Not a once-a-minute poll: each schedule sleeps until its own time, in steps of at most
`MAX_NAP` seconds so a wall-clock change (a Raspberry Pi without RTC setting its clock late) is
noticed. After a restart `start()` re-arms every pending schedule; one whose time passed while the
box was down starts late if its window (time + duration) is still open, else is marked missed
(that decision lives in `Lectures.fire`).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from classroom_box.lectures import Lectures
from classroom_box.validation import utcnow

log = logging.getLogger(__name__)
MAX_NAP = 5.0


class Scheduler:
    def __init__(self, lectures: Lectures) -> None:
        self.lectures = lectures
        self.timers: dict[int, asyncio.Task[None]] = {}

    async def start(self) -> None:
        for schedule_id, when in await self.lectures.pending():
            self.add(schedule_id, when)

    def add(self, schedule_id: int, when: datetime) -> None:
        if schedule_id not in self.timers:
            task = asyncio.create_task(self._wait_and_fire(schedule_id, when),
                                       name=f"schedule-{schedule_id}")
            self.timers[schedule_id] = task

    async def _wait_and_fire(self, schedule_id: int, when: datetime) -> None:
        try:
            while (left := (when - utcnow()).total_seconds()) > 0:  # noqa: ASYNC110
                await asyncio.sleep(min(left, MAX_NAP))
            outcome = await self.lectures.fire(schedule_id)
            log.info("scheduled lecture %s: %s", schedule_id, outcome)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("scheduled lecture %s could not be fired", schedule_id)
        finally:
            self.timers.pop(schedule_id, None)

    async def stop(self) -> None:
        timers = list(self.timers.values())
        for task in timers:
            task.cancel()
        await asyncio.gather(*timers, return_exceptions=True)
