"""What happened, in what order: the durable event log behind every broadcast.
It must never import the live layer: publication is the publisher it is given.

`append()` runs inside the caller's write transaction, so the state change and its event commit
together; publication is an after-commit hook, so nothing is emitted that is not on disk and
events are published in `seq` order. Each event also names its room and that room's previous
`seq` (`prev_seq`), stored in the payload so a replay carries it too. The publisher is injected:
this module never imports sockets.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from classroom_box.domain.applied import SyncTx
from classroom_box.domain.clock import Clock
from classroom_box.domain.event_types import EVENT_TYPES
from classroom_box.domain.store import Store, Tx


def classroom_room(class_id: int, section_id: int) -> str:
    return f"classroom:{class_id}:{section_id}"


def teacher_room(user_id: int) -> str:
    return f"teacher:{user_id}"


def student_room(student_id: int) -> str:
    """One student's own room: events about them (hand, asks) reach them and their teacher."""
    return f"student:{student_id}"


@dataclass(frozen=True)
class Event:
    seq: int
    room: str
    teacher_id: int
    type: str
    payload: dict[str, Any]  # includes "seq", "room" and "prev_seq"

    @property
    def rooms(self) -> tuple[str, str]:
        """Who hears it: the section's room and the owning teacher's room."""
        return (self.room, teacher_room(self.teacher_id))


Publisher = Callable[[Event], None]
PREV_SEQ = "SELECT MAX(seq) FROM events WHERE room = ?"
INSERT = ("INSERT INTO events (room, teacher_id, type, payload, created_at)"
          " VALUES (?, ?, ?, ?, ?)")


@dataclass(frozen=True)
class Replay:
    """What a reconnecting client needs: the missed events, or why it cannot have them."""

    recovered: bool
    events: list[Event]
    high_seq: int


class EventLog:
    """Appends in the caller's transaction; `publish` (given once, here) hears each commit."""

    def __init__(self, store: Store, clock: Clock, publish: Publisher) -> None:
        self.store = store
        self.clock = clock
        self._publish = publish
        # (monotonic time, high seq) at each prune: events up to that seq are at least that old,
        # whatever the wall clock says. The first mark splits "before this process" from after.
        self._marks: list[tuple[float, int]] = []

    async def append(
        self, tx: Tx, *, class_id: int, section_id: int, teacher_id: int, type: str,
        payload: dict[str, Any], room: str | None = None,
    ) -> Event:
        """`room` defaults to the section's; a student's own room keeps an event private."""
        room = room or classroom_room(class_id, section_id)
        # The room's previous seq, read under the write lock: a client that holds less for this
        # room knows it missed an event (seq is box-wide, so its own gaps say nothing).
        prev = await tx.one(PREV_SEQ, (room,))
        body = self._body(class_id, section_id, type, payload, room, prev)
        cursor = await tx.execute(INSERT, self._row(room, teacher_id, type, body))
        return self._logged(tx.after_commit, int(cursor.lastrowid or 0), room, teacher_id,
                            type, body)

    def append_now(
        self, tx: SyncTx, *, class_id: int, section_id: int, teacher_id: int, type: str,
        payload: dict[str, Any],
    ) -> Event:
        """`append` for a synchronous body (`Store.apply`), to the section's room."""
        room = classroom_room(class_id, section_id)
        body = self._body(class_id, section_id, type, payload, room, tx.one(PREV_SEQ, (room,)))
        cursor = tx.execute(INSERT, self._row(room, teacher_id, type, body))
        return self._logged(tx.after_commit, int(cursor.lastrowid or 0), room, teacher_id,
                            type, body)

    @staticmethod
    def _body(class_id: int, section_id: int, type: str, payload: dict[str, Any], room: str,
              prev: Any) -> dict[str, Any]:
        assert type in EVENT_TYPES, type
        return {**payload, "class_id": class_id, "section_id": section_id, "room": room,
                "prev_seq": int(prev[0]) if prev and prev[0] is not None else 0}

    def _row(self, room: str, teacher_id: int, type: str,
             body: dict[str, Any]) -> tuple[Any, ...]:
        return (room, teacher_id, type, json.dumps(body, separators=(",", ":")),
                self.clock.wall())

    def _logged(self, after_commit: list[Callable[[], None]], seq: int, room: str,
                teacher_id: int, type: str, body: dict[str, Any]) -> Event:
        """The event, published once its transaction is committed."""
        event = Event(seq, room, teacher_id, type, {**body, "seq": seq})
        after_commit.append(lambda: self._publish(event))
        return event

    @staticmethod
    async def high_seq(tx: Tx) -> int:
        """The newest seq ever assigned (sqlite_sequence survives pruning)."""
        row = await tx.one("SELECT seq FROM sqlite_sequence WHERE name = 'events'")
        return int(row[0]) if row else 0

    @staticmethod
    async def room_highs(tx: Tx, rooms: list[str], teacher_id: int | None) -> dict[str, int]:
        """Each classroom room's newest seq (rooms without events since retention are absent).

        Sent in `state_sync`, so a client knows where every room it hears stands and can check
        the next event's `prev_seq` against it.
        """
        marks = ",".join("?" * len(rooms)) or "NULL"
        rows = await tx.all(
            f"SELECT room, MAX(seq) FROM events WHERE room IN ({marks}) OR teacher_id = ?"
            " GROUP BY room",
            (*rooms, teacher_id if teacher_id is not None else -1),
        )
        return {r[0]: int(r[1]) for r in rows}

    @staticmethod
    async def pruned_through(tx: Tx) -> int:
        row = await tx.one("SELECT value FROM meta WHERE key = 'pruned_through'")
        return int(row[0]) if row else 0

    async def since(
        self, tx: Tx, last_seq: object, rooms: list[str], teacher_id: int | None
    ) -> Replay:
        """Events after `last_seq` for these rooms, read in the caller's snapshot.

        Anything that is not a usable position (not an int, negative, newer than this box, or
        older than what was pruned) means "no recovery": the caller sends the full state.
        """
        high = await self.high_seq(tx)
        usable = (
            type(last_seq) is int
            and 0 <= last_seq <= high
            and last_seq >= await self.pruned_through(tx)
        )
        if not usable:
            return Replay(False, [], high)
        marks = ",".join("?" * len(rooms)) or "NULL"
        rows = await tx.all(
            f"SELECT seq, room, teacher_id, type, payload FROM events WHERE seq > ? AND seq <= ?"
            f" AND (room IN ({marks}) OR teacher_id = ?) ORDER BY seq",
            (last_seq, high, *rooms, teacher_id if teacher_id is not None else -1),
        )
        events = [
            Event(r[0], r[1], r[2], r[3], {**json.loads(r[4]), "seq": r[0]}) for r in rows
        ]
        return Replay(True, events, high)

    async def prune(self, older_than_seconds: float) -> int:
        """Drop events past the replay window and remember how far, so stale clients redraw.

        Age is measured with the monotonic clock for everything this process logged. Events
        from before it started only have their wall `created_at`, which is trusted only on a
        settled clock that has not jumped since start; otherwise they wait until this process
        has itself run for the window. A jump can so delay pruning, never make it early.
        """
        async with self.store.write() as tx:
            through = await self._prunable(tx, older_than_seconds)
            if through <= await self.pruned_through(tx):
                return 0
            cur = await tx.execute("DELETE FROM events WHERE seq <= ?", (through,))
            await tx.execute(
                "INSERT INTO meta (key, value) VALUES ('pruned_through', ?)"
                " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (str(through),),
            )
            return cur.rowcount

    async def _prunable(self, tx: Tx, window: float) -> int:
        """The newest seq that is surely older than `window` seconds."""
        now = self.clock.mono()
        self._marks.append((now, await self.high_seq(tx)))
        through = max((seq for at, seq in self._marks if now - at >= window), default=0)
        # The start mark bounds the wall-clock rule; marks past the window are covered now.
        self._marks = self._marks[:1] + [m for m in self._marks[1:] if now - m[0] < window]
        if self.clock.settled() and not self.clock.jumps:
            row = await tx.one("SELECT MAX(seq) FROM events WHERE created_at < ? AND seq <= ?",
                               (self.clock.wall() - window, self._marks[0][1]))
            through = max(through, int(row[0]) if row and row[0] is not None else 0)
        return through
