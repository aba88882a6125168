"""Questions a teacher asks and the answers students give, each answer counted exactly once.

An answer is stored with its `Idempotency-Key` record in one write transaction, so a retried
answer (a double tap, an outbox resend, a box restart between commit and acknowledgement) finds
its stored result instead of counting again. One answer per student and question counts: a later
answer with a new key replaces the earlier one. HTTP and sockets both call `answer()`. It must
never count an answer twice, never accept one for a closed question, and never show `correct` to
a student before the teacher reveals it.
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from classroom_box.domain import idempotency, results
from classroom_box.domain.applied import SyncTx
from classroom_box.domain.auth import Principal
from classroom_box.domain.events import EventLog
from classroom_box.domain.store import Store, Tx
from classroom_box.domain.validation import ApiError, invalid, iso, utcnow

KINDS = ("single", "multiple", "text", "number")
OPTION_KINDS = ("single", "multiple")
MAX_TEXT = 500
MAX_NUMBER = 1e15  # beyond this a float no longer holds every integer exactly
COLUMNS = ("id, class_id, section_id, teacher_id, session_id, kind, prompt, options, correct,"
           " status, opened_at, closed_at, revealed")
Notify = Callable[[str, int], None]  # ("tally", question_id) / ("pulse", section_id)
# May this student act now? (the wiring passes a per-student token bucket: rate limits are
# policy of the box, not of the domain, so the domain only asks)
Allow = Callable[[int], bool]


def throttled() -> ApiError:
    exc = ApiError(429, "throttled", "too many answers, hands, pulses or asks; slow down")
    exc.retry_after = 1  # type: ignore[attr-defined]
    return exc


@dataclass(frozen=True)
class Outcome:
    """What an answer or ask came to: the same for the HTTP answer and the socket ack."""

    body: dict[str, Any]
    replayed: bool

    @property
    def status(self) -> int:
        return 200 if self.replayed else 201

    def ack(self) -> dict[str, Any]:
        return {"ok": True, **self.body, "replayed": self.replayed}


def from_row(row: sqlite3.Row) -> dict[str, Any]:
    """The whole question, `correct` and `teacher_id` included: trim with `shown()`."""
    q = {key: row[key] for key in row.keys()}
    q["question_id"] = q.pop("id")
    q["options"] = json.loads(q["options"])
    q["correct"] = json.loads(q["correct"]) if q["correct"] is not None else None
    q["revealed"] = bool(q["revealed"])
    return q


def shown(q: dict[str, Any], to_teacher: bool) -> dict[str, Any]:
    """A question as its reader may see it: `correct` only for the teacher or once revealed."""
    view = {k: v for k, v in q.items() if k != "teacher_id"}
    if not (to_teacher or q["revealed"]):
        view.pop("correct")
    return view


def check_question(req: dict[str, Any]) -> tuple[list[str], list[int] | None]:
    """Options and correct answer that fit the kind, or a 422 that says why."""
    kind, options, correct = req["kind"], req.get("options"), req.get("correct")
    if kind not in OPTION_KINDS:
        if options is not None or correct is not None:
            raise invalid(f"a {kind} question takes no 'options' or 'correct'")
        return [], None
    if options is None or not 2 <= len(options) <= 10:
        raise invalid("'options' must be 2 to 10 non-empty strings")
    if correct is not None:
        if any(i >= len(options) for i in correct):
            raise invalid("'correct' must list indices of 'options'")
        if kind == "single" and len(correct) != 1:
            raise invalid("a single-choice question has exactly one correct option")
        correct = sorted(correct)
    return options, correct


def check_value(q: dict[str, Any], value: object) -> Any:
    """The answer in its one stored form, or a 422: the same meaning gives the same value."""
    kind, n = q["kind"], len(q["options"])
    if kind == "single":
        if type(value) is not int or not 0 <= value < n:
            raise invalid(f"'value' must be an option index from 0 to {n - 1}")
        return value
    if kind == "multiple":
        if (not isinstance(value, list) or not value or len(value) > n
                or any(type(i) is not int or not 0 <= i < n for i in value)
                or len(set(value)) != len(value)):
            raise invalid(f"'value' must be a list of distinct option indices from 0 to {n - 1}")
        return sorted(value)
    if kind == "text":
        text = value.strip() if isinstance(value, str) else ""
        if not text or len(text) > MAX_TEXT or "\x00" in text:
            raise invalid(f"'value' must be text of 1 to {MAX_TEXT} characters")
        return text
    return _check_number(value)


def _check_number(value: object) -> int | float:
    if type(value) not in (int, float):
        raise invalid("'value' must be a number")
    assert isinstance(value, int | float)
    if isinstance(value, int) and abs(value) > MAX_NUMBER:
        raise invalid("'value' is too large")
    number = float(value)
    if not math.isfinite(number) or abs(number) > MAX_NUMBER:
        raise invalid("'value' must be a finite number")
    return int(number) if number.is_integer() else number


async def owned_section(tx: Tx, teacher_id: int, class_id: int, section_id: int) -> None:
    row = await tx.one("SELECT c.teacher_id FROM sections s JOIN classes c ON c.id = s.class_id"
                       " WHERE s.id = ? AND s.class_id = ?", (section_id, class_id))
    if row is None:
        raise ApiError(404, "not_found", "section of that class not found")
    if row["teacher_id"] != teacher_id:
        raise ApiError(403, "forbidden", "that class belongs to another teacher")


async def live_session(tx: Tx, section_id: int) -> int | None:
    row = await tx.one("SELECT id FROM lecture_sessions WHERE section_id = ? AND status = 'live'",
                       (section_id,))
    return int(row["id"]) if row else None


def start_of_today() -> str:
    return iso(datetime.now().astimezone().replace(hour=0, minute=0, second=0, microsecond=0))


class Questions:
    def __init__(self, store: Store, log: EventLog, allow: Allow | None = None,
                 notify: Notify | None = None) -> None:
        self.store, self.log = store, log
        self.allow: Allow = allow or (lambda student_id: True)
        self.notify: Notify = notify or (lambda kind, ident: None)

    # --- the teacher -----------------------------------------------------------------------
    async def create(self, teacher_id: int, req: dict[str, Any]) -> dict[str, Any]:
        options, correct = check_question(req)
        async with self.store.write() as tx:
            await owned_section(tx, teacher_id, req["class_id"], req["section_id"])
            cur = await tx.execute(
                "INSERT INTO questions (class_id, section_id, teacher_id, session_id, kind,"
                " prompt, options, correct, opened_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (req["class_id"], req["section_id"], teacher_id,
                 await live_session(tx, req["section_id"]), req["kind"], req["prompt"],
                 json.dumps(options), None if correct is None else json.dumps(correct),
                 iso(utcnow())))
            q = await self._get(tx, int(cur.lastrowid or 0))
            await self._emit(tx, q, "question_opened", {"question": shown(q, False)})
            return shown(q, True)

    async def close(self, teacher_id: int, question_id: int) -> dict[str, Any]:
        """Closing twice changes nothing the second time (and logs nothing)."""
        async with self.store.write() as tx:
            q = await self._owned(tx, teacher_id, question_id)
            if q["status"] == "open":
                await tx.execute("UPDATE questions SET status = 'closed', closed_at = ?"
                                 " WHERE id = ?", (iso(utcnow()), question_id))
                q = await self._get(tx, question_id)
                await self._emit(tx, q, "question_closed", {"question": shown(q, False)})
            return shown(q, True)

    async def reveal(self, teacher_id: int, question_id: int) -> dict[str, Any]:
        async with self.store.write() as tx:
            q = await self._owned(tx, teacher_id, question_id)
            if q["status"] != "closed":
                raise ApiError(409, "question_open", "close the question before revealing it")
            values = await self._values(tx, question_id)
            if not q["revealed"]:
                await tx.execute("UPDATE questions SET revealed = 1 WHERE id = ?",
                                 (question_id,))
                q = await self._get(tx, question_id)
                await self._emit(tx, q, "results_revealed", {
                    "question": shown(q, False), "results": results.summary(q, values),
                    "correct": q["correct"]})
            return {"question": shown(q, True), "results": results.summary(q, values)}

    async def results(self, teacher_id: int, question_id: int) -> dict[str, Any]:
        async with self.store.read() as tx:
            q = await self._owned(tx, teacher_id, question_id)
            rows = await tx.all(
                "SELECT a.student_id, s.name, a.value, a.answered_at FROM answers a"
                " JOIN students s ON s.id = a.student_id WHERE a.question_id = ?"
                " ORDER BY a.answered_at, a.student_id", (question_id,))
        answers = [{"student_id": r[0], "name": r[1], "value": json.loads(r[2]),
                    "answered_at": r[3]} for r in rows]
        found = results.summary(q, [a["value"] for a in answers])
        return {"question": shown(q, True), "results": {**found, "answers": answers}}

    async def results_csv(self, teacher_id: int, question_id: int) -> str:
        found = await self.results(teacher_id, question_id)
        return results.to_csv(found["question"], found["results"]["answers"])

    async def of_section(self, principal: Principal, section_id: int) -> list[dict[str, Any]]:
        """Newest first; a student sees `correct` only once it is revealed."""
        async with self.store.read() as tx:
            if principal.kind == "teacher":
                owner = await tx.one("SELECT c.teacher_id FROM sections s JOIN classes c"
                                     " ON c.id = s.class_id WHERE s.id = ?", (section_id,))
                allowed = owner is not None and owner[0] == principal.id
            else:
                allowed = principal.section_id == section_id
            if not allowed:
                raise ApiError(403, "forbidden", "you may not see that section")
            rows = await tx.all(f"SELECT {COLUMNS} FROM questions WHERE section_id = ?"
                                " ORDER BY id DESC LIMIT 200", (section_id,))
        return [shown(from_row(r), principal.kind == "teacher") for r in rows]

    # --- the student -----------------------------------------------------------------------
    async def answer(self, student: Principal, question_id: int, key: object,
                     value: object) -> Outcome:
        """Exactly once by key; a new key replaces the student's earlier answer."""
        key = idempotency.check_key(key)
        if not self.allow(student.id):
            raise throttled()
        return await self.store.apply(
            lambda tx: self._answer(tx, student, question_id, key, value))

    def _answer(self, tx: SyncTx, student: Principal, question_id: int, key: str,
                value: object) -> Outcome:
        """In the writer's thread (a storm of answers is one trip per batch, not per answer)."""
        row = tx.one(f"SELECT {COLUMNS} FROM questions WHERE id = ?", (question_id,))
        if row is None:
            raise ApiError(404, "not_found", "question not found")
        q = from_row(row)
        if q["section_id"] != student.section_id:
            raise ApiError(403, "forbidden", "that question belongs to another section")
        clean = check_value(q, value)
        print_ = idempotency.fingerprint("answer", question_id, clean)
        stored = idempotency.recall_now(tx, student.id, key, print_)
        if stored is not None:
            return Outcome(stored, replayed=True)
        if q["status"] != "open":
            raise ApiError(409, "question_closed", "this question is closed")
        answer = {"question_id": question_id, "value": clean, "answered_at": iso(utcnow()),
                  "key": key}
        tx.execute(
            "INSERT INTO answers (question_id, student_id, value, answered_at, key)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (question_id, student_id) DO UPDATE SET"
            " value = excluded.value, answered_at = excluded.answered_at, key = excluded.key",
            (question_id, student.id, json.dumps(clean), answer["answered_at"], key))
        idempotency.remember_now(tx, student.id, key, print_, {"answer": answer})
        tx.after_commit.append(lambda: self.notify("tally", question_id))
        return Outcome({"answer": answer}, replayed=False)

    # --- what the live layer reads -----------------------------------------------------------
    async def tally(self, question_id: int) -> dict[str, Any] | None:
        """The exact current tally (for the teacher's coalesced `answer_tally`)."""
        async with self.store.read() as tx:
            row = await tx.one(f"SELECT {COLUMNS} FROM questions WHERE id = ?", (question_id,))
            if row is None:
                return None
            q = from_row(row)
            values = await self._values(tx, question_id)
        return {"question_id": question_id, "class_id": q["class_id"],
                "section_id": q["section_id"], "teacher_id": q["teacher_id"],
                **results.summary(q, values)}

    async def for_students(self, tx: Tx, sections: list[int]) -> list[dict[str, Any]]:
        """Open questions and today's revealed ones (with their results), oldest first."""
        marks = ",".join("?" * len(sections)) or "NULL"
        rows = await tx.all(
            f"SELECT {COLUMNS} FROM questions WHERE section_id IN ({marks}) AND"
            " (status = 'open' OR (revealed = 1 AND opened_at >= ?)) ORDER BY id",
            (*sections, start_of_today()))
        found = []
        for row in rows:
            q = shown(from_row(row), False)
            if q["revealed"]:
                q["results"] = results.summary(q, await self._values(tx, q["question_id"]))
            found.append(q)
        return found

    async def for_teacher(self, tx: Tx, section_id: int) -> list[dict[str, Any]]:
        """The section's open questions, each with its exact tally."""
        rows = await tx.all(f"SELECT {COLUMNS} FROM questions WHERE section_id = ?"
                            " AND status = 'open' ORDER BY id", (section_id,))
        found = []
        for row in rows:
            q = shown(from_row(row), True)
            q["tally"] = results.summary(q, await self._values(tx, q["question_id"]))
            found.append(q)
        return found

    async def open_ids(self, sections: list[int]) -> list[int]:
        marks = ",".join("?" * len(sections)) or "NULL"
        rows = await self.store.all(f"SELECT id FROM questions WHERE status = 'open'"
                                    f" AND section_id IN ({marks})", sections)
        return [int(r[0]) for r in rows]

    @staticmethod
    async def my_answers(tx: Tx, student_id: int, question_ids: list[int]) -> dict[str, Any]:
        marks = ",".join("?" * len(question_ids)) or "NULL"
        rows = await tx.all(f"SELECT question_id, value FROM answers WHERE student_id = ?"
                            f" AND question_id IN ({marks})", (student_id, *question_ids))
        return {str(r[0]): json.loads(r[1]) for r in rows}

    # --- inside a transaction --------------------------------------------------------------
    async def _get(self, tx: Tx, question_id: int) -> dict[str, Any]:
        row = await tx.one(f"SELECT {COLUMNS} FROM questions WHERE id = ?", (question_id,))
        if row is None:
            raise ApiError(404, "not_found", "question not found")
        return from_row(row)

    async def _owned(self, tx: Tx, teacher_id: int, question_id: int) -> dict[str, Any]:
        q = await self._get(tx, question_id)
        if q["teacher_id"] != teacher_id:
            raise ApiError(403, "forbidden", "that question belongs to another teacher")
        return q

    @staticmethod
    async def _values(tx: Tx, question_id: int) -> list[Any]:
        rows = await tx.all("SELECT value FROM answers WHERE question_id = ?", (question_id,))
        return [json.loads(r[0]) for r in rows]

    async def _emit(self, tx: Tx, q: dict[str, Any], type: str, payload: dict[str, Any]) -> None:
        await self.log.append(tx, class_id=q["class_id"], section_id=q["section_id"],
                              teacher_id=q["teacher_id"], type=type,
                              payload={"question_id": q["question_id"], **payload})
