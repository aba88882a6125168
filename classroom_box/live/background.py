"""Background work of the live layer, which must end before the store closes.

python-socketio's `start_background_task` forgets its tasks: a catch-up still reading when the
box stops then finds the store closed, and leaves "Task exception was never retrieved" and a
traceback in the journal for every socket that was connecting. Work spawned here is cancelled
and awaited at stop instead, and nothing new starts after it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger(__name__)


class BackgroundTasks:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()
        self.stopped = False

    def spawn(self, work: Coroutine[Any, Any, Any]) -> None:
        if self.stopped:
            work.close()
            return
        name = getattr(work, "__qualname__", None)
        task = asyncio.get_running_loop().create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        """Say a failure when it happens, not as "never retrieved" whenever the GC gets to it."""
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("%s failed", task.get_name(), exc_info=task.exception())

    async def stop(self) -> None:
        self.stopped = True
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
