"""Group commit in the one writer: concurrent writes share transactions, each caller is answered
only after its own commit, a failing write rolls back only itself, and publication stays in seq
order. Real Store on a real SQLite file."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

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
