"""A teacher's whole day in a real browser against the real box (issue 14): managing a class,
a lecture that ends by itself while a student's link is cut, attendance in Today and History with
the CSV download, and the polish list a new teacher tripped over."""

from __future__ import annotations

import asyncio
import csv
import io
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from classroom_box.domain.validation import from_iso
from tests.browser_support import (  # noqa: F401  (the *_fixture names are fixtures)
    BROWSER_MARKS,
    LAPTOP,
    PHONE,
    Box,
    LinkProxy,
    PageLog,
    box_fixture,
    browser_fixture,
    clock,
    confirm,
    create_class,
    expect,
    fresh_box_fixture,
    new_page,
    shot,
    student_join,
    teacher_login,
)
from tests.process import BoxProcess

pytestmark = BROWSER_MARKS


async def seed(box: Box, students: tuple[str, ...] = ()) -> dict[str, Any]:
    """A class "Grade 7" with section A (through the API); students join over HTTP."""
    await box.login()
    cls = await box.post("/api/classes", {"name": "Grade 7", "sections": ["A"]})
    a = cls["sections"][0]
    joined = {}
    for name in students:
        r = await box.http.post("/api/join", json={"join_code": a["join_code"], "name": name})
        joined[name] = r.json()
    return {"class_id": cls["class_id"], "section_id": a["section_id"],
            "join_code": a["join_code"], "students": joined}


def local_clock(iso_time: str) -> str:
    return clock(from_iso(iso_time).astimezone())


async def test_teacher_manages_a_class_in_the_page(box: Box, browser: Any) -> None:
    """Rename inline (the student sees it live), add a section, a new join code after a
    confirmation naming the old one, remove a student (their page says so), archive and back."""
    logs: list[PageLog] = []
    teacher, tlog = await new_page(browser, "teacher", LAPTOP, logs)
    student, slog = await new_page(browser, "student", PHONE, logs)
    await teacher_login(teacher, box.url)
    card = await create_class(teacher, "Grade 7", "A")
    code = (await card.locator(".join-code").text_content() or "").strip()
    await student_join(student, f"{box.url}/join/{code}", "Amy Adams")
    await expect(student.locator("#dash-box")).to_be_hidden()  # the default box name says nothing

    await teacher.get_by_role("button", name="Rename class Grade 7").click()
    await teacher.get_by_label("New name for Grade 7").fill("Grade 7 Maths")
    await teacher.get_by_role("button", name="Save").click()
    await expect(teacher.locator(".class-title")).to_have_text("Grade 7 Maths")
    await expect(student.locator("#dash-class")).to_have_text("Grade 7 Maths")
    await teacher.get_by_role("button", name="Rename section A").click()
    await teacher.get_by_label("New name for A").fill("7A")
    await teacher.get_by_label("New name for A").press("Enter")
    await expect(teacher.locator(".section-title")).to_have_text("Section 7A")
    await expect(student.locator("#dash-who")).to_have_text("Section 7A · Signed in as Amy Adams")
    await expect(student.locator("#notices .notice-text").first).to_have_text(
        "Your class is now Grade 7 Maths · Section 7A")

    await teacher.get_by_role("button", name="Add section").click()
    await teacher.get_by_label("New section of Grade 7 Maths").fill("B")
    await teacher.get_by_role("button", name="Add", exact=True).click()
    await expect(teacher.locator(".section-title")).to_have_text(["Section 7A", "Section B"])

    card = teacher.locator(".section-card").first
    await card.get_by_role("button", name="New join code").click()
    await expect(teacher.locator("dialog.confirm-dialog")).to_contain_text(
        f"The code {code} and its QR code stop working at once")
    await confirm(teacher, "Make a new code")
    await expect(card.locator(".join-code")).not_to_have_text(code)
    assert (await box.http.get(f"/api/join/{code}")).status_code == 404
    await expect(student.locator("#conn")).to_have_attribute("data-status", "connected")

    await card.locator(".roster-wrap summary").click()
    await expect(card.locator(".roster-name")).to_have_text(["Amy Adams"])
    await card.get_by_role("button", name="Remove Amy Adams").click()
    await confirm(teacher, "Remove student")
    await expect(student.get_by_text("Your teacher removed you from this class")).to_be_visible()
    await expect(student.get_by_label("Join code")).to_be_visible()
    await expect(card.locator(".roster")).to_have_text("Nobody has joined yet.")
    await shot(student, "day-student-removed-phone.png")

    await teacher.get_by_role("button", name="Archive").click()
    await confirm(teacher, "Archive class")
    await expect(teacher.locator(".class-block")).to_have_count(0)
    await teacher.get_by_text("Archived classes").click()
    await teacher.get_by_role("button", name="Unarchive Grade 7 Maths").click()
    await expect(teacher.locator(".class-title")).to_have_text("Grade 7 Maths")
    await shot(teacher, "day-teacher-managed-laptop.png")
    tlog.check()
    slog.check()


async def test_a_lecture_ends_by_duration_while_a_link_is_cut(box: Box, browser: Any) -> None:
    """The student's page shows "ends at", loses its link, the lecture ends by itself meanwhile;
    when the link returns the page shows it ended (time up), and the teacher's page says so."""
    s = await seed(box)
    logs: list[PageLog] = []
    proxy = await LinkProxy(box.proc.port).start()
    try:
        student, slog = await new_page(browser, "student (via proxy)", PHONE, logs)
        teacher, tlog = await new_page(browser, "teacher", LAPTOP, logs)
        await student_join(student, f"{proxy.url}/join/{s['join_code']}", "Amy Adams")
        await teacher_login(teacher, box.url)
        lecture = await box.post("/api/lecture/start", {
            "class_id": s["class_id"], "section_id": s["section_id"], "subject": "Science",
            "title": "Leaves", "duration_minutes": 1})  # the shortest: a real minute
        ends = local_clock(lecture["planned_end"])
        await expect(student.locator("#live .ends-at")).to_have_text(ends)
        await expect(teacher.locator(".live-panel .ends-at")).to_have_text(ends)

        await proxy.cut()
        await expect(student.locator("#conn")).not_to_have_attribute("data-status", "connected")
        for _ in range(400):
            if (await box.get("/api/lectures"))["live"] == []:
                break
            await asyncio.sleep(0.2)
        assert (await box.get("/api/lectures"))["ended"][0]["ended_by"] == "duration"
        await expect(student.locator("#live .lecture-title")).to_have_text("Leaves")  # not yet
        await proxy.restore()
        await expect(student.locator("#conn")).to_have_attribute("data-status", "connected",
                                                                 timeout=15_000)
        await expect(student.locator("#live")).to_contain_text("No lecture right now")
        await expect(student.locator("#ended .row-title")).to_have_text("Leaves")
        await expect(student.locator("#notices .notice-text").first).to_have_text(
            "Lecture ended (time is up): Leaves")
        await expect(teacher.locator(".section-notice")).to_have_text(
            "“Leaves” ended by itself: its time was up.")
        slog.check(allow_network=True)
        tlog.check()
    finally:
        await proxy.close()


async def test_attendance_in_today_and_history_and_the_csv(box: Box, browser: Any) -> None:
    """Amy attends (her page is open), Ben never connects: Today's ended lecture and History
    both show present / absent with names, and the CSV downloads with those rows."""
    s = await seed(box, ("Ben Brown",))
    logs: list[PageLog] = []
    amy, alog = await new_page(browser, "amy", PHONE, logs)
    await student_join(amy, f"{box.url}/join/{s['join_code']}", "Amy Adams")
    lecture = await box.post("/api/lecture/start", {
        "class_id": s["class_id"], "section_id": s["section_id"], "subject": "Science",
        "title": "Roots"})
    await asyncio.sleep(1.5)
    await box.post("/api/lecture/end", {"session_id": lecture["session_id"]})

    teacher, tlog = await new_page(browser, "teacher", LAPTOP, logs, accept_downloads=True)
    await teacher_login(teacher, box.url)
    today = teacher.locator(".section-card .row-ended")
    await today.get_by_text("Attendance").click()
    await expect(today.locator("[data-status=present] li")).to_have_text(
        [re.compile(r"^Amy Adams · \d+(\.\d)? min$")])
    await expect(today.locator("[data-status=absent] li")).to_have_text(["Ben Brown"])

    await teacher.get_by_role("button", name="History").click()
    row = teacher.locator("#history .row-ended")
    await expect(row.locator(".row-title")).to_have_text("Roots")
    await expect(row.locator("summary")).to_have_text(
        "Attendance: 1 present · 0 late · 1 absent")
    await row.locator("summary").click()
    async with teacher.expect_download() as info:
        await row.get_by_role("link", name="Download CSV").click()
    download = await info.value
    assert re.fullmatch(r"attendance-\d{4}-\d\d-\d\d-\d+\.csv", download.suggested_filename)
    raw = open(await download.path(), "rb").read()  # noqa: ASYNC230 (a local temp file)
    assert raw.startswith(b"\xef\xbb\xbfstudent_id,name,status,first_seen,last_seen,")
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
    assert [(r["name"], r["status"]) for r in rows] == [("Amy Adams", "present"),
                                                        ("Ben Brown", "absent")]
    await shot(teacher, "day-teacher-history-laptop.png")
    tlog.check()
    alog.check()


async def test_polish_a_new_teacher_tripped_over(box: Box, browser: Any) -> None:
    """End asks first; progress says to how many it went; "ends at" and time left round up;
    times carry no leading zero; scheduling over a live lecture warns; a missed schedule is
    told to the teacher; the schedule form has a default time and clears after use; on a phone
    the live lecture comes before the notices; the offline banner's time is the last sync."""
    s = await seed(box)
    logs: list[PageLog] = []
    proxy = await LinkProxy(box.proc.port).start()
    try:
        await polish_steps(box, browser, s, proxy, logs)
    finally:
        await proxy.close()


async def polish_steps(box: Box, browser: Any, s: dict[str, Any], proxy: LinkProxy,
                       logs: list[PageLog]) -> None:
    teacher, tlog = await new_page(browser, "teacher", LAPTOP, logs)
    student, slog = await new_page(browser, "student (via proxy)", PHONE, logs)
    await student_join(student, f"{proxy.url}/join/{s['join_code']}", "Amy Adams")
    await teacher_login(teacher, box.url)
    card = teacher.locator(".section-card").first
    await card.get_by_label("Subject").first.fill("Science")
    await card.get_by_label("Title").first.fill("Roots")
    await card.get_by_label("Length (minutes)").first.fill("30")
    await card.get_by_role("button", name="Start lecture").click()
    panel = card.locator(".live-panel")
    await expect(panel.locator(".time-left")).to_have_text("30 min")  # 29:59 left says 30
    live = (await box.get("/api/lectures"))["live"][0]
    assert not re.match(r"0\d:", local_clock(live["planned_end"]))  # "9:05", never "09:05"
    await expect(panel.locator(".ends-at")).to_have_text(local_clock(live["planned_end"]))

    await panel.get_by_role("button", name="Update progress").click()
    await expect(panel.locator(".sent-note")).to_have_text("Sent to 1 student online")

    # scheduling over the live lecture warns first; the second press schedules
    await card.get_by_text("Schedule a lecture for later").click()
    form = card.locator("form[data-form=schedule]")
    default = await form.get_by_label("Starts at").input_value()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:(00|15|30|45)", default), default
    await form.get_by_label("Subject").fill("Science")
    await form.get_by_label("Title").fill("Stems")
    await form.get_by_label("Length (minutes)").fill("20")
    await form.get_by_role("button", name="Schedule").click()
    await expect(form.locator(".form-error")).to_contain_text("“Roots” is live until")
    assert (await box.get("/api/lectures"))["scheduled"] == []
    await form.get_by_role("button", name="Schedule").click()
    await expect(card.locator("[data-schedule-id] .row-title")).to_have_text("Stems")
    for label in ("Subject", "Title", "Length (minutes)"):
        await expect(form.get_by_label(label)).to_have_value("")
    await expect(form.get_by_label("Starts at")).not_to_have_value("")

    # a schedule that comes due while the section is busy: missed, and the teacher is told why
    soon = (datetime.now(UTC) + timedelta(seconds=3)).isoformat()
    await box.post("/api/lecture/schedule", {
        "class_id": s["class_id"], "section_id": s["section_id"], "subject": "Science",
        "title": "Seeds", "scheduled_time": soon})
    await expect(card.locator(".section-notice").first).to_have_text(re.compile(
        r"^“Seeds” \(\d{1,2}:\d\d\) was missed: another lecture was live in this section"))
    await expect(student.locator("#notices .notice-text").first).to_have_text(
        "Lecture did not start: Seeds")

    # end asks first: "Keep going" keeps it live
    await panel.get_by_role("button", name="End lecture").click()
    await teacher.locator("dialog.confirm-dialog").get_by_role("button", name="Keep going").click()
    await expect(teacher.locator("dialog.confirm-dialog")).to_have_count(0)
    assert len((await box.get("/api/lectures"))["live"]) == 1
    await expect(panel).to_be_visible()

    # on a phone the live lecture comes before the notices (four of them by now)
    await expect(student.locator("#notices .notice")).to_have_count(4)
    top = await student.locator("#live .live-card").bounding_box()
    first_notice = await student.locator("#notices .notice").first.bounding_box()
    assert top and first_notice and top["y"] < first_notice["y"] and top["y"] < PHONE["height"] / 2

    # the offline banner's time is when the page last knew it was in step, not the last event
    last_event = datetime.now(UTC)
    await asyncio.sleep(2)
    await proxy.cut()
    await expect(student.locator("#stale")).to_contain_text("Showing saved information from")
    saved = await student.evaluate(
        "() => JSON.parse(localStorage.getItem(Object.keys(localStorage)"
        ".find((k) => k.startsWith('classroom-box:stream:')))).saved_at")
    assert from_iso(saved) > last_event + timedelta(seconds=1.5), (saved, last_event)
    await proxy.restore()
    await expect(student.locator("#conn")).to_have_attribute("data-status", "connected",
                                                             timeout=20_000)

    await panel.get_by_role("button", name="End lecture").click()
    await confirm(teacher, "End lecture")
    await expect(card.locator(".live-slot")).to_be_hidden()
    tlog.check(allow_network=True)
    slog.check(allow_network=True)


async def test_setup_page_says_the_password_rule_once(fresh_box: BoxProcess,
                                                      browser: Any) -> None:
    logs: list[PageLog] = []
    page, log = await new_page(browser, "setup", PHONE, logs)
    text = fresh_box.log.read_text()
    token = text.split("/setup?token=")[1].split()[0]
    await page.goto(f"{fresh_box.url}/setup?token={token}")
    await page.locator("#setup-password").fill("short")
    await page.get_by_role("button", name=re.compile("Create")).click()
    await expect(page.locator("#setup-password-error")).to_be_visible()
    visible = await page.get_by_text(re.compile("8 characters")).evaluate_all(
        "(els) => els.filter((e) => e.offsetParent !== null).map((e) => e.textContent)")
    assert len(visible) == 1, visible
    async with httpx.AsyncClient(base_url=fresh_box.url) as http:
        assert (await http.get("/api/setup")).json()["needed"] is True
    log.check()
