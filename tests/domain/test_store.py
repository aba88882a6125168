"""The one writer: what a failed or cancelled transaction leaves behind (real SQLite, no mocks)."""

from __future__ import annotations

import asyncio
import inspect
import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiosqlite
import pytest

from classroom_box.domain.applied import SyncTx
from classroom_box.domain.store import Store


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    store = Store(tmp_path / "box.db")
    await store.open()
    async with store.write() as tx:
        await tx.execute("CREATE TABLE t (x)")
        await tx.execute("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
        await tx.execute("CREATE TABLE child (parent INTEGER REFERENCES parent(id)"
                         " DEFERRABLE INITIALLY DEFERRED)")
    yield store
    await store.close()


async def rows(store: Store, table: str) -> int:
    row = await store.one(f"SELECT COUNT(*) FROM {table}")
    assert row is not None
    return int(row[0])


async def test_a_statement_that_fills_the_disk_raises_its_own_error(store: Store) -> None:
    """SQLITE_FULL rolls the transaction back by itself; a blind ROLLBACK would then raise
    "cannot rollback - no transaction is active" and hide the real cause.
    (max_page_count makes SQLite report a full disk without filling one.)"""
    with pytest.raises(sqlite3.OperationalError, match="database or disk is full"):
        async with store.write() as tx:
            row = await tx.one("PRAGMA page_count")
            assert row is not None
            await tx.execute(f"PRAGMA max_page_count = {row[0] + 1}")
            await tx.execute("INSERT INTO t VALUES (?)", (b"x" * 100_000,))
    async with store.write() as tx:  # the writer is usable again once there is room
        await tx.execute("PRAGMA max_page_count = 1073741823")
        await tx.execute("INSERT INTO t VALUES (1)")
    assert await rows(store, "t") == 1


async def test_a_failing_commit_raises_its_own_error_and_rolls_back(store: Store) -> None:
    """A COMMIT can fail with the transaction still open (here a deferred constraint): it is
    rolled back, nothing of it is visible, its hooks never run, and the next write works."""
    published: list[str] = []
    with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
        async with store.write() as tx:
            await tx.execute("INSERT INTO child VALUES (42)")  # no parent 42: fails at COMMIT
            tx.after_commit.append(lambda: published.append("child"))
    assert published == []
    async with store.write() as tx:
        await tx.execute("INSERT INTO t VALUES (1)")
    assert await rows(store, "child") == 0
    assert await rows(store, "t") == 1


async def test_a_request_cancelled_during_commit_still_publishes(store: Store) -> None:
    """What Quart does when the HTTP client hangs up mid-commit, made deterministic in-process:
    the cancel is scheduled so that it lands while COMMIT is awaited. (The same against a real box
    process with a slow fsync: tests/domain/test_slow_disk.py.)"""
    published: list[int] = []

    async def handler() -> None:
        async with store.write() as tx:
            await tx.execute("INSERT INTO t VALUES (7)")
            tx.after_commit.append(lambda: published.append(7))
            loop.call_soon(task.cancel)  # runs at the next await: the commit

    loop = asyncio.get_running_loop()
    task = asyncio.create_task(handler())
    with pytest.raises(asyncio.CancelledError):
        await task
    assert published == [7]  # committed and published, although its request was cancelled
    assert await rows(store, "t") == 1
    async with store.write() as tx:  # the lock was released, the transaction closed
        await tx.execute("INSERT INTO t VALUES (8)")
    assert await rows(store, "t") == 2


async def test_an_applied_body_that_fills_the_disk_fails_alone_or_with_its_batch(
        store: Store) -> None:
    """Synchronous bodies queued together run in one trip. One that fills the disk gets its own
    error; when SQLite drops the whole transaction, the bodies before it in the batch are told
    so (nothing of theirs is committed) and the bodies after it run in a new transaction."""
    def insert(x: int) -> Callable[[SyncTx], None]:
        def body(tx: SyncTx) -> None:
            tx.execute("INSERT INTO t VALUES (?)", (x,))
        return body

    def fill(tx: SyncTx) -> None:
        row = tx.one("PRAGMA page_count")
        assert row is not None
        tx.execute(f"PRAGMA max_page_count = {row[0] + 1}")
        tx.execute("INSERT INTO t VALUES (?)", (b"x" * 100_000,))

    def room_again(tx: SyncTx) -> None:
        tx.execute("PRAGMA max_page_count = 1073741823")
        tx.execute("INSERT INTO t VALUES (3)")

    before, full, after = await asyncio.gather(
        store.apply(insert(1)), store.apply(fill), store.apply(room_again),
        return_exceptions=True)
    assert isinstance(full, sqlite3.OperationalError) and "full" in str(full)
    assert after is None
    stored = {r[0] for r in await store.all("SELECT x FROM t")}
    assert stored == ({1, 3} if before is None else {3})
    assert before is None or isinstance(before, sqlite3.OperationalError)


def test_the_aiosqlite_internals_store_apply_reaches_are_still_there() -> None:
    """`Store.apply` runs a batch of bodies in one trip through aiosqlite's private
    `Connection._execute(fn, *args)` with the sqlite3 connection `Connection._conn`: an
    aiosqlite release that renames them fails here, not in a classroom."""
    execute = aiosqlite.Connection._execute
    assert inspect.iscoroutinefunction(execute)
    assert list(inspect.signature(execute).parameters)[:2] == ["self", "fn"]
    assert isinstance(inspect.getattr_static(aiosqlite.Connection, "_conn"), property)
