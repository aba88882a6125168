"""The live side of students answering back: socket events, the teacher's coalesced signals and
what `state_sync` adds.

Each socket handler validates, then calls the same domain method as the HTTP route, and acks
with what the HTTP body would say; it never decides anything the domain decides. The teacher's
`answer_tally` and `pulse_update` carry no seq: they are derived from stored rows, sent at most
four times a second per question (or section), and the last one is read after the last change,
so it is exact; after a reconnect `state_sync` carries the exact figures, followed by a fresh
tally.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from classroom_box.domain.auth import Principal
from classroom_box.domain.classes import Classes
from classroom_box.domain.events import teacher_room
from classroom_box.domain.participation import PULSES, Participation, pulse_counts
from classroom_box.domain.questions import Questions
from classroom_box.domain.store import Store, Tx
from classroom_box.domain.validation import ApiError, Field, validate
from classroom_box.live.coalesce import Coalescer
from classroom_box.live.conn import Conn
from classroom_box.live.realtime import Realtime

UPDATE_INTERVAL = 0.25  # seconds: at most 4 tallies (or pulse updates) a second per subject
ANSWER = {"question_id": Field("id"), "key": Field("any", required=False), "value": Field("any")}
PULSE = {"value": Field("choice", required=False, choices=PULSES)}
ASK = {"key": Field("any", required=False), "text": Field("str", max_len=500)}
EVENTS = ("answer", "raise_hand", "lower_hand", "pulse", "ask")


def as_student(conn: Conn) -> Principal:
    if conn.principal.kind != "student":
        raise ApiError(403, "forbidden", "only a student may do this")
    return conn.principal


class AnswerBack:
    def __init__(self, realtime: Realtime, store: Store, classes: Classes,
                 questions: Questions, participation: Participation) -> None:
        self.sio, self.presence = realtime.sio, realtime.presence
        self.background = realtime.background
        self.store, self.classes = store, classes
        self.questions, self.participation = questions, participation
        self.tallies = Coalescer(UPDATE_INTERVAL, self._send_tally)
        self.pulses = Coalescer(UPDATE_INTERVAL, self._send_pulse)
        for name in EVENTS:
            self.sio.on(name, realtime.flood.guarded(name, getattr(self, "on_" + name),
                                                     structured=True))
        realtime.catchup.shared_parts.append(self.shared_state)
        realtime.catchup.personal_parts.append(self.personal_state)
        realtime.catchup.on_live.append(self.went_live)

    def notify(self, kind: str, ident: int) -> None:
        """The domain's after-commit signal: an answer or a pulse changed."""
        (self.tallies if kind == "tally" else self.pulses).poke(ident)

    async def stop(self) -> None:
        await self.tallies.stop()
        await self.pulses.stop()

    # --- client -> server -------------------------------------------------------------------
    async def on_answer(self, conn: Conn, sid: str, data: Any) -> dict[str, Any]:
        req = validate(data, ANSWER)
        outcome = await self.questions.answer(as_student(conn), req["question_id"],
                                              req.get("key"), req["value"])
        return outcome.ack()

    async def on_raise_hand(self, conn: Conn, sid: str, data: Any) -> dict[str, Any]:
        return {"ok": True, **await self.participation.set_hand(as_student(conn), True)}

    async def on_lower_hand(self, conn: Conn, sid: str, data: Any) -> dict[str, Any]:
        return {"ok": True, **await self.participation.set_hand(as_student(conn), False)}

    async def on_pulse(self, conn: Conn, sid: str, data: Any) -> dict[str, Any]:
        req = validate(data, PULSE)
        return {"ok": True, **await self.participation.set_pulse(as_student(conn),
                                                                 req.get("value"))}

    async def on_ask(self, conn: Conn, sid: str, data: Any) -> dict[str, Any]:
        req = validate(data, ASK)
        outcome = await self.participation.ask(as_student(conn), req.get("key"), req["text"])
        return outcome.ack()

    # --- server -> teacher --------------------------------------------------------------------
    def _online(self, section_id: int) -> int:
        return len(self.presence.sockets.get(section_id, {}))

    async def _send_tally(self, question_id: Hashable) -> None:
        assert isinstance(question_id, int)
        tally = await self.questions.tally(question_id)
        if tally is not None:
            teacher_id = tally.pop("teacher_id")
            tally["online"] = self._online(tally["section_id"])
            await self.sio.emit("answer_tally", tally, room=teacher_room(teacher_id))

    async def _send_pulse(self, section_id: Hashable) -> None:
        assert isinstance(section_id, int)
        section = await self.classes.section(section_id)
        if section is None:
            return
        async with self.store.read() as tx:
            counts = await pulse_counts(tx, section_id)
        await self.sio.emit(
            "pulse_update", {"class_id": section["class_id"], "section_id": section_id,
                             **counts, "online": self._online(section_id)},
            room=teacher_room(section["teacher_id"]))

    def went_live(self, conn: Conn) -> None:
        """A teacher back from a reconnect gets fresh tallies after its state_sync."""
        if conn.principal.kind == "teacher":
            self.background.spawn(self._refresh(conn.principal.id))

    async def _refresh(self, teacher_id: int) -> None:
        sections = [s for _, s in await self.classes.teacher_sections(teacher_id)]
        for question_id in await self.questions.open_ids(sections):
            self.tallies.poke(question_id)
        for section_id in sections:
            self.pulses.poke(section_id)

    # --- state_sync ----------------------------------------------------------------------------
    async def shared_state(self, tx: Tx, sections: list[int]) -> dict[str, Any]:
        return {"questions": await self.questions.for_students(tx, sections)}

    async def personal_state(self, tx: Tx, conn: Conn, shared: dict[str, Any]) -> dict[str, Any]:
        p = conn.principal
        if p.kind == "student":
            ids = [q["question_id"] for q in shared["questions"]]
            return {"my_answers": await self.questions.my_answers(tx, p.id, ids),
                    **await self.participation.for_student(tx, p)}
        rows = await tx.all("SELECT s.id FROM sections s JOIN classes c ON c.id = s.class_id"
                            " WHERE c.teacher_id = ? ORDER BY s.id", (p.id,))
        sections = [int(r[0]) for r in rows]  # in this snapshot (the read lock is held)
        return {"participation": [
            {"section_id": section_id, "online": self._online(section_id),
             "questions": await self.questions.for_teacher(tx, section_id),
             **await self.participation.for_teacher(tx, section_id)}
            for section_id in sections]}
