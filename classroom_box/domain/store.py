"""How state is kept: one SQLite file (WAL), forward-only migrations, one writer path.
It must never let a write bypass the writer nor run a hook before its commit is durable.

All writes go through the one writer: `Store.write()` for a body that awaits, `Store.apply()` for a
body that is one synchronous function (run, with every other one queued, in one trip to the
writer's thread). Both are serialised behind one asyncio lock on one connection and share its
batches, so `seq` order, commit order and publish order are the same thing. Snapshot reads use a
few connections of their own and one-statement reads another, so they run beside a write (WAL
readers never block the writer) and a token lookup never waits behind a snapshot.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from classroom_box.domain.applied import Job, SyncTx, run_bodies
from classroom_box.domain.migrate import migrate

PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    # FULL: a commit is fsynced before we answer 2xx. NORMAL would be faster on an SD card but
    # may roll back the last commits on power loss, which breaks "whatever got 2xx is on disk".
    "PRAGMA synchronous=FULL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=5000",
)
# Test-only, deliberately undocumented for operators: the power-cut test sets NORMAL to show
# that its harness does catch lost commits (tests/e2e/test_power_cut.py).
UNSAFE_SYNC_ENV = "CLASSROOM_BOX_TEST_UNSAFE_SYNCHRONOUS"

T = TypeVar("T")


# A batch commits when no write is waiting, or once it is this big or this old: that bounds how
# long the first write of a batch waits for the ones queued behind it. Not shorter: an SD card's
# fsync takes ~100 ms, and a batch cut at 50 ms of bodies held ~5 writes per fsync under load.
MAX_BATCH = 500
MAX_BATCH_SECONDS = 0.2
# Snapshot readers side by side: a reader spends most of a snapshot waiting for turns of the event
# loop between its statements, so three catch-ups progress while one would hold the others up.
READERS = 3


@dataclass
class Batch:
    """Bodies sharing one transaction: their hooks, and the commit they all wait for."""

    done: asyncio.Future[None]
    hooks: list[Callable[[], None]] = field(default_factory=list)
    bodies: int = 0
    lost: bool = False  # SQLite rolled the whole transaction back under a body
    opened: float = field(default_factory=time.monotonic)


@dataclass
class Tx:
    """A write transaction; `after_commit` callbacks run once it is durable, still in order."""

    conn: aiosqlite.Connection
    after_commit: list[Callable[[], None]] = field(default_factory=list)

    async def execute(self, sql: str, params: Iterable[Any] = ()) -> aiosqlite.Cursor:
        return await self.conn.execute(sql, tuple(params))

    async def one(self, sql: str, params: Iterable[Any] = ()) -> sqlite3.Row | None:
        rows = await self.all(sql, params)
        return rows[0] if rows else None

    async def all(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        # One trip to the connection's thread, not three (execute, fetch, close): under load
        # each trip waits for a turn of the busy event loop, and the writer's trips are serial.
        return list(await self.conn.execute_fetchall(sql, tuple(params)))


class Store:
    """The database: `write()` for the one writer, `read()` for snapshot reads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._writer: aiosqlite.Connection | None = None
        self._readers: asyncio.Queue[aiosqlite.Connection] = asyncio.Queue()
        self._all_readers: list[aiosqlite.Connection] = []
        self._write_lock = asyncio.Lock()  # held from a batch's BEGIN to its COMMIT and hooks
        self._waiting = 0  # writers queued for the lock: the running body hands its batch on
        self._batch: Batch | None = None
        self._committers: set[asyncio.Task[None]] = set()
        self.commits = 0  # COMMITs (so fsyncs) so far: what group commit saves
        self._jobs: list[Job] = []  # synchronous bodies waiting for the writer (`apply`)
        self._drainer: asyncio.Task[None] | None = None
        self._quick: aiosqlite.Connection | None = None  # one-statement reads, never queued

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = await self._connect()
        await migrate(self._writer)
        for _ in range(READERS):
            reader = await self._connect()
            await reader.execute("PRAGMA query_only=ON")
            self._all_readers.append(reader)
            self._readers.put_nowait(reader)
        self._quick = await self._connect()
        await self._quick.execute("PRAGMA query_only=ON")

    async def _connect(self) -> aiosqlite.Connection:
        # isolation_level=None: we issue BEGIN/COMMIT ourselves, so a transaction is exactly
        # the block inside write()/read() and nothing is committed behind our back.
        conn = await aiosqlite.connect(self.path, isolation_level=None)
        conn.row_factory = sqlite3.Row
        for pragma in PRAGMAS:
            await conn.execute(pragma)
        if os.environ.get(UNSAFE_SYNC_ENV) == "NORMAL":
            await conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    async def close(self) -> None:
        # What was written is committed (and published) first. Asked by done(), not by the set's
        # size: a finished task leaves the set only in a done-callback, which had not run when
        # this loop spun on it (seen on 3.13: a committer of another event loop, a test's).
        while pending := [task for task in self._committers if not task.done()]:
            await asyncio.gather(*pending, return_exceptions=True)
        self._committers.clear()
        for conn in (self._quick, *self._all_readers, self._writer):
            if conn is not None:
                await conn.close()
        self._quick = self._writer = None
        self._all_readers = []
        self._readers = asyncio.Queue()

    @asynccontextmanager
    async def write(self) -> AsyncIterator[Tx]:
        """The one writer, with group commit: concurrent writes share one transaction.

        Bodies run one at a time, each in its own SAVEPOINT of the open transaction (a failing
        body rolls back only itself). When a body ends and no other write is waiting, or the
        batch is full or old, the batch commits: one COMMIT (one fsync) for all of its bodies,
        then every body's after-commit hooks in order (seq order == commit order == publish
        order), then the lock goes on. So 1,000 answers in a second cost a few fsyncs, not 1,000.

        Each caller returns only once its own body is committed. Once its body has run, the
        caller's cancellation (Quart cancels a handler whose HTTP client hung up, often during
        the fsync) cannot split commit and publication: the caller is held until the commit is
        over, then sees its cancel. A failed COMMIT raises its own error in every caller of the
        batch, and no hook of it runs.
        """
        assert self._writer is not None, "store is not open"
        await self._acquire()
        batch, cancelled = await settle(self._begin_body())
        if cancelled:
            await settle(self._undo_body(batch))
            raise asyncio.CancelledError
        tx = Tx(self._writer)
        try:
            yield tx
        except BaseException:
            await settle(self._undo_body(batch))
            raise
        _, cancelled = await settle(self._finish_body(batch, tx))
        if cancelled:
            raise asyncio.CancelledError

    async def apply(self, body: Callable[[SyncTx], T]) -> T:
        """The same writer for a body that is one synchronous function of a `SyncTx`.

        Such bodies queue, and the writer runs every queued one in ONE trip to its thread,
        each in its own SAVEPOINT, inside the same batches and commits as `write()`'s bodies.
        A body that awaits costs several trips, each waiting for a turn of the event loop, one
        body after another: under a storm of answers that, not SQLite, bounded the box. The
        caller gets the body's result once the batch is committed (or the body's own error at
        once: its savepoint is rolled back); a caller cancelled before its body was taken
        leaves no trace, one cancelled after is held until the commit is over.
        """
        assert self._writer is not None, "store is not open"
        job = Job(body, asyncio.get_running_loop().create_future())
        self._jobs.append(job)
        if self._drainer is None:
            self._drainer = self._spawn(self._drain())
        try:
            return await asyncio.shield(job.outcome)  # type: ignore[no-any-return]
        except asyncio.CancelledError:
            if not job.taken:
                self._jobs.remove(job)
                raise
        await settle(asyncio.wait([job.outcome]))  # held: commit and publication go together
        job.outcome.exception()  # retrieved: the cancelled caller does not want it
        raise asyncio.CancelledError

    async def _drain(self) -> None:
        """Run the queued synchronous bodies, a trip at a time, while there are any."""
        try:
            while self._jobs:
                await self._acquire()
                await settle(self._run_jobs())
        finally:
            self._drainer = None

    async def _run_jobs(self) -> None:
        """Holding the lock: the queued bodies in one trip, then commit or hand the batch on."""
        assert self._writer is not None
        batch = self._batch
        jobs, self._jobs = self._jobs[:MAX_BATCH], self._jobs[MAX_BATCH:]
        if not jobs:  # their callers gave up while the writer was busy
            self._release_or_commit(batch)
            return
        for job in jobs:
            job.taken = True
        try:
            # aiosqlite's own queue to its thread: the one way to run a function there
            done, lost = await self._writer._execute(
                run_bodies, self._writer._conn, jobs, batch is None)
        except BaseException as exc:  # BEGIN failed: nothing ran
            for job in jobs:
                job.outcome.set_exception(exc)
            self._release_or_commit(batch)
            return
        batch = self._batch = batch or Batch(asyncio.get_running_loop().create_future())
        self._jobs[:0] = jobs[len(done):]  # after a lost transaction: the next batch runs them
        for job, (failed, value, hooks) in zip(jobs, done, strict=False):
            if failed:
                job.outcome.set_exception(value)
                continue
            batch.hooks.extend(hooks)
            batch.bodies += 1
            batch.done.add_done_callback(_resolve(job.outcome, value))
        batch.lost = batch.lost or lost
        self._hand_on(batch)

    def _release_or_commit(self, batch: Batch | None) -> None:
        if batch is None:
            self._write_lock.release()
        else:
            self._hand_on(batch)

    async def _acquire(self) -> None:
        """Queue for the writer; a queued writer makes the running body hand the batch on."""
        self._waiting += 1
        try:
            await self._write_lock.acquire()
        except BaseException:
            self._waiting -= 1
            if self._batch is not None:  # the batch may have been handed on to this writer
                self._spawn(self._commit_if_stalled())
            raise
        self._waiting -= 1

    async def _begin_body(self) -> Batch:
        assert self._writer is not None
        if self._batch is None:
            try:
                await self._writer.execute("BEGIN IMMEDIATE")
            except BaseException:
                self._write_lock.release()
                raise
            self._batch = Batch(asyncio.get_running_loop().create_future())
        batch = self._batch
        try:
            await self._writer.execute("SAVEPOINT body")
        except BaseException:
            batch.lost = True
            self._hand_on(batch)
            raise
        return batch

    async def _undo_body(self, batch: Batch) -> None:
        """Roll back this body only. If SQLite already dropped the whole transaction (disk full,
        I/O error), the bodies before it in the batch are lost too: their callers are told."""
        assert self._writer is not None
        try:
            if self._writer.in_transaction:
                await self._writer.execute("ROLLBACK TO body")
                await self._writer.execute("RELEASE body")
            else:
                batch.lost = True
        except BaseException:
            batch.lost = True
            raise
        finally:
            self._hand_on(batch)

    async def _finish_body(self, batch: Batch, tx: Tx) -> None:
        assert self._writer is not None
        try:
            await self._writer.execute("RELEASE body")
        except BaseException:
            batch.lost = True
            self._hand_on(batch)
            raise
        batch.hooks.extend(tx.after_commit)
        batch.bodies += 1
        self._hand_on(batch)
        await batch.done  # the commit's outcome: None, or its error

    def _hand_on(self, batch: Batch) -> None:
        """Let the next waiting body join this batch, or commit it now."""
        full = batch.bodies >= MAX_BATCH or time.monotonic() - batch.opened > MAX_BATCH_SECONDS
        if batch.lost or (self._waiting == 0 and not self._jobs) or full:
            self._batch = None
            self._spawn(self._commit(batch))
        else:
            self._write_lock.release()

    def _spawn(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(work)
        self._committers.add(task)
        task.add_done_callback(self._committers.discard)
        return task

    async def _commit_if_stalled(self) -> None:
        """A queued writer gave up: commit the open batch unless someone else carries it on."""
        await self._write_lock.acquire()
        batch, self._batch = self._batch, None
        if batch is None:
            self._write_lock.release()
        else:
            await self._commit(batch)

    async def _commit(self, batch: Batch) -> None:
        """Its own task, holding the lock: COMMIT, then the hooks in order, then release."""
        assert self._writer is not None
        try:
            if batch.lost:
                raise sqlite3.OperationalError("the transaction was rolled back by SQLite")
            await self._writer.execute("COMMIT")
            self.commits += 1
        except BaseException as exc:
            await self._rollback_if_open()
            batch.done.set_exception(exc)
            batch.done.exception()  # retrieved: a batch nobody waits for any more must not warn
            self._write_lock.release()
            return
        try:
            for hook in batch.hooks:
                hook()
        finally:
            batch.done.set_result(None)
            self._write_lock.release()

    async def _rollback_if_open(self) -> None:
        """ROLLBACK only if a transaction is still open, so a failed COMMIT keeps its own error.

        A COMMIT that fails (disk full, I/O error) may or may not have rolled back already; an
        unconditional ROLLBACK would then raise "no transaction is active" and hide the cause.
        sqlite3's `rollback()` checks `in_transaction` itself, in aiosqlite's worker thread after
        every statement queued before it, so it sees the truth.
        """
        assert self._writer is not None
        await self._writer.rollback()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[Tx]:
        """A consistent snapshot: every query inside sees the same committed state."""
        assert self._all_readers, "store is not open"
        reader = await self._readers.get()
        try:
            await reader.execute("BEGIN")
            try:
                yield Tx(reader)
            finally:
                await reader.execute("COMMIT")
        finally:
            self._readers.put_nowait(reader)

    async def one(self, sql: str, params: Iterable[Any] = ()) -> sqlite3.Row | None:
        rows = await self.all(sql, params)
        return rows[0] if rows else None

    async def all(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        """One statement is its own snapshot: it needs no BEGIN, and it runs on a connection of
        its own so a handshake's token lookup never queues behind a catch-up's snapshot."""
        assert self._quick is not None, "store is not open"
        return await Tx(self._quick).all(sql, params)


async def settle(step: Coroutine[Any, Any, T]) -> tuple[T, bool]:
    """Run `step` to its end even if the caller is cancelled meanwhile; say whether it was."""
    task = asyncio.ensure_future(step)
    cancelled = False
    while True:
        try:
            return await asyncio.shield(task), cancelled
        except asyncio.CancelledError:
            if task.done():
                raise  # the step itself was cancelled (loop shutdown): nothing left to wait for
            cancelled = True


def _resolve(outcome: asyncio.Future[Any],
             value: Any) -> Callable[[asyncio.Future[None]], None]:
    """Pass the batch's commit (or its error) on to one body's caller, with the body's result."""
    def resolve(commit: asyncio.Future[None]) -> None:
        error = commit.exception()
        if error is not None:
            outcome.set_exception(error)
        else:
            outcome.set_result(value)
    return resolve
