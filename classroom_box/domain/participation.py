"""Hands, the pulse and asks: what a student signals to the teacher besides answers.

A hand is a state (raising a raised hand changes nothing), the pulse is the student's last word
on the live lecture ("got it" / "lost", reset by a new lecture since it is kept per lecture), and
an ask is a message to the teacher only, stored exactly once by its `Idempotency-Key` and capped
per student and lecture. Hand and ask events go to the student's own room, so they reach that
student and the teacher, never the classmates.
"""

from __future__ import annotations

from typing import Any

from classroom_box.domain import idempotency
from classroom_box.domain.auth import Principal
from classroom_box.domain.events import EventLog, student_room
from classroom_box.domain.questions import Allow, Notify, Outcome, live_session, throttled
from classroom_box.domain.store import Store, Tx
from classroom_box.domain.validation import ApiError, iso, utcnow

ASKS_PER_LECTURE = 20
PULSES = ("got_it", "lost")


class Participation:
    def __init__(self, store: Store, log: EventLog, allow: Allow | None = None,
                 notify: Notify | None = None) -> None:
        self.store, self.log = store, log
        self.allow: Allow = allow or (lambda student_id: True)
        self.notify: Notify = notify or (lambda kind, ident: None)

    def _take(self, student: Principal) -> None:
        if not self.allow(student.id):
            raise throttled()

    # --- hands -----------------------------------------------------------------------------
    async def set_hand(self, student: Principal, raised: bool) -> dict[str, Any]:
        self._take(student)
        async with self.store.write() as tx:
            return {"hand": await self._set_hand(tx, student.id, raised)}

    async def lower_hand(self, teacher_id: int, student_id: int,
                         section_id: int) -> dict[str, Any]:
        """The teacher lowers a student's hand (a no-op if it is not raised)."""
        async with self.store.write() as tx:
            row = await tx.one(
                "SELECT c.teacher_id, st.section_id FROM sections s"
                " JOIN classes c ON c.id = s.class_id"
                " LEFT JOIN students st ON st.section_id = s.id AND st.id = ? WHERE s.id = ?",
                (student_id, section_id))
            if row is None or row["section_id"] is None:
                raise ApiError(404, "not_found", "no such student in that section")
            if row["teacher_id"] != teacher_id:
                raise ApiError(403, "forbidden", "that class belongs to another teacher")
            return {"hand": await self._set_hand(tx, student_id, False)}

    async def _set_hand(self, tx: Tx, student_id: int, raised: bool) -> dict[str, Any]:
        row = await tx.one("SELECT raised_at FROM hands WHERE student_id = ?", (student_id,))
        if (row is not None) == raised:
            return {"student_id": student_id, "raised": raised,
                    "raised_at": row["raised_at"] if row else None}
        student = await _student(tx, student_id)
        raised_at = iso(utcnow()) if raised else None
        if raised:
            await tx.execute("INSERT INTO hands (student_id, section_id, raised_at)"
                             " VALUES (?, ?, ?)", (student_id, student["section_id"], raised_at))
        else:
            await tx.execute("DELETE FROM hands WHERE student_id = ?", (student_id,))
        hand = {"student_id": student_id, "raised": raised, "raised_at": raised_at}
        await self._emit(tx, student, "hand_update", {**hand, "name": student["name"]})
        return hand

    # --- pulse -----------------------------------------------------------------------------
    async def set_pulse(self, student: Principal, value: str | None) -> dict[str, Any]:
        """Last value wins; None withdraws it. Only during a live lecture."""
        self._take(student)
        assert student.section_id is not None
        async with self.store.write() as tx:
            session = await live_session(tx, student.section_id)
            if session is None:
                raise ApiError(409, "no_live_lecture", "the pulse is for a live lecture")
            if value is None:
                await tx.execute("DELETE FROM pulses WHERE student_id = ?", (student.id,))
            else:
                await tx.execute(
                    "INSERT INTO pulses (student_id, section_id, session_id, value, updated_at)"
                    " VALUES (?, ?, ?, ?, ?) ON CONFLICT (student_id) DO UPDATE SET"
                    " section_id = excluded.section_id, session_id = excluded.session_id,"
                    " value = excluded.value, updated_at = excluded.updated_at",
                    (student.id, student.section_id, session, value, iso(utcnow())))
            section_id = student.section_id
            tx.after_commit.append(lambda: self.notify("pulse", section_id))
        return {"pulse": {"value": value, "session_id": session}}

    # --- asks ------------------------------------------------------------------------------
    async def ask(self, student: Principal, key: object, text: str) -> Outcome:
        """A question for the teacher only, stored exactly once by key."""
        key = idempotency.check_key(key)
        self._take(student)
        assert student.section_id is not None
        async with self.store.write() as tx:
            print_ = idempotency.fingerprint("ask", None, text)
            stored = await idempotency.recall(tx, student.id, key, print_)
            if stored is not None:
                return Outcome(stored, replayed=True)
            session = await live_session(tx, student.section_id)
            row = await tx.one("SELECT COUNT(*) FROM asks WHERE student_id = ?"
                               " AND session_id IS ?", (student.id, session))
            if row is not None and row[0] >= ASKS_PER_LECTURE:
                raise ApiError(409, "ask_limit",
                               f"at most {ASKS_PER_LECTURE} questions per lecture")
            who = await _student(tx, student.id)
            asked_at = iso(utcnow())
            cur = await tx.execute(
                "INSERT INTO asks (class_id, section_id, session_id, student_id, text, asked_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (who["class_id"], who["section_id"], session, student.id, text, asked_at))
            ask = {"ask_id": int(cur.lastrowid or 0), "student_id": student.id,
                   "name": who["name"], "text": text, "asked_at": asked_at}
            await self._emit(tx, who, "ask_received", ask)
            await idempotency.remember(tx, student.id, key, print_, {"ask": ask})
            return Outcome({"ask": ask}, replayed=False)

    async def ask_done(self, teacher_id: int, ask_id: int) -> dict[str, Any]:
        async with self.store.write() as tx:
            row = await tx.one(
                "SELECT a.id, a.student_id, a.text, a.asked_at, a.done_at, c.teacher_id"
                " FROM asks a JOIN classes c ON c.id = a.class_id WHERE a.id = ?", (ask_id,))
            if row is None:
                raise ApiError(404, "not_found", "no such ask")
            if row["teacher_id"] != teacher_id:
                raise ApiError(403, "forbidden", "that ask belongs to another teacher's class")
            done_at = row["done_at"]
            if done_at is None:
                done_at = iso(utcnow())
                await tx.execute("UPDATE asks SET done_at = ? WHERE id = ?", (done_at, ask_id))
                who = await _student(tx, row["student_id"])
                await self._emit(tx, who, "ask_done", {"ask_id": ask_id, "done_at": done_at})
            return {"ask": {"ask_id": ask_id, "student_id": row["student_id"],
                            "text": row["text"], "asked_at": row["asked_at"],
                            "done_at": done_at}}

    # --- what state_sync reads ---------------------------------------------------------------
    @staticmethod
    async def for_student(tx: Tx, student: Principal) -> dict[str, Any]:
        hand = await tx.one("SELECT raised_at FROM hands WHERE student_id = ?", (student.id,))
        pulse = await tx.one(
            "SELECT p.value FROM pulses p JOIN lecture_sessions l ON l.id = p.session_id"
            " WHERE p.student_id = ? AND l.status = 'live'", (student.id,))
        return {"hand": {"raised": hand is not None,
                         "raised_at": hand["raised_at"] if hand else None},
                "pulse": pulse["value"] if pulse else None}

    @staticmethod
    async def for_teacher(tx: Tx, section_id: int) -> dict[str, Any]:
        """Raised hands in the order they went up, pulse counts, asks not yet handled."""
        hands = await tx.all(
            "SELECT h.student_id, s.name, h.raised_at FROM hands h"
            " JOIN students s ON s.id = h.student_id WHERE h.section_id = ?"
            " ORDER BY h.raised_at, h.rowid", (section_id,))
        asks = await tx.all(
            "SELECT a.id AS ask_id, a.student_id, s.name, a.text, a.asked_at FROM asks a"
            " JOIN students s ON s.id = a.student_id WHERE a.section_id = ?"
            " AND a.done_at IS NULL ORDER BY a.id LIMIT 500", (section_id,))
        return {"hands": [dict(h) for h in hands], "pulse": await pulse_counts(tx, section_id),
                "asks": [dict(a) for a in asks]}

    async def _emit(self, tx: Tx, student: Any, type: str, payload: dict[str, Any]) -> None:
        await self.log.append(tx, class_id=student["class_id"], section_id=student["section_id"],
                              teacher_id=student["teacher_id"], type=type, payload=payload,
                              room=student_room(student["id"]))


async def pulse_counts(tx: Tx, section_id: int) -> dict[str, int]:
    """How many said "got it" and "lost" in the section's live lecture (zeros without one)."""
    rows = await tx.all(
        "SELECT p.value, COUNT(*) FROM pulses p JOIN lecture_sessions l ON l.id = p.session_id"
        " WHERE l.section_id = ? AND l.status = 'live' GROUP BY p.value", (section_id,))
    found = {value: 0 for value in PULSES}
    found.update({r[0]: r[1] for r in rows})
    return found


async def _student(tx: Tx, student_id: int) -> Any:
    row = await tx.one(
        "SELECT st.id, st.name, st.section_id, se.class_id, c.teacher_id FROM students st"
        " JOIN sections se ON se.id = st.section_id JOIN classes c ON c.id = se.class_id"
        " WHERE st.id = ?", (student_id,))
    if row is None:
        raise ApiError(404, "not_found", "no such student")
    return row

