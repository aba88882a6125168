"""Students answer back, end to end: a real box, real HTTP, real Socket.IO clients.

One implementation behind HTTP and the socket (the same key replays across both), exactly once
under duplicates, the last answer counts, closed -> 409, the teacher's coalesced tally ends
exact, state_sync carries everything after a reconnect, and private events stay private.
"""

from __future__ import annotations

import asyncio
import csv
import io
from dataclasses import dataclass
from typing import Any

import httpx

from classroom_box.client import StreamClient
from tests.helpers import RunningBox, Student, Teacher, wait_for


@dataclass
class Lesson:
    teacher: Teacher
    cls: dict[str, Any]
    students: list[Student]

    @property
    def section(self) -> dict[str, int]:
        return {"class_id": self.cls["class_id"],
                "section_id": self.cls["sections"][0]["section_id"]}

    async def question(self, kind: str = "single", **extra: Any) -> dict[str, Any]:
        body = {**self.section, "kind": kind, "prompt": "Which is prime?", **extra}
        if kind in ("single", "multiple"):
            body.setdefault("options", ["4", "7", "9"])
        return (await self.teacher.ok("/api/questions", body, 201))["question"]


async def lesson(box: RunningBox, students: int = 2) -> Lesson:
    teacher = await box.teacher()
    cls = await teacher.make_class(sections=("A", "B"))
    code = cls["sections"][0]["join_code"]
    return Lesson(teacher, cls, [await box.student(code, f"S{i}") for i in range(students)])


async def answer(student: Student, question_id: int, value: Any, key: str | None
                 ) -> httpx.Response:
    headers = {**student.headers, **({"Idempotency-Key": key} if key else {})}
    return await student.box.http.post(f"/api/questions/{question_id}/answers",
                                       json={"value": value}, headers=headers)


async def test_answer_over_http_exactly_once(box: RunningBox) -> None:
    ls = await lesson(box)
    q = await ls.question(correct=[1])
    assert q["status"] == "open" and q["correct"] == [1] and q["session_id"] is None
    sam = ls.students[0]
    first = await answer(sam, q["question_id"], 1, "key-aaaa-0001")
    assert first.status_code == 201 and "Idempotent-Replayed" not in first.headers
    again = await answer(sam, q["question_id"], 1, "key-aaaa-0001")
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    reused = await answer(sam, q["question_id"], 2, "key-aaaa-0001")
    assert reused.status_code == 422
    assert reused.json()["error"]["code"] == "idempotency_key_reused"
    missing = await answer(sam, q["question_id"], 1, None)
    assert missing.status_code == 400
    changed = await answer(sam, q["question_id"], 2, "key-aaaa-0002")
    assert changed.status_code == 201
    results = await ls.teacher.get(f"/api/questions/{q['question_id']}/results")
    assert results.json()["results"]["counts"] == [0, 0, 1]
    assert results.json()["results"]["answered"] == 1


async def test_closed_question_is_409_and_reveal_reaches_students(box: RunningBox) -> None:
    ls = await lesson(box)
    sam, kim = ls.students
    stream = await box.stream(kim.token)
    q = await ls.question(correct=[1])
    assert (await answer(sam, q["question_id"], 1, "key-sam-00001")).status_code == 201
    path = f"/api/questions/{q['question_id']}"
    early = await ls.teacher.post(path + "/reveal", {})
    assert early.status_code == 409
    await ls.teacher.ok(path + "/close", {})
    assert (await ls.teacher.ok(path + "/close", {}))["question"]["status"] == "closed"
    late = await answer(kim, q["question_id"], 1, "key-kim-00001")
    assert late.status_code == 409 and late.json()["error"]["code"] == "question_closed"
    shown = await ls.teacher.ok(path + "/reveal", {})
    assert shown["results"] == {"answered": 1, "counts": [0, 1, 0]}
    await wait_for(lambda: len(stream.events) == 3)
    opened, closed, revealed = stream.events
    assert [e["type"] for e in stream.events] == ["question_opened", "question_closed",
                                                  "results_revealed"]
    assert "correct" not in opened["question"] and "correct" not in closed["question"]
    assert revealed["correct"] == [1] and revealed["results"]["counts"] == [0, 1, 0]


async def test_socket_and_http_are_one_implementation(box: RunningBox) -> None:
    ls = await lesson(box)
    q = await ls.question("multiple")
    sam = ls.students[0]
    stream = await box.stream(sam.token)
    ack = await stream.sio.call("answer", {"question_id": q["question_id"],
                                           "key": "key-sock-0001", "value": [2, 0]})
    assert ack["ok"] is True and ack["replayed"] is False
    assert ack["answer"]["value"] == [0, 2] and ack["answer"]["key"] == "key-sock-0001"
    http = await answer(sam, q["question_id"], [0, 2], "key-sock-0001")  # same key over HTTP
    assert http.status_code == 200 and http.json()["answer"] == ack["answer"]
    again = await stream.sio.call("answer", {"question_id": q["question_id"],
                                             "key": "key-sock-0001", "value": [0, 2]})
    assert again == {**ack, "replayed": True}
    bad = await stream.sio.call("answer", {"question_id": q["question_id"],
                                           "key": "key-sock-0001", "value": [1]})
    assert bad == {"ok": False, "error": {
        "code": "idempotency_key_reused",
        "message": "this Idempotency-Key was already used for a different request"}}
    nokey = await stream.sio.call("answer", {"question_id": q["question_id"], "value": [1]})
    assert nokey["ok"] is False and nokey["error"]["code"] == "idempotency_key_missing"
    teacher = await box.stream(ls.teacher.token)
    refused = await teacher.sio.call("answer", {"question_id": q["question_id"],
                                                "key": "key-teach-001", "value": [1]})
    assert refused["ok"] is False and refused["error"]["code"] == "forbidden"


async def test_teacher_tally_is_coalesced_and_ends_exact(box: RunningBox) -> None:
    ls = await lesson(box, students=40)
    q = await ls.question()
    teacher = await box.stream(ls.teacher.token)
    tallies: list[tuple[float, dict[str, Any]]] = []
    loop = asyncio.get_running_loop()
    teacher.sio.on("answer_tally", lambda data: tallies.append((loop.time(), data)))
    started = loop.time()

    async def one(i: int, s: Student) -> None:
        await asyncio.sleep(i * 0.02)  # 40 answers over 0.8 s
        for _ in range(2):  # and each sent twice
            r = await answer(s, q["question_id"], i % 3, f"key-tally-{i:04d}")
            assert r.status_code in (200, 201), r.text

    await asyncio.gather(*[one(i, s) for i, s in enumerate(ls.students)])
    await wait_for(lambda: tallies and tallies[-1][1]["answered"] == 40)
    await asyncio.sleep(0.6)  # nothing more should come
    last = tallies[-1][1]
    assert last["counts"] == [14, 13, 13] and last["question_id"] == q["question_id"]
    assert last["section_id"] == ls.section["section_id"] and last["online"] == 0
    span = tallies[-1][0] - started  # delays only make the bound looser: not a flaky timing
    assert len(tallies) <= span / 0.25 + 2, (len(tallies), span)  # <= 4 a second (+ the first)


async def test_state_sync_after_reconnect(box: RunningBox) -> None:
    ls = await lesson(box)
    sam, kim = ls.students
    await ls.teacher.ok("/api/lecture/start", {**ls.section, "subject": "M", "title": "T"}, 201)
    q = await ls.question()
    revealed = await ls.question("number")
    assert (await answer(sam, q["question_id"], 2, "key-sam-00001")).status_code == 201
    assert (await answer(kim, revealed["question_id"], 7, "key-kim-00007")).status_code == 201
    await ls.teacher.ok(f"/api/questions/{revealed['question_id']}/close", {})
    await ls.teacher.ok(f"/api/questions/{revealed['question_id']}/reveal", {})
    await sam.post("/api/hand", {"raised": True})
    await sam.post("/api/pulse", {"value": "lost"})
    asked = await sam.box.http.post("/api/asks", json={"text": "Why 7?"}, headers={
        **sam.headers, "Idempotency-Key": "ask-sam-0001"})
    assert asked.status_code == 201

    mine = (await box.stream(sam.token)).state
    assert mine is not None
    assert [x["question_id"] for x in mine["questions"]] == [q["question_id"],
                                                             revealed["question_id"]]
    assert mine["questions"][1]["results"] == {"answered": 1}
    assert "correct" not in mine["questions"][0]
    assert mine["my_answers"] == {str(q["question_id"]): 2}
    assert mine["hand"]["raised"] is True and mine["pulse"] == "lost"

    # Listening before the connect: the fresh tally may come right behind the state_sync.
    teacher = StreamClient(box.url, ls.teacher.token)
    tallies: list[dict[str, Any]] = []
    teacher.sio.on("answer_tally", tallies.append)
    await teacher.connect()
    box.clients.append(teacher)
    await wait_for(lambda: teacher.state is not None)
    assert teacher.state is not None
    section = next(p for p in teacher.state["participation"]
                   if p["section_id"] == ls.section["section_id"])
    assert [x["question_id"] for x in section["questions"]] == [q["question_id"]]
    assert section["questions"][0]["tally"] == {"answered": 1, "counts": [0, 0, 1]}
    assert [h["name"] for h in section["hands"]] == ["S0"]
    assert section["pulse"] == {"got_it": 0, "lost": 1}
    assert [a["text"] for a in section["asks"]] == ["Why 7?"]
    assert section["online"] == 1
    await wait_for(lambda: bool(tallies))  # a fresh tally follows the state_sync
    assert tallies[-1]["answered"] == 1


async def test_offline_teacher_misses_no_ask(box: RunningBox) -> None:
    ls = await lesson(box)
    teacher = await box.stream(ls.teacher.token)
    seen = teacher.last_seq
    await teacher.disconnect()
    sam = ls.students[0]
    for i in range(3):
        for _ in range(2):  # each sent twice: stored once
            r = await sam.box.http.post("/api/asks", json={"text": f"q{i}"}, headers={
                **sam.headers, "Idempotency-Key": f"ask-key-{i:04d}"})
            assert r.status_code in (200, 201)
    back = await box.stream(ls.teacher.token, last_seq=seen)
    asks = [e for e in back.events if e["type"] == "ask_received"]
    assert [a["text"] for a in asks] == ["q0", "q1", "q2"]
    assert asks[0]["name"] == "S0" and asks[0]["student_id"] == sam.id


async def test_hands_and_asks_stay_private(box: RunningBox) -> None:
    ls = await lesson(box)
    sam, kim = ls.students
    sam_stream, kim_stream = await box.stream(sam.token), await box.stream(kim.token)
    teacher = await box.stream(ls.teacher.token)
    ack = await sam_stream.sio.call("raise_hand", {})
    assert ack["ok"] is True and ack["hand"]["raised"] is True
    ask = await sam_stream.sio.call("ask", {"key": "ask-sock-0001", "text": "Psst"})
    assert ask["ok"] is True and ask["ask"]["text"] == "Psst"
    await ls.teacher.ok(f"/api/hands/{sam.id}/lower", {"section_id": ls.section["section_id"]})
    await wait_for(lambda: len(teacher.events) == 3 and len(sam_stream.events) == 3)
    assert [e["type"] for e in sam_stream.events] == ["hand_update", "ask_received",
                                                      "hand_update"]
    assert sam_stream.events[-1]["raised"] is False
    await asyncio.sleep(0.3)
    assert kim_stream.events == []
    pulse = await sam_stream.sio.call("pulse", {"value": "lost"})
    assert pulse["ok"] is False and pulse["error"]["code"] == "no_live_lecture"


async def test_csv_export(box: RunningBox) -> None:
    ls = await lesson(box)
    q = await ls.question("text")
    await answer(ls.students[0], q["question_id"], 'seven, "7"', "key-csv-00001")
    r = await ls.teacher.get(f"/api/questions/{q['question_id']}/results.csv")
    assert r.status_code == 200 and r.headers["content-type"] == "text/csv; charset=utf-8"
    rows = list(csv.reader(io.StringIO(r.text, newline="")))
    assert rows[0] == ["student_id", "name", "value", "answered_at", "correct"]
    assert rows[1][:3] == [str(ls.students[0].id), "S0", 'seven, "7"'] and rows[1][4] == ""
    listed = await ls.students[1].get("/api/questions", section_id=ls.section["section_id"])
    assert [x["question_id"] for x in listed.json()["questions"]] == [q["question_id"]]


async def test_a_student_who_only_answered_over_http_is_kept(box: RunningBox) -> None:
    """Never-connected students are removed after a day, but not one whose answer counts."""
    ls = await lesson(box)
    q = await ls.question()
    sam, kim = ls.students
    assert (await answer(sam, q["question_id"], 1, "key-http-0001")).status_code == 201
    removed = await box.box.classes.remove_unconnected(-60)  # everyone is "older" than that
    assert removed == 1  # Kim, who did nothing
    results = await ls.teacher.get(f"/api/questions/{q['question_id']}/results")
    assert [a["student_id"] for a in results.json()["results"]["answers"]] == [sam.id]
    assert (await kim.get("/api/me")).status_code == 401
