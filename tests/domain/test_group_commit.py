"""Group commit in the one writer: concurrent writes share transactions, each caller is answered
only after its own commit, a failing write rolls back only itself, and publication stays in seq
order. Real Store on a real SQLite file."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from classroom_box.domain.applied import SyncTx
from classroom_box.domain.clock import Clock
from classroom_box.domain.events import Event, EventLog
from classroom_box.domain.store import Store


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = Store(tmp_path / "box.db")
    await s.open()
    async with s.write() as tx:
        await tx.execute("CREATE TABLE t (n INTEGER PRIMARY KEY)")
    try:
        yield s
    finally:
        await s.close()


def committed(path: Path) -> set[int]:
    with sqlite3.connect(path) as db:
        return {row[0] for row in db.execute("SELECT n FROM t")}


async def test_concurrent_writes_share_commits(store: Store) -> None:
    before = store.commits
    seen_on_return: list[bool] = []

    async def write(n: int) -> None:
        async with store.write() as tx:
            await tx.execute("INSERT INTO t (n) VALUES (?)", (n,))
        seen_on_return.append(n in committed(store.path))  # committed before we return

    await asyncio.gather(*[write(n) for n in range(200)])
    assert committed(store.path) == set(range(200))
    assert all(seen_on_return)
    assert store.commits - before < 200 / 4, store.commits - before


async def test_a_failing_write_rolls_back_only_itself(store: Store) -> None:
    async def write(n: int) -> None:
        async with store.write() as tx:
            await tx.execute("INSERT INTO t (n) VALUES (?)", (n,))
            if n % 5 == 0:
                raise ValueError(n)

    outcomes = await asyncio.gather(*[write(n) for n in range(50)], return_exceptions=True)
    failed = {n for n, o in enumerate(outcomes) if isinstance(o, ValueError)}
    assert failed == set(range(0, 50, 5))
    assert committed(store.path) == set(range(50)) - failed


async def test_publication_in_seq_order_and_despite_cancelled_callers(store: Store) -> None:
    published: list[Event] = []
    log = EventLog(store, Clock(), publish=published.append)

    async def append(n: int) -> None:
        async with store.write() as tx:
            await log.append(tx, class_id=1, section_id=1, teacher_id=1,
                             type="lecture_progress_update", payload={"n": n})

    tasks = [asyncio.create_task(append(n)) for n in range(100)]
    await asyncio.sleep(0)
    for task in tasks[::3]:
        task.cancel()  # some callers give up: whatever they committed is still published
    await asyncio.gather(*tasks, return_exceptions=True)
    await store.close()  # waits for a commit still running
    await store.open()
    seqs = [e.seq for e in published]
    assert seqs == sorted(seqs)
    with sqlite3.connect(store.path) as db:
        logged = [r[0] for r in db.execute("SELECT seq FROM events ORDER BY seq")]
    assert logged == seqs  # everything committed was published, nothing else


# --- synchronous bodies (`Store.apply`): the same writer, one trip per queue -----------------
def insert(n: int, hooks: list[int] | None = None) -> Callable[[SyncTx], int]:
    def body(tx: SyncTx) -> int:
        tx.execute("INSERT INTO t (n) VALUES (?)", (n,))
        if n % 5 == 0:
            raise ValueError(n)
        if hooks is not None:
            tx.after_commit.append(lambda: hooks.append(n))
        return n * 10
    return body


async def test_applied_bodies_share_commits_and_fail_alone(store: Store) -> None:
    before = store.commits
    seen_on_return: list[bool] = []

    async def apply(n: int) -> int:
        result = await store.apply(insert(n))
        seen_on_return.append(n in committed(store.path))  # committed before we return
        return result

    outcomes = await asyncio.gather(*[apply(n) for n in range(200)], return_exceptions=True)
    failed = {n for n, o in enumerate(outcomes) if isinstance(o, ValueError)}
    assert failed == set(range(0, 200, 5))
    assert [o for o in outcomes if not isinstance(o, ValueError)] == [
        n * 10 for n in range(200) if n % 5]
    assert committed(store.path) == set(range(200)) - failed
    assert all(seen_on_return)
    assert store.commits - before < 200 / 4, store.commits - before


async def test_applied_and_awaiting_bodies_keep_one_order(store: Store) -> None:
    """Hooks of both kinds of body run in commit order, which is the order they ran in."""
    hooks: list[int] = []
    async with store.write() as tx:
        await tx.execute("CREATE TABLE o (n INTEGER)")  # rowid: the order bodies ran in

    def applied(n: int) -> Callable[[SyncTx], None]:
        def body(tx: SyncTx) -> None:
            tx.execute("INSERT INTO o (n) VALUES (?)", (n,))
            tx.after_commit.append(lambda: hooks.append(n))
        return body

    async def awaiting(n: int) -> None:
        async with store.write() as tx:
            await tx.execute("INSERT INTO o (n) VALUES (?)", (n,))
            tx.after_commit.append(lambda: hooks.append(n))

    tasks = []
    for n in range(100):
        tasks.append(asyncio.create_task(awaiting(n) if n % 2 else store.apply(applied(n))))
        if n % 7 == 0:
            await asyncio.sleep(0)  # let the writer start while others still arrive
    await asyncio.gather(*tasks)
    with sqlite3.connect(store.path) as db:
        order = [r[0] for r in db.execute("SELECT n FROM o ORDER BY rowid")]
    assert hooks == order and sorted(order) == list(range(100))


async def test_a_cancelled_apply_is_committed_whole_or_not_at_all(store: Store) -> None:
    hooks: list[int] = []
    tasks = [asyncio.create_task(store.apply(insert(n, hooks))) for n in range(1, 100) if n % 5]
    await asyncio.sleep(0)
    for task in tasks[::3]:
        task.cancel()  # some before their body ran (no trace), some after (still committed)
    await asyncio.gather(*tasks, return_exceptions=True)
    await store.close()  # waits for a commit still running
    await store.open()
    assert set(hooks) == committed(store.path)  # every committed body's hook ran, no other
    assert sum(1 for t in tasks if not t.cancelled()) <= len(hooks)
