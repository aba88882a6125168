"""When the cyclic garbage collector may run: never in the middle of a fan-out, yet often enough.

Full (generation 2) collections scan every object of every connected student: 40-115 ms pauses
with 1,000 students, which were the whole fan-out p99 tail (150-170 ms -> 46-64 ms measured,
docs/benchmark.md). So automatic full collections are made rare (`GC_THRESHOLDS`).

But each reconnect leaves reference cycles that only a full collection frees (~20 KB each,
docs/reliability.md): python-engineio builds a class per request (its ASGI `translate_request`),
and a closed WebSocket ends its reader with an exception whose traceback holds the handler's frame,
which holds the task, which holds the exception. Those cycles keep the uvicorn and websockets
protocol objects of the dead connection alive. Left alone, RSS grew ~20 KB per reconnect for
good. `QuietCollector` runs the full collection itself, only while no event is being fanned
out: once the disconnects have settled (none for `settle` seconds: the class is back), or under
continuous churn after `every` disconnects, at most every `min_gap` seconds.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

GC_THRESHOLDS = (700, 10, 1000)
DISCONNECTS_PER_COLLECTION = 200  # ~4 MB of garbage at ~20 KB per reconnect
MIN_GAP = 5.0  # seconds between two scheduled full collections under continuous churn
SETTLE = 2.0  # seconds without a disconnect after which the pending garbage is collected
POLL = 1.0  # seconds between checks


def tune_gc() -> None:
    """Freeze start-up objects out of the collector's view and make full collections rare."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


class QuietCollector:
    """Counts disconnects; runs `gc.collect()` when enough garbage is due and nothing is sent."""

    def __init__(self, busy: Callable[[], bool], every: int = DISCONNECTS_PER_COLLECTION,
                 min_gap: float = MIN_GAP, settle: float = SETTLE) -> None:
        self.busy, self.every = busy, every
        self.min_gap, self.settle = min_gap, settle
        self.pending = 0  # disconnects since the last full collection
        self.last = self.last_disconnect = time.monotonic()
        self.collections = 0

    def note_disconnect(self) -> None:
        self.pending += 1
        self.last_disconnect = time.monotonic()

    def due(self, now: float) -> bool:
        if self.pending == 0 or self.busy():
            return False
        if now - self.last_disconnect >= self.settle:
            return True
        return self.pending >= self.every and now - self.last >= self.min_gap

    def collect(self, now: float) -> int:
        freed = gc.collect()
        self.pending, self.last = 0, now
        self.collections += 1
        log.debug("full collection freed %d objects in %.1f ms", freed,
                  (time.monotonic() - now) * 1000)
        return freed

    async def run(self, poll: float = POLL) -> None:
        while True:
            await asyncio.sleep(poll)
            now = time.monotonic()
            if self.due(now):
                self.collect(now)
