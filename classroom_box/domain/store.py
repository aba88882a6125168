"""How state is kept: one SQLite file (WAL), forward-only migrations, one writer path.
It must never let a write bypass `write()` nor run a hook before its commit is durable.

All writes go through `Store.write()`, which serialises them behind one asyncio lock on one
connection, so `seq` order, commit order and publish order are the same thing. Reads use a second
connection and may run beside a write (WAL readers never block the writer).
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from classroom_box.domain.schema import MIGRATIONS

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


class StorageFull(Exception):
    """The disk (or the filesystem holding the database) is full: nothing was written.

    A domain error rather than a sqlite3 one, so the web layer answers 507 and the scheduler
    retries without knowing SQLite's error codes.
    """

    def __init__(self) -> None:
        super().__init__("the box's storage is full: nothing was saved; free some space")


# SQLite reports ENOSPC as SQLITE_FULL from write(), but as an SQLITE_IOERR_* variant from
# fsync/truncate/mmap; the extended code does not carry errno, so an I/O error counts as "full"
# only when the filesystem has no space left.
_IOERR = 10


def storage_full(exc: BaseException, path: Path) -> StorageFull | None:
    """The domain error for `exc` if it means "disk full", else None (the one mapping)."""
    if isinstance(exc, StorageFull):
        return exc
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return StorageFull()
    if not isinstance(exc, sqlite3.Error):
        return None
    code = getattr(exc, "sqlite_errorcode", None)
    if code == sqlite3.SQLITE_FULL:
        return StorageFull()
    if code is not None and code & 0xFF == _IOERR and _no_space_left(path):
        return StorageFull()
    return None


def log_write_failure(logger: logging.Logger, exc: BaseException, path: Path,
                      what: str) -> None:
    """One line for a background write that the disk refused (it will be retried), a traceback
    for anything else: the shared wording of the timers and the pruner."""
    if storage_full(exc, path) is None:
        logger.exception("%s failed; retrying", what)
    else:
        logger.warning("%s waits: storage full", what)


def _no_space_left(path: Path) -> bool:
    try:
        stat = os.statvfs(path.parent)
    except OSError:
        return False
    return stat.f_bavail * stat.f_frsize < 64 * 1024


# A batch commits when no write is waiting, or once it is this big or this old: that bounds how
# long the first write of a batch waits for the ones queued behind it. Not shorter: an SD card's
# fsync takes ~100 ms, and a batch cut at 50 ms of bodies held ~5 writes per fsync under load.
MAX_BATCH = 500
MAX_BATCH_SECONDS = 0.2


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
        async with self.conn.execute(sql, tuple(params)) as cur:
            return await cur.fetchone()

    async def all(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        async with self.conn.execute(sql, tuple(params)) as cur:
            return list(await cur.fetchall())


class Store:
    """The database: `write()` for the one writer, `read()` for snapshot reads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._writer: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._write_lock = asyncio.Lock()  # held from a batch's BEGIN to its COMMIT and hooks
        self._waiting = 0  # writers queued for the lock: the running body hands its batch on
        self._batch: Batch | None = None
        self._committers: set[asyncio.Task[None]] = set()
        self.commits = 0  # COMMITs (so fsyncs) so far: what group commit saves
        self._read_lock = asyncio.Lock()

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = await self._connect()
        await self._migrate(self._writer)
        self._reader = await self._connect()
        await self._reader.execute("PRAGMA query_only=ON")

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

    async def _migrate(self, conn: aiosqlite.Connection) -> None:
        async with conn.execute("PRAGMA user_version") as cur:
            row = await cur.fetchone()
        version = int(row[0]) if row else 0
        if version > len(MIGRATIONS):
            raise RuntimeError(
                f"database schema {version} is newer than this classroom-box "
                f"({len(MIGRATIONS)}); upgrade the software"
            )
        for number in range(version, len(MIGRATIONS)):
            await conn.execute("BEGIN IMMEDIATE")
            try:
                for statement in _split_sql(MIGRATIONS[number]):
                    await conn.execute(statement)
                await conn.execute(f"PRAGMA user_version={number + 1}")
                await conn.execute("COMMIT")
            except BaseException:
                await conn.execute("ROLLBACK")
                raise

    async def close(self) -> None:
        while self._committers:  # what was written is committed (and published) first
            await asyncio.gather(*self._committers, return_exceptions=True)
        for conn in (self._reader, self._writer):
            if conn is not None:
                await conn.close()
        self._reader = self._writer = None

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
        if batch.lost or self._waiting == 0 or full:
            self._batch = None
            self._spawn(self._commit(batch))
        else:
            self._write_lock.release()

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._committers.add(task)
        task.add_done_callback(self._committers.discard)

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
        assert self._reader is not None, "store is not open"
        async with self._read_lock:
            await self._reader.execute("BEGIN")
            try:
                yield Tx(self._reader)
            finally:
                await self._reader.execute("COMMIT")

    async def one(self, sql: str, params: Iterable[Any] = ()) -> sqlite3.Row | None:
        async with self.read() as tx:
            return await tx.one(sql, params)

    async def all(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        async with self.read() as tx:
            return await tx.all(sql, params)


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


def _split_sql(script: str) -> list[str]:
    """Split a migration into statements (ours contain no semicolons inside literals)."""
    statements = []
    for chunk in script.split(";"):
        lines = [ln for ln in chunk.splitlines() if not ln.strip().startswith("--")]
        text = "\n".join(lines).strip()
        if text:
            statements.append(text)
    return statements
