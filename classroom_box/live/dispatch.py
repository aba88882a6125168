"""The one path from the event log to the sockets: a queue in seq order and the task draining it.

Owns the publisher handed to `EventLog` at construction (`Dispatcher.publish`), so the domain never
imports this layer and the order of publication is the order of commits: the store runs its
after-commit hooks while the single writer still holds its lock. It must never send anything
itself or reorder events: delivery is the `deliver` coroutine given to `start()` (the fan-out).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from classroom_box.domain.events import Event

log = logging.getLogger(__name__)
Deliver = Callable[[Event], Awaitable[object]]


class Dispatcher:
    def __init__(self) -> None:
        self.queue: asyncio.Queue[Event] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.fanning_out = False

    def publish(self, event: Event) -> None:
        """Called after commit, under the write lock: the queue is in seq order."""
        self.queue.put_nowait(event)

    def start(self, deliver: Deliver) -> None:
        self._task = asyncio.create_task(self._run(deliver), name="event-dispatcher")

    def busy(self) -> bool:
        """An event is being sent or waits to be: no time for a full GC pause (gcpolicy.py)."""
        return self.fanning_out or not self.queue.empty()

    async def flush(self) -> None:
        """Return once everything published so far has been delivered."""
        await self.queue.join()

    async def stop(self) -> None:
        if self._task:
            await self.queue.join()
            self._task.cancel()

    async def _run(self, deliver: Deliver) -> None:
        while True:
            event = await self.queue.get()
            self.fanning_out = True
            try:
                await deliver(event)
            except Exception:
                log.exception("fan-out of seq %s failed", event.seq)
            finally:
                self.fanning_out = False
                self.queue.task_done()
