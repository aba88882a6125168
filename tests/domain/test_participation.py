"""Hands, pulse and asks on a real SQLite file with the real Store and EventLog (no server)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from classroom_box.domain.clock import Clock
from classroom_box.domain.events import student_room
from classroom_box.domain.lectures import Lectures
from classroom_box.domain.participation import ASKS_PER_LECTURE, Participation
from classroom_box.domain.ratelimit import KeyedBuckets
from classroom_box.domain.validation import ApiError
from tests.domain_support import Domain


@pytest.fixture
async def part(domain: Domain) -> AsyncIterator[Participation]:
    yield Participation(domain.store, domain.questions.log,
                        notify=lambda kind, ident: domain.notified.append((kind, ident)))


async def start_lecture(domain: Domain) -> int:
    lecture = await Lectures(domain.store, domain.questions.log, Clock()).start(domain.teacher_id, {
        "class_id": domain.class_id, "section_id": domain.section_id, "subject": "M",
        "title": "T"})
    return int(lecture["session_id"])


async def test_hand_is_a_state(domain: Domain, part: Participation) -> None:
    sam = await domain.student("Sam")
    up = await part.set_hand(sam, True)
    again = await part.set_hand(sam, True)
    assert up["hand"]["raised"] and again["hand"] == up["hand"]
    hands = [e for e in domain.published if e.type == "hand_update"]
    assert len(hands) == 1 and hands[0].room == student_room(sam.id)
    assert hands[0].payload["name"] == "Sam"
    async with domain.store.read() as tx:
        view = await part.for_teacher(tx, domain.section_id)
        mine = await part.for_student(tx, sam)
    assert [h["name"] for h in view["hands"]] == ["Sam"] and mine["hand"]["raised"]
    lowered = await part.lower_hand(domain.teacher_id, sam.id, domain.section_id)
    assert lowered["hand"]["raised"] is False
    assert [e.payload["raised"] for e in domain.published if e.type == "hand_update"] == [
        True, False]


async def test_teacher_lowers_only_own_students(domain: Domain,
                                                part: Participation) -> None:
    sam = await domain.student("Sam")
    await part.set_hand(sam, True)
    for teacher, section, status in ((domain.teacher_id + 1, domain.section_id, 403),
                                     (domain.teacher_id, domain.other_section_id, 404)):
        with pytest.raises(ApiError) as refused:
            await part.lower_hand(teacher, sam.id, section)
        assert refused.value.status == status


async def test_pulse_needs_a_lecture_and_resets_with_the_next(domain: Domain,
                                                              part: Participation) -> None:
    sam, kim = await domain.student("Sam"), await domain.student("Kim")
    with pytest.raises(ApiError) as idle:
        await part.set_pulse(sam, "lost")
    assert (idle.value.status, idle.value.code) == (409, "no_live_lecture")
    first = await start_lecture(domain)
    await part.set_pulse(sam, "lost")
    await part.set_pulse(sam, "got_it")
    await part.set_pulse(kim, "lost")
    async with domain.store.read() as tx:
        assert (await part.for_teacher(tx, domain.section_id))["pulse"] == {"got_it": 1,
                                                                            "lost": 1}
    await part.set_pulse(kim, None)
    await Lectures(domain.store, domain.questions.log, Clock()).end(domain.teacher_id, first, None)
    await start_lecture(domain)
    async with domain.store.read() as tx:
        assert (await part.for_teacher(tx, domain.section_id))["pulse"] == {"got_it": 0,
                                                                            "lost": 0}
        assert (await part.for_student(tx, sam))["pulse"] is None
    assert ("pulse", domain.section_id) in domain.notified


async def test_ask_exactly_once_by_key(domain: Domain, part: Participation) -> None:
    sam = await domain.student("Sam")
    outcomes = await asyncio.gather(*[part.ask(sam, "ask-key-01", "Why 7?") for _ in range(4)])
    assert sum(not o.replayed for o in outcomes) == 1
    assert len({o.body["ask"]["ask_id"] for o in outcomes}) == 1
    with pytest.raises(ApiError) as reused:
        await part.ask(sam, "ask-key-01", "Why 9?")
    assert reused.value.code == "idempotency_key_reused"
    received = [e for e in domain.published if e.type == "ask_received"]
    assert len(received) == 1 and received[0].room == student_room(sam.id)
    ask_id = outcomes[0].body["ask"]["ask_id"]
    with pytest.raises(ApiError) as other:
        await part.ask_done(domain.teacher_id + 1, ask_id)
    assert other.value.status == 403
    done = await part.ask_done(domain.teacher_id, ask_id)
    await part.ask_done(domain.teacher_id, ask_id)
    assert done["ask"]["done_at"]
    assert [e.type for e in domain.published].count("ask_done") == 1
    async with domain.store.read() as tx:
        assert (await part.for_teacher(tx, domain.section_id))["asks"] == []


async def test_asks_are_capped_per_lecture(domain: Domain, part: Participation) -> None:
    sam = await domain.student("Sam")
    await start_lecture(domain)
    for i in range(ASKS_PER_LECTURE):
        await part.ask(sam, f"ask-key-{i:04d}", f"q{i}")
    with pytest.raises(ApiError) as capped:
        await part.ask(sam, "ask-key-over", "one more")
    assert (capped.value.status, capped.value.code) == (409, "ask_limit")
    replay = await part.ask(sam, "ask-key-0000", "q0")  # a retry of a stored ask still replays
    assert replay.replayed


async def test_token_bucket_per_student(domain: Domain) -> None:
    part = Participation(domain.store, domain.questions.log,
                         KeyedBuckets(rate=0.001, burst=3).take)
    sam, kim = await domain.student("Sam"), await domain.student("Kim")
    for raised in (True, False, True):
        await part.set_hand(sam, raised)
    with pytest.raises(ApiError) as slow:
        await part.set_hand(sam, False)
    assert slow.value.status == 429
    await part.set_hand(kim, True)  # another student's bucket is their own
