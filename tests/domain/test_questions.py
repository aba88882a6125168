"""Questions and answers on a real SQLite file with the real Store and EventLog (no server).

Exactly once under duplicate keys, the last answer counts, closed -> 409, keys that mean two
different things -> 422, and every event the actions log.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from classroom_box.domain import idempotency, results
from classroom_box.domain.validation import ApiError
from tests.domain_support import Domain


def count_rows(path: Path, sql: str) -> int:
    with sqlite3.connect(path) as db:
        return int(db.execute(sql).fetchone()[0])


async def test_same_key_same_body_is_stored_once_and_replayed(domain: Domain) -> None:
    q = await domain.ask()
    sam = await domain.student("Sam")
    first = await domain.questions.answer(sam, q["question_id"], "key-00000001", 1)
    again = await asyncio.gather(*[
        domain.questions.answer(sam, q["question_id"], "key-00000001", 1) for _ in range(5)])
    assert first.status == 201 and not first.replayed
    assert all(o.replayed and o.status == 200 and o.body == first.body for o in again)
    assert first.ack() == {"ok": True, "answer": first.body["answer"], "replayed": False}
    tally = await domain.questions.tally(q["question_id"])
    assert tally is not None and tally["answered"] == 1 and tally["counts"] == [0, 1, 0]
    assert domain.notified == [("tally", q["question_id"])]  # replays broadcast nothing
    assert count_rows(domain.store.path, "SELECT COUNT(*) FROM idempotency_keys") == 1


async def test_same_key_different_body_is_refused(domain: Domain) -> None:
    q = await domain.ask()
    sam = await domain.student("Sam")
    await domain.questions.answer(sam, q["question_id"], "key-00000001", 1)
    with pytest.raises(ApiError) as refused:
        await domain.questions.answer(sam, q["question_id"], "key-00000001", 2)
    assert (refused.value.status, refused.value.code) == (422, "idempotency_key_reused")
    other = await domain.ask()
    with pytest.raises(ApiError) as elsewhere:  # the same key for another question
        await domain.questions.answer(sam, other["question_id"], "key-00000001", 1)
    assert elsewhere.value.code == "idempotency_key_reused"


async def test_keys_belong_to_one_student(domain: Domain) -> None:
    q = await domain.ask()
    sam, kim = await domain.student("Sam"), await domain.student("Kim")
    await domain.questions.answer(sam, q["question_id"], "shared-key-1", 1)
    kims = await domain.questions.answer(kim, q["question_id"], "shared-key-1", 2)
    assert not kims.replayed
    tally = await domain.questions.tally(q["question_id"])
    assert tally is not None and tally["counts"] == [0, 1, 1]


async def test_later_answer_replaces_earlier(domain: Domain) -> None:
    q = await domain.ask("multiple")
    sam = await domain.student("Sam")
    await domain.questions.answer(sam, q["question_id"], "key-00000001", [0, 1])
    await domain.questions.answer(sam, q["question_id"], "key-00000002", [2, 1])
    found = await domain.questions.results(domain.teacher_id, q["question_id"])
    assert found["results"]["answered"] == 1 and found["results"]["counts"] == [0, 1, 1]
    assert [a["value"] for a in found["results"]["answers"]] == [[1, 2]]
    # the first key still replays its own stored answer, and the tally does not move
    old = await domain.questions.answer(sam, q["question_id"], "key-00000001", [1, 0])
    assert old.replayed and old.body["answer"]["value"] == [0, 1]
    again = await domain.questions.results(domain.teacher_id, q["question_id"])
    assert again["results"]["counts"] == [0, 1, 1]


async def test_closed_question_refuses_new_answers_but_replays_old_ones(domain: Domain) -> None:
    q = await domain.ask()
    sam, kim = await domain.student("Sam"), await domain.student("Kim")
    await domain.questions.answer(sam, q["question_id"], "key-00000001", 1)
    closed = await domain.questions.close(domain.teacher_id, q["question_id"])
    assert closed["status"] == "closed" and closed["closed_at"]
    with pytest.raises(ApiError) as late:
        await domain.questions.answer(kim, q["question_id"], "key-00000009", 0)
    assert (late.value.status, late.value.code) == (409, "question_closed")
    replay = await domain.questions.answer(sam, q["question_id"], "key-00000001", 1)
    assert replay.replayed
    with pytest.raises(ApiError):
        await domain.questions.answer(sam, q["question_id"], "key-00000002", 2)
    assert count_rows(domain.store.path, "SELECT COUNT(*) FROM answers") == 1


async def test_close_twice_and_reveal(domain: Domain) -> None:
    q = await domain.ask(correct=[1])
    with pytest.raises(ApiError) as early:
        await domain.questions.reveal(domain.teacher_id, q["question_id"])
    assert (early.value.status, early.value.code) == (409, "question_open")
    await domain.questions.close(domain.teacher_id, q["question_id"])
    await domain.questions.close(domain.teacher_id, q["question_id"])
    shown = await domain.questions.reveal(domain.teacher_id, q["question_id"])
    await domain.questions.reveal(domain.teacher_id, q["question_id"])
    assert shown["question"]["revealed"] and shown["results"] == {"answered": 0,
                                                                  "counts": [0, 0, 0]}
    types = [e.type for e in domain.published]
    assert types == ["question_opened", "question_closed", "results_revealed"]
    opened, _, revealed = (e.payload for e in domain.published)
    assert "correct" not in opened["question"]
    assert revealed["correct"] == [1] and revealed["question"]["correct"] == [1]


async def test_wrong_section_and_bad_values(domain: Domain) -> None:
    q = await domain.ask()
    stranger = await domain.student("Bea", domain.other_section_id)
    with pytest.raises(ApiError) as forbidden:
        await domain.questions.answer(stranger, q["question_id"], "key-00000001", 1)
    assert forbidden.value.status == 403
    sam = await domain.student("Sam")
    for bad in (3, -1, True, "1", [1], None, 1.0):
        with pytest.raises(ApiError) as invalid:
            await domain.questions.answer(sam, q["question_id"], "key-00000001", bad)
        assert invalid.value.status == 422, bad
    for key in (None, "", "short", "x" * 65, "has space!", 12345678):
        with pytest.raises(ApiError) as bad_key:
            await domain.questions.answer(sam, q["question_id"], key, 1)
        assert bad_key.value.status == 400, key
    with pytest.raises(ApiError) as missing:
        await domain.questions.answer(sam, 999, "key-00000001", 1)
    assert missing.value.status == 404


@pytest.mark.parametrize(("kind", "value", "stored"), [
    ("multiple", [2, 0], [0, 2]), ("text", "  seven  ", "seven"), ("number", 7.0, 7),
    ("number", -2.5, -2.5)])
async def test_values_are_normalised(domain: Domain, kind: str, value: Any, stored: Any) -> None:
    q = await domain.ask(kind)
    sam = await domain.student("Sam")
    first = await domain.questions.answer(sam, q["question_id"], "key-00000001", value)
    assert first.body["answer"]["value"] == stored
    same = await domain.questions.answer(sam, q["question_id"], "key-00000001", stored)
    assert same.replayed


@pytest.mark.parametrize("bad", [
    {"kind": "single", "options": ["only one"]},
    {"kind": "single", "options": ["a", "b"], "correct": [0, 1]},
    {"kind": "single", "options": ["a", "b"], "correct": [2]},
    {"kind": "text", "options": ["a", "b"]},
    {"kind": "number", "correct": [0]},
    {"kind": "multiple"},
])
async def test_question_shapes_are_checked(domain: Domain, bad: dict[str, Any]) -> None:
    with pytest.raises(ApiError) as refused:
        await domain.questions.create(domain.teacher_id, {
            "class_id": domain.class_id, "section_id": domain.section_id, "prompt": "p", **bad})
    assert refused.value.status == 422


async def test_other_teacher_cannot_touch_a_question(domain: Domain) -> None:
    q = await domain.ask()
    for action in (domain.questions.close, domain.questions.reveal, domain.questions.results):
        with pytest.raises(ApiError) as forbidden:
            await action(domain.teacher_id + 1, q["question_id"])
        assert forbidden.value.status == 403


async def test_many_students_at_once_count_exactly(domain: Domain) -> None:
    q = await domain.ask()
    students = [await domain.student(f"S{i}") for i in range(60)]
    sends = [domain.questions.answer(s, q["question_id"], f"key-{s.id:08d}", s.id % 3)
             for s in students for _ in range(3)]  # every answer sent three times, concurrently
    outcomes = await asyncio.gather(*sends)
    assert sum(not o.replayed for o in outcomes) == 60
    tally = await domain.questions.tally(q["question_id"])
    expected = [sum(1 for s in students if s.id % 3 == i) for i in range(3)]
    assert tally is not None and tally["answered"] == 60 and tally["counts"] == expected


def test_csv_is_rfc_4180_and_defuses_formulas() -> None:
    q = {"kind": "single", "options": ["a", "b"], "correct": [1]}
    text = results.to_csv(q, [
        {"student_id": 1, "name": 'Ann "A", Jr', "value": 1, "answered_at": "t1"},
        {"student_id": 2, "name": "=HYPERLINK(1)", "value": 0, "answered_at": "t2"}])
    assert text == ('student_id,name,value,answered_at,correct\r\n'
                    '1,"Ann ""A"", Jr",1,t1,true\r\n'
                    "2,'=HYPERLINK(1),0,t2,false\r\n")
    lines = results.to_csv({"kind": "text", "options": [], "correct": None}, [
        {"student_id": 3, "name": "Bo", "value": "two\nlines", "answered_at": "t"}])
    assert lines.endswith('3,Bo,"two\nlines",t,\r\n')


async def test_keys_are_pruned_with_the_event_log(domain: Domain) -> None:
    q = await domain.ask()  # logs event 1
    sam = await domain.student("Sam")
    await domain.questions.answer(sam, q["question_id"], "key-00000001", 1)  # key at seq 1
    await domain.questions.close(domain.teacher_id, q["question_id"])  # event 2
    assert await idempotency.prune(domain.store) == 0  # nothing pruned from the log yet
    async with domain.store.write() as tx:  # the log pruned through event 2
        await tx.execute("INSERT INTO meta (key, value) VALUES ('pruned_through', '2')")
    assert await idempotency.prune(domain.store) == 1
    assert count_rows(domain.store.path, "SELECT COUNT(*) FROM idempotency_keys") == 0
