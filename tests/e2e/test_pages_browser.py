"""The pages in a real browser (Debian's headless Chromium via Playwright) against the real box.

The box runs as its own process and a page's link can be cut with a TCP proxy (`LinkProxy`):
see tests/browser_support.py for why `set_offline` would not do.
"""

from __future__ import annotations

import re
import time
from typing import Any

from tests.browser_support import (  # noqa: F401  (the *_fixture names are fixtures)
    BROWSER_MARKS,
    LAPTOP,
    NO_SIDEWAYS_SCROLL,
    PASSWORD,
    PHONE,
    Box,
    LinkProxy,
    PageLog,
    box_fixture,
    browser_fixture,
    confirm,
    create_class,
    expect,
    fresh_box_fixture,
    new_page,
    notice_texts,
    shot,
    start_lecture,
    student_join,
    teacher_login,
)
from tests.process import BoxProcess

pytestmark = BROWSER_MARKS


# ---------------------------------------------------------------------------------- tests

async def test_live_lecture_and_cut_link_catch_up(box: Box, browser: Any) -> None:
    """Teacher creates a class and starts a lecture in the page; two students see it live; one
    loses its link (proxy cut) while the teacher updates progress 3x and ends the lecture; when the
    link returns that page shows the final state once, and the other saw every step live."""
    t0 = time.monotonic()
    logs: list[PageLog] = []
    teacher, tlog = await new_page(browser, "teacher", LAPTOP, logs)
    await teacher_login(teacher, box.url)
    card = await create_class(teacher, "Grade 7 Science", "A")
    code = (await card.locator(".join-code").text_content() or "").strip()
    join_url = await card.locator(".join-url").get_attribute("href")
    assert join_url == f"{box.url}/join/{code}"

    proxy = await LinkProxy(box.proc.port).start()
    try:
        amy, amy_log = await new_page(browser, "student amy (direct)", PHONE, logs)
        ben, ben_log = await new_page(browser, "student ben (via proxy)", PHONE, logs)
        await student_join(amy, join_url, "Amy Adams")
        await student_join(ben, f"{proxy.url}/join/{code}", "Ben Brown")

        # the teacher's page sees both students online (live, via student_count)
        await expect(card.locator(".online-count")).to_have_text("2 students online")
        await card.locator(".roster-wrap summary").click()
        await expect(card.locator(".roster-name")).to_have_text(["Amy Adams", "Ben Brown"])

        await start_lecture(card, "Science", "Photosynthesis", 40)
        for s in (amy, ben):
            live = s.locator("#live .live-card")
            await expect(live.locator(".lecture-title")).to_have_text("Photosynthesis")
            await expect(live.locator(".progress-value")).to_have_text("0%")
            await expect(s.locator("#notices .notice")).to_have_text(
                [re.compile("Lecture started: Photosynthesis")])
        await shot(teacher, "teacher-live-laptop.png")
        await shot(teacher, "teacher-live-laptop-viewport.png", full_page=False)

        # ---- cut Ben's link
        await proxy.cut()
        await expect(ben.locator("#conn")).to_have_attribute(
            "data-status", re.compile("reconnecting|offline"))
        await expect(card.locator(".online-count")).to_have_text("1 student online")

        live_panel = card.locator(".live-slot")
        slider = live_panel.locator("input[type=range]")
        note = live_panel.get_by_label("Note for students")
        for value, text in ((25, "Read page 12"), (60, "Leaf diagram"), (100, "All done")):
            await slider.fill(str(value))
            await note.fill(text)
            await live_panel.get_by_role("button", name="Update progress").click()
            await expect(amy.locator("#live .progress-value")).to_have_text(f"{value}%")
            await expect(amy.locator("#live .note-text")).to_have_text(text)
            if value == 60:
                await shot(amy, "student-live-phone.png")
                # the smallest phones: nothing may force sideways scrolling at 320 px
                for p in (amy, teacher):
                    size = p.viewport_size
                    await p.set_viewport_size({"width": 320, "height": 640})
                    assert await p.evaluate(NO_SIDEWAYS_SCROLL), f"{p.url} overflows at 320 px"
                    if p is amy:
                        await shot(amy, "student-live-320.png")
                    await p.set_viewport_size(size)
        await live_panel.get_by_label("Summary").fill("We drew the leaf and named its parts.")
        await live_panel.get_by_role("button", name="End lecture").click()
        await confirm(teacher, "End lecture")
        await expect(card.locator(".live-slot")).to_be_hidden()

        # Amy saw the end live; Ben still shows the old live lecture with its badge off
        await expect(amy.locator("#live .live-card")).to_have_count(0)
        await expect(amy.locator("#ended .row-ended .summary")).to_have_text(
            "We drew the leaf and named its parts.")
        await expect(ben.locator("#live .lecture-title")).to_have_text("Photosynthesis")
        await expect(ben.locator("#live .progress-value")).to_have_text("0%")
        # Ben's page really tried to reconnect and was refused (not merely waiting to retry)
        await ben_log.wait_network_error("/socket.io/")
        assert await ben.locator("#conn").get_attribute("data-status") in ("reconnecting",
                                                                          "offline")

        # ---- the link comes back
        await proxy.restore()
        await expect(ben.locator("#conn")).to_have_attribute("data-status", "connected",
                                                             timeout=15_000)
        await expect(ben.locator("#live .live-card")).to_have_count(0)
        ended = ben.locator("#ended .row-ended")
        await expect(ended).to_have_count(1)
        await expect(ended.locator(".row-title")).to_have_text("Photosynthesis")
        await expect(ended.locator(".summary")).to_have_text(
            "We drew the leaf and named its parts.")
        await expect(ben.locator("#stale")).to_be_hidden()
        await expect(card.locator(".online-count")).to_have_text("2 students online")

        # no duplicate notices: each seq once, one "started", one "ended"
        for s in (amy, ben):
            seqs = await s.locator("#notices .notice").evaluate_all(
                "els => els.map(e => e.dataset.seq)")
            assert len(seqs) == len(set(seqs)), seqs
            texts = [t.strip()
                     for t in await s.locator("#notices .notice-text").all_text_contents()]
            assert notice_texts(texts, "Lecture started: Photosynthesis") == [
                "Lecture started: Photosynthesis"], texts
            assert notice_texts(texts, "Lecture ended: Photosynthesis") == [
                "Lecture ended: Photosynthesis"], texts
        # both students end on the box's newest seq (start + 3 progress + end = 5 events)
        await box.login()
        box_seq = (await box.get("/api/lectures"))["seq"]
        for s in (amy, ben):
            assert await s.evaluate("() => document.body.dataset.lastSeq") == str(box_seq)

        await shot(ben, "student-after-reconnect-phone.png")
        await ben.emulate_media(color_scheme="dark")
        await shot(ben, "student-after-reconnect-phone-dark.png")
        await teacher.emulate_media(color_scheme="dark")
        await shot(teacher, "teacher-ended-laptop-dark.png", full_page=False)
        await teacher.emulate_media(color_scheme="light")
        await shot(teacher, "teacher-ended-laptop.png")

        # the QR projector view: the box's SVG, the address and the code, big
        await card.get_by_role("button", name="Show QR code").click()
        dialog = teacher.locator("#qr-dialog")
        await expect(dialog).to_be_visible()
        await expect(dialog.locator("#qr-code")).to_have_text(code)
        await expect(dialog.locator("#qr-url")).to_have_text(join_url)
        # (functions, not expression strings: Playwright evaluates those with eval(), which the
        # page's CSP rightly refuses once it has to poll)
        await teacher.wait_for_function(
            "() => document.querySelector('#qr-img').complete"
            " && document.querySelector('#qr-img').naturalWidth > 0")
        await shot(teacher, "teacher-qr-projector-laptop.png", full_page=False)
        await dialog.get_by_role("button", name="Close").click()
        await expect(dialog).to_be_hidden()

        tlog.check()
        amy_log.check()
        ben_log.check(allow_network=True)
    finally:
        await proxy.close()
    assert time.monotonic() - t0 < 60


async def test_reload_while_box_unreachable_shows_saved_state_then_catches_up(
        box: Box, browser: Any) -> None:
    """A student page reloaded while the box can't be reached shows the last known state from
    localStorage, marked stale; once the box is back it catches up (a change made meanwhile shows)
    and the stale marker goes away."""
    logs: list[PageLog] = []
    await box.login()
    cls = await box.post("/api/classes", {"name": "Grade 5 Maths", "sections": ["B"]})
    section = cls["sections"][0]
    lecture = await box.post("/api/lecture/start", {
        "class_id": cls["class_id"], "section_id": section["section_id"], "subject": "Maths",
        "title": "Fractions", "duration_minutes": 45})
    await box.post("/api/lecture/progress", {"session_id": lecture["session_id"],
                                              "progress": 30, "note": "Halves and quarters"})

    proxy = await LinkProxy(box.proc.port).start()
    try:
        page, log = await new_page(browser, "student cleo (via proxy)", PHONE, logs)
        await page.goto(f"{proxy.url}/join/{section['join_code']}")
        await page.get_by_label("Your name").fill("Cleo")
        await page.get_by_role("button", name="Join class").click()
        await expect(page.locator("#conn")).to_have_attribute("data-status", "connected")
        await expect(page.locator("#live .progress-value")).to_have_text("30%")
        await expect(page.locator("#stale")).to_be_hidden()
        # The app shell is cached by the service worker (127.0.0.1 is a secure context), which is
        # what lets the page itself load while the box is unreachable.
        await page.wait_for_function("() => navigator.serviceWorker.controller !== null")

        await proxy.cut()
        await page.reload()
        await expect(page.locator("#dash-who")).to_have_text("Section B · Signed in as Cleo")
        await expect(page.locator("#live .lecture-title")).to_have_text("Fractions")
        await expect(page.locator("#live .progress-value")).to_have_text("30%")
        await expect(page.locator("#live .note-text")).to_have_text("Halves and quarters")
        stale = page.locator("#stale")
        await expect(stale).to_be_visible()
        await expect(stale).to_contain_text("Showing saved information")
        await expect(page.locator("body")).to_have_attribute("data-stale", "true")
        await expect(page.locator("#conn")).to_have_attribute(
            "data-status", re.compile("reconnecting|offline"))
        await shot(page, "student-stale-phone.png")

        # the teacher moves on while this student can't reach the box
        await box.post("/api/lecture/progress", {"session_id": lecture["session_id"],
                                                  "progress": 80, "note": "Now thirds"})
        await proxy.restore()
        await expect(page.locator("#conn")).to_have_attribute("data-status", "connected",
                                                              timeout=15_000)
        await expect(page.locator("#live .progress-value")).to_have_text("80%")
        await expect(page.locator("#live .note-text")).to_have_text("Now thirds")
        await expect(stale).to_be_hidden()
        await expect(page.locator("body")).to_have_attribute("data-stale", "false")
        log.check(allow_network=True)
    finally:
        await proxy.close()


async def test_setup_link_creates_first_teacher_and_lands_on_teacher_page(
        fresh_box: BoxProcess, browser: Any) -> None:
    """The one-time /setup?token=... link printed by `serve` creates the first teacher account in
    the page and lands on the teacher dashboard, signed in; the link then no longer applies."""
    banner = fresh_box.log.read_text()
    assert "/setup?token=" in banner
    token = banner.split("/setup?token=")[1].split()[0]
    logs: list[PageLog] = []
    page, log = await new_page(browser, "setup", LAPTOP, logs)

    # /teacher before setup says what to do instead of showing a login that can't work
    await page.goto(fresh_box.url + "/teacher")
    await expect(page.get_by_role("heading", name="This box has no teacher account yet")
                 ).to_be_visible()

    await page.goto(f"{fresh_box.url}/setup?token={token}")
    await expect(page.get_by_role("heading", name="Create the teacher account")).to_be_visible()
    assert "token" not in page.url  # the one-time token is taken out of the address bar
    await page.get_by_label("Username").fill("maria")
    await page.get_by_label("Password", exact=True).fill(PASSWORD)
    await page.get_by_label("Repeat password").fill("something else")
    await page.get_by_role("button", name="Create account").click()
    await expect(page.locator("#setup-confirm-error")).to_have_text(
        "The passwords don't match.")
    await page.get_by_label("Repeat password").fill(PASSWORD)
    await shot(page, "setup-laptop.png", full_page=False)
    await page.get_by_role("button", name="Create account").click()

    await page.wait_for_url(re.compile(r"/teacher$"))
    await expect(page.get_by_role("heading", name="Your classes")).to_be_visible()
    await expect(page.locator("#who")).to_have_text("maria")
    await expect(page.locator("#conn")).to_have_attribute("data-status", "connected")
    await expect(page.get_by_text("No classes yet")).to_be_visible()
    await shot(page, "teacher-empty-laptop.png", full_page=False)

    await page.goto(f"{fresh_box.url}/setup?token={token}")
    await expect(page.get_by_role("heading", name="This box is already set up")).to_be_visible()
    log.check()
