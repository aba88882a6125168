"""When does a scheduled lecture start? One timer task per pending schedule, kept in SQLite.
It must never decide whether a schedule starts or is missed (that is `Lectures.fire`), only when to
ask.

Not a once-a-minute poll: each schedule sleeps until its own time, in steps of at most
`MAX_NAP` seconds so a wall-clock change (a Raspberry Pi without RTC setting its clock late) is
noticed. After a restart `start()` re-arms every pending schedule; one whose time passed while the
box was down starts late if its window (time + duration) is still open, else is marked missed
(that decision lives in `Lectures.fire`, which also waits for a settled clock before "missed").

A timer is only forgotten once its schedule reached a final state: when the write fails (the
disk is full), it retries with backoff, so space coming back starts the lecture, or marks it
missed if its window closed meanwhile, without a restart.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from classroom_box.domain.clock import Clock
from classroom_box.domain.lectures import Lectures
from classroom_box.domain.storage_faults import log_write_failure

log = logging.getLogger(__name__)
MAX_NAP = 5.0
RETRY_FIRST, RETRY_MAX = 0.5, 30.0


class Scheduler:
    def __init__(self, lectures: Lectures, clock: Clock) -> None:
        self.lectures = lectures
        self.clock = clock
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
            retry = RETRY_FIRST
            while True:
                while (left := (when - self.clock.now()).total_seconds()) > 0:  # noqa: ASYNC110
                    await asyncio.sleep(min(left, MAX_NAP))
                outcome = await self._fire(schedule_id)
                if outcome == "unsettled":
                    await asyncio.sleep(MAX_NAP)  # window closed on a clock that just jumped
                elif outcome == "failed":
                    await asyncio.sleep(retry)
                    retry = min(retry * 2, RETRY_MAX)
                else:
                    log.info("scheduled lecture %s: %s", schedule_id, outcome)
                    return
        finally:
            self.timers.pop(schedule_id, None)

    async def _fire(self, schedule_id: int) -> str:
        """`Lectures.fire`, with a failed write reported as "failed" (one log line, no trace)."""
        try:
            return await self.lectures.fire(schedule_id)
        except Exception as exc:
            log_write_failure(log, exc, self.lectures.store.path,
                              f"scheduled lecture {schedule_id}")
            return "failed"

    async def stop(self) -> None:
        timers = list(self.timers.values())
        for task in timers:
            task.cancel()
        await asyncio.gather(*timers, return_exceptions=True)
