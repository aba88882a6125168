"""Flaky classroom Wi-Fi between students and the box, emulated in user space.

The intended tool is `tc qdisc netem` on a veth pair between two network namespaces, but the
kernel this runs on has no sch_netem module, so this relay plays the link instead: every chunk
is delayed 80 +/- 40 ms (in order, as TCP delivers it), a lost packet (5 %) costs what TCP
makes of it, a retransmission timeout (+200 ms, later data waits behind it), and now and then
the link drops a connection outright (a student walks out of range), which is what makes
clients reconnect and catch up. Both directions are treated alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from dataclasses import dataclass, field

DELAY, JITTER = 0.080, 0.040
LOSS, RTO = 0.05, 0.200


@dataclass
class LinkStats:
    connections: int = 0
    dropped: int = 0
    chunks: int = 0
    lost: int = 0
    tasks: set[asyncio.Task[None]] = field(default_factory=set)


class LossyLink:
    """A TCP relay from `listen_port` to `target_port`; `drop_rate` cuts per connection per s."""

    def __init__(self, target_port: int, drop_rate: float, seed: int = 5) -> None:
        self.target_port, self.drop_rate = target_port, drop_rate
        self.rng = random.Random(seed)
        self.stats = LinkStats()
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
        for task in list(self.stats.tasks):
            task.cancel()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.stats.tasks.add(task)
        self.stats.connections += 1
        try:
            up_r, up_w = await asyncio.open_connection("127.0.0.1", self.target_port)
            lifetime = self.rng.expovariate(self.drop_rate) if self.drop_rate else None
            pipes = [asyncio.ensure_future(self._pipe(reader, up_w)),
                     asyncio.ensure_future(self._pipe(up_r, writer))]
            done, _ = await asyncio.wait(pipes, timeout=lifetime,
                                         return_when=asyncio.FIRST_COMPLETED)
            if not done:
                self.stats.dropped += 1
            for pipe in pipes:
                pipe.cancel()
            for w in (up_w, writer):
                w.transport.abort()
        except OSError:
            writer.transport.abort()
        finally:
            self.stats.tasks.discard(task)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Deliver each chunk after its delay, never before the one in front of it."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def deliver() -> None:
            while True:
                due, chunk = await queue.get()
                await asyncio.sleep(max(0.0, due - loop.time()))
                writer.write(chunk)
                await writer.drain()
                queue.task_done()

        sender = asyncio.ensure_future(deliver())
        try:
            last_due = 0.0
            while chunk := await reader.read(65536):
                self.stats.chunks += 1
                delay = DELAY + self.rng.uniform(-JITTER, JITTER)
                if self.rng.random() < LOSS:
                    self.stats.lost += 1
                    delay += RTO
                last_due = max(last_due, loop.time() + delay)
                queue.put_nowait((last_due, chunk))
            await queue.join()  # the peer closed: deliver what is still on the way
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender
