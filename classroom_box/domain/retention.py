"""How long does the box keep what students did? `--data-retention-days`, then it is deleted.
It owns the deletion and must never delete anything but per-student records of old ended
lectures, nor run on an unsettled clock.

A school's data-protection officer asks this first. Per-student records of ended lectures
(attendance intervals, answers, asks and pulses) older than the setting are
deleted once the clock is settled after start, and then daily. Lectures themselves (titles,
times, summaries) stay: they name no student. Events are already pruned after `--replay-window`
hours. Deleting is irreversible, so like "missed" it waits for a settled wall clock: a Pi whose
clock jumps a year ahead at boot must not take a year of records with it.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from classroom_box.domain.clock import Clock
from classroom_box.domain.store import Store
from classroom_box.domain.validation import iso

log = logging.getLogger(__name__)
EVERY = 24 * 3600.0
UNSETTLED_RETRY = 60.0  # seconds: ask the clock again
OLD = "SELECT id FROM lecture_sessions WHERE status = 'ended' AND end_time < ?"
# per-student lecture records -> which rows belong to the old lectures
RETAINED = {
    "attendance": f"session_id IN ({OLD})",
    "asks": f"session_id IN ({OLD})",
    "pulses": f"session_id IN ({OLD})",
    "answers": f"question_id IN (SELECT id FROM questions WHERE session_id IN ({OLD}))",
}


async def purge(store: Store, days: int, now: datetime) -> dict[str, int]:
    """Delete the records of lectures that ended more than `days` ago; returns rows per table."""
    cutoff = iso(now - timedelta(days=days))
    removed = {}
    async with store.write() as tx:
        for table, old_rows in RETAINED.items():
            cur = await tx.execute(f"DELETE FROM {table} WHERE {old_rows}", (cutoff,))
            removed[table] = cur.rowcount
    return removed


class Retention:
    def __init__(self, store: Store, days: int, clock: Clock) -> None:
        self.store, self.days, self.clock = store, days, clock
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._daily(), name="retention")

    async def _daily(self) -> None:
        while True:
            if not self.clock.settled():
                await asyncio.sleep(UNSETTLED_RETRY)
                continue
            try:
                removed = await purge(self.store, self.days, self.clock.now())
                if any(removed.values()):
                    log.info("retention (%d days) deleted %s", self.days, removed)
            except Exception:
                log.exception("retention could not delete old records; next try tomorrow")
            await asyncio.sleep(EVERY)

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
