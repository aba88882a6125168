"""What `Store.apply` runs in the writer's thread: synchronous bodies, each in its savepoint.
It owns that in-thread half only and must never commit (the store commits a whole batch, then
runs every body's after-commit hooks in order) nor touch the event loop.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class SyncTx:
    """A write transaction for a synchronous body (`Store.apply`), run in the writer's thread."""

    conn: sqlite3.Connection
    after_commit: list[Callable[[], None]] = field(default_factory=list)

    def execute(self, sql: str, params: Iterable[Any] = ()) -> sqlite3.Cursor:
        return self.conn.execute(sql, tuple(params))

    def one(self, sql: str, params: Iterable[Any] = ()) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self.conn.execute(sql, tuple(params)).fetchone()
        return row

    def all(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        return list(self.conn.execute(sql, tuple(params)).fetchall())


@dataclass
class Job:
    """A synchronous body waiting for the writer; `outcome` resolves once it is committed."""

    body: Callable[[SyncTx], Any]
    outcome: asyncio.Future[Any]
    taken: bool = False  # handed to the writer's thread: from now on it may be committed


Done = tuple[bool, Any, list[Callable[[], None]]]  # (failed, result or error, after-commit hooks)


def run_bodies(conn: sqlite3.Connection, jobs: list[Job],
                begin: bool) -> tuple[list[Done], bool]:
    """In the writer's thread: each body in its own savepoint. Stops early when SQLite dropped
    the whole transaction under a body (disk full, I/O error): the batch is lost, and the rest
    wait for a new one."""
    if begin:
        conn.execute("BEGIN IMMEDIATE")
    done: list[Done] = []
    for job in jobs:
        if not conn.in_transaction:
            return done, True
        tx = SyncTx(conn)
        try:
            conn.execute("SAVEPOINT body")
            value = job.body(tx)
            conn.execute("RELEASE body")
        except Exception as exc:
            done.append((True, exc, []))
            if conn.in_transaction:
                try:
                    conn.execute("ROLLBACK TO body")
                    conn.execute("RELEASE body")
                except sqlite3.Error:
                    return done, True
            continue
        done.append((False, value, tx.after_commit))
    return done, not conn.in_transaction
