"""At most a few updates a second per subject, and always one after the last change.

A thousand answers in a second must not become a thousand tally messages to the teacher, yet the
last tally must be exact. `poke(key)` marks a subject changed; `send(key)` then runs at once if
it has not run within `interval`, else when the interval is over. A poke while `send` runs makes
it run again afterwards, so the final `send` always starts after the final change. It must never
drop the last update, and never keep anything for a subject that went quiet.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable

log = logging.getLogger(__name__)


class Coalescer:
    def __init__(self, interval: float, send: Callable[[Hashable], Awaitable[None]]) -> None:
        self.interval, self.send = interval, send
        self.running: dict[Hashable, asyncio.Task[None]] = {}
        self.dirty: set[Hashable] = set()
        self.last: dict[Hashable, float] = {}

    def poke(self, key: Hashable) -> None:
        if key in self.running:
            self.dirty.add(key)
            return
        self.running[key] = asyncio.get_running_loop().create_task(self._run(key))

    async def _run(self, key: Hashable) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                wait = self.last.get(key, -self.interval) + self.interval - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                self.dirty.discard(key)
                self.last[key] = loop.time()
                try:
                    await self.send(key)
                except Exception:
                    log.exception("coalesced update for %r failed", key)
                if key not in self.dirty:
                    return
        finally:
            self.running.pop(key, None)
            self._forget(loop.time())

    def _forget(self, now: float) -> None:
        """Keys quiet for a whole interval need no memory (keeps the table bounded)."""
        if len(self.last) > 1000:
            self.last = {k: t for k, t in self.last.items() if now - t < self.interval}

    async def stop(self) -> None:
        tasks = list(self.running.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
