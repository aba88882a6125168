"""How state is kept: one SQLite file (WAL), forward-only migrations, one writer path.
It must never let a write bypass `write()` nor run a hook before its commit is durable.

All writes go through `Store.write()`, which serialises them behind one asyncio lock on one
connection, so `seq` order, commit order and publish order are the same thing. Reads use a second
connection and may run beside a write (WAL readers never block the writer).
"""

from __future__ import annotations

import asyncio
import errno
import os
import sqlite3
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

# Each entry moves the schema from version i to i + 1. Never edit a shipped entry: append.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE users (
        id INTEGER PRIMARY KEY,
        username TEXT NOT NULL UNIQUE COLLATE NOCASE,
        password_hash TEXT NOT NULL,
        role TEXT NOT NULL DEFAULT 'teacher' CHECK (role IN ('teacher')),
        created_at TEXT NOT NULL
    );
    CREATE TABLE classes (
        id INTEGER PRIMARY KEY,
        teacher_id INTEGER NOT NULL REFERENCES users(id),
        name TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE TABLE sections (
        id INTEGER PRIMARY KEY,
        class_id INTEGER NOT NULL REFERENCES classes(id),
        name TEXT NOT NULL,
        join_code TEXT NOT NULL UNIQUE
    );
    CREATE TABLE students (
        id INTEGER PRIMARY KEY,
        section_id INTEGER NOT NULL REFERENCES sections(id),
        name TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE TABLE tokens (
        token_hash TEXT PRIMARY KEY,
        kind TEXT NOT NULL CHECK (kind IN ('teacher', 'student')),
        subject_id INTEGER NOT NULL,
        created_at TEXT NOT NULL,
        expires_at REAL
    );
    CREATE TABLE scheduled_lectures (
        id INTEGER PRIMARY KEY,
        class_id INTEGER NOT NULL REFERENCES classes(id),
        section_id INTEGER NOT NULL REFERENCES sections(id),
        teacher_id INTEGER NOT NULL REFERENCES users(id),
        subject TEXT NOT NULL,
        title TEXT NOT NULL,
        scheduled_time TEXT NOT NULL,
        duration_minutes INTEGER NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending'
            CHECK (status IN ('pending', 'started', 'cancelled', 'missed')),
        session_id INTEGER,
        created_at TEXT NOT NULL
    );
    CREATE TABLE lecture_sessions (
        id INTEGER PRIMARY KEY,
        class_id INTEGER NOT NULL REFERENCES classes(id),
        section_id INTEGER NOT NULL REFERENCES sections(id),
        teacher_id INTEGER NOT NULL REFERENCES users(id),
        subject TEXT NOT NULL,
        title TEXT NOT NULL,
        topic_id TEXT,
        status TEXT NOT NULL CHECK (status IN ('live', 'ended')),
        start_time TEXT NOT NULL,
        end_time TEXT,
        duration_minutes INTEGER NOT NULL,
        progress INTEGER NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 100),
        note TEXT NOT NULL DEFAULT '',
        summary TEXT,
        schedule_id INTEGER REFERENCES scheduled_lectures(id)
    );
    CREATE UNIQUE INDEX one_live_lecture_per_section
        ON lecture_sessions(section_id) WHERE status = 'live';
    CREATE INDEX scheduled_pending ON scheduled_lectures(status, scheduled_time);
    -- AUTOINCREMENT: a seq is never reused, even after every row was pruned.
    CREATE TABLE events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        room TEXT NOT NULL,
        teacher_id INTEGER NOT NULL,
        type TEXT NOT NULL,
        payload TEXT NOT NULL,
        created_at REAL NOT NULL
    );
    CREATE INDEX events_room_seq ON events(room, seq);
    CREATE INDEX events_teacher_seq ON events(teacher_id, seq);
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
    # 2: `teacher unlock`/`passwd` bump `unlocks`; the running box then forgets that account's
    # failed logins. `seen_at`: when a student first connected (never: removed after a day).
    """
    ALTER TABLE users ADD COLUMN unlocks INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE students ADD COLUMN seen_at TEXT;
    """,
    # 3, issue 14 (a teacher's whole day): who ended a lecture, archived classes, removed students,
    # and attendance as presence intervals (left_at NULL while open; last_seen is the newest
    # moment the box knew the student was there, so a restart closes the interval there).
    """
    ALTER TABLE lecture_sessions ADD COLUMN ended_by TEXT;
    ALTER TABLE classes ADD COLUMN archived_at TEXT;
    ALTER TABLE students ADD COLUMN removed_at TEXT;
    ALTER TABLE students ADD COLUMN last_seen TEXT;
    CREATE TABLE attendance (
        id INTEGER PRIMARY KEY,
        session_id INTEGER NOT NULL REFERENCES lecture_sessions(id),
        student_id INTEGER NOT NULL REFERENCES students(id),
        joined_at TEXT NOT NULL,
        left_at TEXT,
        last_seen TEXT NOT NULL
    );
    CREATE INDEX attendance_session ON attendance(session_id, student_id);
    CREATE INDEX attendance_open ON attendance(student_id) WHERE left_at IS NULL;
    CREATE INDEX lecture_sessions_ended ON lecture_sessions(section_id, end_time)
        WHERE status = 'ended';
    """,
)

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


def _no_space_left(path: Path) -> bool:
    try:
        stat = os.statvfs(path.parent)
    except OSError:
        return False
    return stat.f_bavail * stat.f_frsize < 64 * 1024


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
        self._write_lock = asyncio.Lock()
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
        for conn in (self._reader, self._writer):
            if conn is not None:
                await conn.close()
        self._reader = self._writer = None

    @asynccontextmanager
    async def write(self) -> AsyncIterator[Tx]:
        """The one writer: BEGIN IMMEDIATE ... COMMIT, then after-commit hooks under the lock.

        The commit and its hooks (event publication) are one step that the caller's cancellation
        cannot split: Quart cancels a handler whose HTTP client hung up, and on an SD card that is
        often during the commit's fsync. The caller is held until the step is over (so the lock,
        and with it seq order == commit order == publish order, is kept), then sees its cancel.
        """
        assert self._writer is not None, "store is not open"
        async with self._write_lock:
            tx = Tx(self._writer)
            try:
                await self._writer.execute("BEGIN IMMEDIATE")
                yield tx
                await run_to_completion(self._commit(tx))
            except BaseException:
                await run_to_completion(self._rollback_if_open())
                raise

    async def _commit(self, tx: Tx) -> None:
        assert self._writer is not None
        await self._writer.execute("COMMIT")
        for hook in tx.after_commit:
            hook()

    async def _rollback_if_open(self) -> None:
        """ROLLBACK only if a transaction is still open, so a failed COMMIT keeps its own error.

        A COMMIT that fails (disk full, I/O error) may or may not have rolled back already; an
        unconditional ROLLBACK would then raise "no transaction is active" and hide the cause.
        sqlite3's `rollback()` checks `in_transaction` itself, in aiosqlite's worker thread after
        every statement queued before it (one cancelled mid-flight included), so it sees the truth.
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


async def run_to_completion(step: Coroutine[Any, Any, T]) -> T:
    """Run `step` to its end even if the caller is cancelled meanwhile, then pass the cancel on."""
    task = asyncio.ensure_future(step)
    cancelled = False
    while True:
        try:
            result = await asyncio.shield(task)
            break
        except asyncio.CancelledError:
            if task.done():
                raise  # the step itself was cancelled (loop shutdown): nothing left to wait for
            cancelled = True
    if cancelled:
        raise asyncio.CancelledError
    return result


def _split_sql(script: str) -> list[str]:
    """Split a migration into statements (ours contain no semicolons inside literals)."""
    statements = []
    for chunk in script.split(";"):
        lines = [ln for ln in chunk.splitlines() if not ln.strip().startswith("--")]
        text = "\n".join(lines).strip()
        if text:
            statements.append(text)
    return statements
