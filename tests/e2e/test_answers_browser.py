"""Students answer back in a real browser (Debian's Chromium via Playwright) against the box process.

A student's link is cut with the TCP proxy (tests/browser_support.py says why not `set_offline`):
an answer given while cut survives a reload while still cut (the outbox in localStorage) and,
once the link is back, the teacher's page counts it exactly once; a double click sends one
answer; an answer that arrives after the teacher closed the question shows "Refused"; hostile
student text is shown as text on the teacher's page.
"""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser_support import (  # noqa: F401  (the *_fixture names are fixtures)
    BROWSER_MARKS,
    LAPTOP,
    PHONE,
    Box,
    LinkProxy,
    PageLog,
    box_fixture,
    browser_fixture,
    expect,
    new_page,
    shot,
    student_join,
    teacher_login,
)
from tests.disk_support import fill, small_disk
from tests.helpers import PASSWORD
from tests.process import BoxProcess, add_teacher

pytestmark = BROWSER_MARKS
HOSTILE = "<img src=x onerror=alert(1)>"


async def class_with_question(box: Box, **question: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    await box.login()
    cls = await box.post("/api/classes", {"name": "Maths", "sections": ["A"]})
    section = cls["sections"][0]
    await box.post("/api/lecture/start", {"class_id": cls["class_id"],
                                          "section_id": section["section_id"],
                                          "subject": "Maths", "title": "Primes"})
    q = (await box.post("/api/questions", {
        "class_id": cls["class_id"], "section_id": section["section_id"], "kind": "single",
        "prompt": "Which is prime?", "options": ["4", "7", "9"], **question}))["question"]
    return section, q


async def test_answer_offline_reload_then_counted_once(box: Box, browser: Any) -> None:
    logs: list[PageLog] = []
    section, q = await class_with_question(box, correct=[1])
    teacher, teacher_log = await new_page(browser, "teacher", LAPTOP, logs)
    await teacher_login(teacher, box.url)
    proxy = await LinkProxy(box.proc.port).start()
    try:
        page, log = await new_page(browser, "student ana (via proxy)", PHONE, logs)
        await student_join(page, f"{proxy.url}/join/{section['join_code']}", "Ana")
        card = page.locator(".question-card")
        await expect(card.locator(".question-prompt")).to_have_text("Which is prime?")
        await page.wait_for_function("() => navigator.serviceWorker.controller !== null")

        await proxy.cut()
        await card.get_by_role("button", name="7").click()
        await expect(card.get_by_role("button", name="7")).to_have_attribute("aria-pressed", "true")
        await expect(card.locator(".answer-status")).to_have_text("Sending…")
        await page.reload()  # still cut: the page, its state and the outbox come from the device
        card = page.locator(".question-card")
        await expect(card.get_by_role("button", name="7")).to_have_attribute("aria-pressed", "true")
        await expect(card.locator(".answer-status")).to_have_text("Sending…")
        await shot(page, "student-answer-offline-phone.png")

        await proxy.restore()
        await expect(card.locator(".answer-status")).to_have_text("Sent ✓", timeout=20_000)
        panel = teacher.locator(f".question-card[data-question-id='{q['question_id']}']")
        await expect(panel.locator(".answered")).to_contain_text("1 answered")
        results = await box.get(f"/api/questions/{q['question_id']}/results")
        assert results["results"]["answered"] == 1 and results["results"]["counts"] == [0, 1, 0]
        await shot(teacher, "teacher-tally-laptop.png")

        await panel.get_by_role("button", name="Close").click()
        await teacher.locator(f".question-card[data-question-id='{q['question_id']}']"
                              ).get_by_role("button", name="Reveal").click()
        result = page.locator(".result-card")
        await expect(result.locator(".verdict")).to_have_text("You were right ✓")
        log.check(allow_network=True)
        teacher_log.check()
    finally:
        await proxy.close()


async def test_double_click_sends_one_answer(box: Box, browser: Any) -> None:
    logs: list[PageLog] = []
    section, q = await class_with_question(box)
    page, log = await new_page(browser, "student ben", PHONE, logs)
    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST"
            and r.url.endswith("/answers") else None)
    emits: list[str] = []  # socket.io frames `42<id>["answer",{...}]` the page sent
    page.on("websocket", lambda ws: ws.on("framesent", lambda frame: emits.append(frame)
                                          if '["answer",' in str(frame) else None))
    await student_join(page, f"{box.url}/join/{section['join_code']}", "Ben")
    await expect(page.locator("#conn")).to_have_attribute("data-status", "connected")
    option = page.locator(".question-card").get_by_role("button", name="9")
    await option.dblclick()
    await expect(page.locator(".question-card .answer-status")).to_have_text("Sent ✓")
    await page.wait_for_timeout(500)
    # One send, over the socket while it is connected (a fifth of an HTTP request's CPU)
    assert (len(emits), posts) == (1, []), (emits, posts)
    results = await box.get(f"/api/questions/{q['question_id']}/results")
    assert results["results"]["counts"] == [0, 0, 1]
    log.check()


async def test_offline_answer_after_close_is_refused_plainly(box: Box, browser: Any) -> None:
    logs: list[PageLog] = []
    section, q = await class_with_question(box)
    proxy = await LinkProxy(box.proc.port).start()
    try:
        page, log = await new_page(browser, "student cleo (via proxy)", PHONE, logs)
        await student_join(page, f"{proxy.url}/join/{section['join_code']}", "Cleo")
        await proxy.cut()
        await page.locator(".question-card").get_by_role("button", name="4").click()
        await expect(page.locator(".question-card .answer-status")).to_have_text("Sending…")
        await box.post(f"/api/questions/{q['question_id']}/close", {})
        await proxy.restore()
        settled = page.locator("#my-answers")
        await expect(settled).to_contain_text("Which is prime?", timeout=20_000)
        await expect(settled).to_contain_text("Refused: the question was closed")
        await expect(page.locator(".question-card")).to_have_count(0)
        results = await box.get(f"/api/questions/{q['question_id']}/results")
        assert results["results"]["answered"] == 0
        # the browser itself logs the refused request; that one is the expected outcome here
        log.errors = [e for e in log.errors if not ("status of 409" in e and "/answers" in e)]
        log.check(allow_network=True)
    finally:
        await proxy.close()


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small tmpfs to fill up needs root")
async def test_an_answer_the_full_disk_refused_waits_and_is_sent(tmp_path: Path,
                                                                 browser: Any) -> None:
    """A full disk is a reason to wait, not a refusal: the answer stays "Sending…" and is
    counted once the box has room again. (Over the socket its `disk_full` nack was shown as
    "Refused" for good, though over HTTP the same 507 was retried.)"""
    logs: list[PageLog] = []
    with small_disk(tmp_path / "data") as data:
        add_teacher(data, "maria", PASSWORD)
        proc = await asyncio.to_thread(BoxProcess(data).start)
        try:
            async with httpx.AsyncClient(base_url=proc.url, timeout=10) as http:
                box = Box(proc, http)
                section, q = await class_with_question(box)
                page, log = await new_page(browser, "student dan", PHONE, logs)
                nacks: list[str] = []
                page.on("websocket", lambda ws: ws.on("framereceived", lambda frame: nacks.append(
                    str(frame)) if "disk_full" in str(frame) else None))
                await student_join(page, f"{box.url}/join/{section['join_code']}", "Dan")
                ballast = fill(data)
                await page.locator(".question-card").get_by_role("button", name="7").click()
                status = page.locator(".question-card .answer-status")
                for _ in range(100):
                    if nacks:
                        break
                    await asyncio.sleep(0.05)
                assert nacks, "the box never answered disk_full over the socket"
                await expect(status).to_have_text("Sending…")
                ballast.unlink()
                await expect(status).to_have_text("Sent ✓", timeout=20_000)
                results = await box.get(f"/api/questions/{q['question_id']}/results")
                assert results["results"]["answered"] == 1
                log.check()
        finally:
            await asyncio.to_thread(proc.stop)


async def test_student_text_is_text_on_the_teacher_page(box: Box, browser: Any) -> None:
    logs: list[PageLog] = []
    section, _ = await class_with_question(box)
    teacher, teacher_log = await new_page(browser, "teacher", LAPTOP, logs)
    dialogs: list[str] = []
    teacher.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    await teacher_login(teacher, box.url)
    page, log = await new_page(browser, "student eve", PHONE, logs)
    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    events: list[str] = []  # the names of the socket.io events the page emitted
    page.on("websocket", lambda ws: ws.on("framesent", lambda frame: events.extend(
        re.findall(r'^42\d*\["(\w+)"', str(frame)))))
    await student_join(page, f"{box.url}/join/{section['join_code']}", HOSTILE)
    await expect(page.locator("#conn")).to_have_attribute("data-status", "connected")
    joined = len(posts)
    await page.get_by_role("button", name="Raise my hand").click()
    await page.get_by_label("Ask the teacher").fill(HOSTILE)
    await page.get_by_role("button", name="Send question").click()
    await expect(page.locator("#my-asks")).to_contain_text("Sent ✓")
    asks = teacher.locator("[data-list=asks] .row-title")
    await expect(asks).to_have_text(HOSTILE)
    await expect(teacher.locator("[data-list=hands]")).to_contain_text(HOSTILE)
    await page.get_by_role("button", name="I'm lost").click()
    await expect(page.get_by_role("button", name="I'm lost")).to_have_attribute("aria-pressed",
                                                                               "true")
    await expect(teacher.locator(".pulse-gauge").nth(1)).to_contain_text(re.compile(r"Lost\s*1"))
    await teacher.locator("[data-list=hands]").get_by_role("button").click()
    await expect(page.get_by_role("button", name="Raise my hand")).to_be_visible()
    assert await teacher.locator("img[src='x']").count() == 0
    await teacher.wait_for_timeout(500)
    assert dialogs == []
    # Connected, the page sent hand, ask and pulse over its socket, not as HTTP requests
    assert posts[joined:] == [] and {"raise_hand", "ask", "pulse"} <= set(events), (posts, events)
    log.check()
    teacher_log.check()


async def test_teacher_asks_through_the_page(box: Box, browser: Any) -> None:
    logs: list[PageLog] = []
    await box.login()
    cls = await box.post("/api/classes", {"name": "Maths", "sections": ["A"]})
    section = cls["sections"][0]
    teacher, teacher_log = await new_page(browser, "teacher", LAPTOP, logs)
    await teacher_login(teacher, box.url)
    page, log = await new_page(browser, "student dan", PHONE, logs)
    await student_join(page, f"{box.url}/join/{section['join_code']}", "Dan")

    await teacher.get_by_text("Ask the class", exact=True).first.click()
    await teacher.get_by_label("Question").fill("Pick the even numbers")
    await teacher.get_by_label("Kind").select_option("multiple")
    await teacher.get_by_label("Options").fill("2\n3\n4")
    await teacher.get_by_label("Correct option(s)").fill("1, 3")
    await teacher.get_by_role("button", name="Ask the class").click()

    card = page.locator(".question-card")
    await expect(card.locator(".question-prompt")).to_have_text("Pick the even numbers")
    panel = teacher.locator(".answer-panel .question-card").first
    await panel.get_by_text("Who has not answered").click()
    await expect(panel.locator(".name-list")).to_contain_text("Dan")
    close = panel.get_by_role("button", name="Close")
    await close.focus()
    await card.get_by_label("2").check()
    await card.get_by_label("4").check()
    await card.get_by_role("button", name="Send answer").click()
    await expect(card.locator(".answer-status")).to_have_text("Sent ✓")
    await expect(panel.locator(".answered")).to_contain_text("1 answered")
    await expect(close).to_be_focused()  # the tally patched the card, it did not rebuild it
    # the list stayed open through the tally, and refreshed by itself
    await expect(panel.locator(".name-list")).to_be_visible()
    await expect(panel.locator(".name-list")).to_contain_text("Everyone online has answered")
    csv = await panel.get_by_role("link", name="CSV").get_attribute("href")
    assert csv is not None and csv.endswith("/results.csv")
    await panel.get_by_role("button", name="Close").click()
    await teacher.locator(".answer-panel .question-card").first.get_by_role(
        "button", name="Reveal").click()
    await expect(page.locator(".result-card .verdict")).to_have_text("You were right ✓")
    log.check()
    teacher_log.check()
