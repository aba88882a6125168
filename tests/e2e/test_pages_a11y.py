"""Accessibility and the teacher's remaining flows, in Debian's headless Chromium against the box.

- An automated audit with axe-core of the student and teacher pages in their main states, light
  and dark, phone and laptop width: no violation of impact "serious" or "critical" (colour
  contrast included). No rule is disabled.
- Keyboard: joining and signing in with the keyboard only, tabbing through a section's controls,
  and every focused control showing a focus ring that differs from its unfocused look and has at
  least 3:1 contrast with what is behind it (WCAG 1.4.11 / 2.4.7).
- The teacher's flows not covered by test_pages_browser.py: schedule and cancel, change the
  length, sign out, double clicks, a server error shown on the page, an unknown join code, and the
  teacher's own reconnect.

axe-core comes from npm (`axe-core@4`), installed once into ~/.cache/classroom-box-tests/axe (or
$CLASSROOM_BOX_AXE_DIR). It is *not* injected with `page.add_script_tag`: that adds an inline
<script>, which the pages' CSP (`script-src 'self'`) rightly blocks. The test evaluates the file's
source through the DevTools protocol instead (`page.evaluate`), which CSP does not govern, so the
pages are audited under their real CSP, not a relaxed one.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser_support import (  # noqa: F401  (the *_fixture names are fixtures)
    ARTIFACTS,
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
    clock,
    confirm,
    expect,
    new_page,
    shot,
    teacher_login,
    watched_page,
)

pytestmark = BROWSER_MARKS

NARROWEST = {"width": 320, "height": 640}

#: The innermost elements that stick out on the right (to say what overflows).
TOO_WIDE = """() => [...document.querySelectorAll('body *')]
  .filter((e) => e.getBoundingClientRect().right > window.innerWidth + 0.5
    && ![...e.children].some((c) => c.getBoundingClientRect().right > window.innerWidth + 0.5))
  .slice(0, 6)
  .map((e) => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + '.' + e.className
    + ' ' + Math.round(e.getBoundingClientRect().right))"""

AXE_DIR = Path(os.environ.get("CLASSROOM_BOX_AXE_DIR",
                              Path.home() / ".cache" / "classroom-box-tests" / "axe"))
AXE_JS = AXE_DIR / "node_modules" / "axe-core" / "axe.min.js"

#: axe rules that are wrong for a documented reason, id -> why. Empty: none is needed.
AXE_RULE_EXCEPTIONS: dict[str, str] = {}

#: Chromium's console line for an HTTP error answer (the 404 of an unknown join code is expected).
HTTP_404 = re.compile(r"Failed to load resource: the server responded with a status of 404")


# ---------------------------------------------------------------------------------- axe

@pytest.fixture(scope="module")
def axe_source() -> str:
    if not AXE_JS.exists():
        npm = shutil.which("npm")
        assert npm, "npm is needed to install axe-core for the accessibility audit"
        AXE_DIR.mkdir(parents=True, exist_ok=True)
        subprocess.run([npm, "install", "--no-audit", "--no-fund", "--silent", "axe-core@4"],
                       cwd=AXE_DIR, check=True, timeout=180, capture_output=True)
    return AXE_JS.read_text()


AXE_RUN = """async () => {
  const r = await axe.run(document, {resultTypes: ['violations']});
  return {
    contrastChecked: r.passes.some((p) => p.id === 'color-contrast')
      || r.violations.some((v) => v.id === 'color-contrast'),
    violations: r.violations.map((v) => ({
      id: v.id, impact: v.impact, help: v.help,
      nodes: v.nodes.map((n) => n.target.join(' ') + ': ' + (n.failureSummary || '')),
    })),
  };
}"""


async def audit(page: Any, axe_js: str, where: str) -> list[str]:
    """Run axe on the page as it is now; returns the serious/critical violations, readable."""
    if not await page.evaluate("() => typeof window.axe === 'object'"):
        await page.evaluate(axe_js)  # (not add_script_tag: see the module docstring)
    result = await page.evaluate(AXE_RUN)
    assert result["contrastChecked"], f"{where}: axe did not check colour contrast at all"
    return [f"{where}: [{v['impact']}] {v['id']} ({v['help']}): " + " | ".join(v["nodes"][:5])
            for v in result["violations"]
            if v["impact"] in ("serious", "critical") and v["id"] not in AXE_RULE_EXCEPTIONS]


async def audit_all(pages: list[tuple[Any, str]], axe_js: str, found: list[str]) -> None:
    """Audit each page in light and dark, at phone and laptop width; and at 320 px nothing may
    force sideways scrolling."""
    for page, what in pages:
        await page.set_viewport_size(NARROWEST)
        if not await page.evaluate(NO_SIDEWAYS_SCROLL):
            wide = await page.evaluate(TOO_WIDE)
            await shot(page, f"a11y-overflow-{len(found)}.png")
            found.append(f"{what}: scrolls sideways at 320 px: {wide}")
    for scheme in ("light", "dark"):
        for size in (PHONE, LAPTOP):
            for page, what in pages:
                await page.emulate_media(color_scheme=scheme)
                await page.set_viewport_size(size)
                found += await audit(page, axe_js, f"{what} ({scheme}, {size['width']} px)")


# ---------------------------------------------------------------------------------- setup

async def seed(box: Box, name: str = "Grade 7 Science") -> dict[str, Any]:
    """A class with one section; returns {class_id, section_id, join_code, base}."""
    await box.login()
    cls = await box.post("/api/classes", {"name": name, "sections": ["A"]})
    s = cls["sections"][0]
    base = {"class_id": cls["class_id"], "section_id": s["section_id"]}
    return {**base, "join_code": s["join_code"], "base": base}


def later(minutes: int) -> dt.datetime:
    return (dt.datetime.now() + dt.timedelta(minutes=minutes)).replace(second=0, microsecond=0)


async def join(page: Any, url: str, code: str, name: str) -> None:
    await page.goto(f"{url}/join/{code}")
    await page.get_by_label("Your name").fill(name)
    await page.get_by_role("button", name="Join class").click()
    await expect(page.locator("#conn")).to_have_attribute("data-status", "connected")


class HeldSocket:
    """Routes a page's Socket.IO WebSocket through Playwright so the box's frames to the page can
    be held back (as if that tab had not heard of a change yet) and released later."""

    def __init__(self) -> None:
        self.holding = False
        self.held: list[tuple[Any, str | bytes]] = []

    async def attach(self, page: Any) -> None:
        async def handler(ws: Any) -> None:
            server = ws.connect_to_server()
            ws.on_message(lambda m: server.send(m))

            def from_box(m: str | bytes) -> None:
                if self.holding:
                    self.held.append((ws, m))
                else:
                    ws.send(m)
            server.on_message(from_box)

        await page.route_web_socket(re.compile(r"/socket\.io/"), handler)

    def release(self) -> None:
        self.holding = False
        for ws, m in self.held:
            ws.send(m)
        self.held.clear()


# ---------------------------------------------------------------------------------- focus

#: The focus look of an element: outline, box-shadow, border colour; and the contrast of its ring
#: against the nearest opaque background behind it. Colours are resolved with a 1x1 canvas, which
#: understands every CSS colour syntax the computed style may use (rgb, color(), color-mix).
FOCUS_LOOK = """(el) => {
  const ctx = document.createElement('canvas').getContext('2d', {willReadFrequently: true});
  const rgba = (c) => {
    ctx.clearRect(0, 0, 1, 1);
    ctx.fillStyle = '#0000';
    ctx.fillStyle = c;
    ctx.fillRect(0, 0, 1, 1);
    const d = ctx.getImageData(0, 0, 1, 1).data;
    return [d[0], d[1], d[2], d[3] / 255];
  };
  const over = (top, under) => top.slice(0, 3).map((v, i) => v * top[3] + under[i] * (1 - top[3]));
  const lum = (rgb) => {
    const [r, g, b] = rgb.map((v) => {
      const s = v / 255;
      return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const layers = [];
  for (let n = el.parentElement; n; n = n.parentElement) {
    const c = rgba(getComputedStyle(n).backgroundColor);
    if (c[3] > 0) layers.push(c);
    if (c[3] >= 1) break;
  }
  let bg = [255, 255, 255];
  for (const c of layers.reverse()) bg = over(c, bg);
  const cs = getComputedStyle(el);
  const ring = over(rgba(cs.outlineColor), bg);
  const l1 = lum(ring), l2 = lum(bg);
  const rect = el.getBoundingClientRect();
  return {
    tag: el.tagName.toLowerCase(), id: el.id,
    text: (el.innerText || el.getAttribute('aria-label') || el.name || '').trim().slice(0, 40),
    outline: cs.outlineStyle + ' ' + cs.outlineWidth + ' ' + cs.outlineColor,
    outlineWidth: cs.outlineStyle === 'none' ? 0 : parseFloat(cs.outlineWidth),
    boxShadow: cs.boxShadow, border: cs.borderColor,
    ringContrast: (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05),
    visible: rect.width > 0 && rect.height > 0,
  };
}"""


class FocusWalk:
    """Tab through a page, checking at each stop that the focused element shows its focus."""

    walks = 0

    def __init__(self, page: Any, where: str) -> None:
        self.page, self.where = page, where
        FocusWalk.walks += 1
        self.tag = f"w{FocusWalk.walks}"
        self.stops: list[dict[str, Any]] = []
        self.problems: list[str] = []

    async def here(self, end_ok: bool = False) -> dict[str, Any]:
        """Record the focused element (tagging it so its unfocused look can be read later).
        With end_ok, focus having left the document gives {} instead of failing."""
        look = await self._look_active(len(self.stops))
        if look is None and end_ok:
            return {}
        assert look is not None, f"{self.where}: nothing is focused"
        self.stops.append(look)
        return look

    async def _look_active(self, i: int) -> dict[str, Any] | None:
        handle = await self.page.evaluate_handle("() => document.activeElement")
        el = handle.as_element()
        if el is None or await el.evaluate("(e) => e === document.body"):
            return None
        await el.evaluate("(e, i) => { e.dataset.kbStop = i; }", f"{self.tag}-{i}")
        return await el.evaluate(FOCUS_LOOK)

    def stop(self, i: int) -> Any:
        """The element of stop i."""
        return self.page.locator(f"[data-kb-stop='{self.tag}-{i}']")

    async def tab(self, shift: bool = False, end_ok: bool = False) -> dict[str, Any]:
        await self.page.keyboard.press("Shift+Tab" if shift else "Tab")
        return await self.here(end_ok)

    async def check(self) -> None:
        """Compare each stop's focused look with its look now (unfocused); the ring must be there,
        differ from the unfocused look and contrast 3:1 with the background."""
        for i, focused in enumerate(self.stops):
            el = self.stop(i)
            if await el.count() != 1 or await el.evaluate("(e) => e === document.activeElement"):
                continue
            plain = await el.evaluate(FOCUS_LOOK)
            name = f"{self.where}: <{focused['tag']}> {focused['id'] or focused['text']!r}"
            changed = (focused["outline"] != plain["outline"]
                       or focused["boxShadow"] != plain["boxShadow"])
            if not focused["visible"]:
                self.problems.append(f"{name} is focused but not visible")
            elif not changed:
                self.problems.append(f"{name}: focus looks the same as no focus ({plain})")
            elif focused["outlineWidth"] < 2 and focused["boxShadow"] == plain["boxShadow"]:
                self.problems.append(f"{name}: focus ring thinner than 2 px ({focused['outline']})")
            elif focused["outlineWidth"] >= 2 and focused["ringContrast"] < 3:
                self.problems.append(f"{name}: focus ring contrast {focused['ringContrast']:.2f}"
                                     f" < 3:1 ({focused['outline']})")
        assert not self.problems, "\n".join(self.problems)


# ---------------------------------------------------------------------------------- tests

async def test_axe_finds_no_serious_violations_light_dark_phone_laptop(
        box: Box, browser: Any, axe_source: str) -> None:
    """axe-core on the student page (join form, join form with an error, unknown code, dashboard
    with a live, a scheduled and an ended lecture and a notice) and the teacher page (login form
    with the server's error, dashboard with a live lecture and every disclosure open, the QR view),
    each in light and dark at 390 and 1280 px: no serious or critical violation."""
    s = await seed(box)
    old = await box.post("/api/lecture/start", {**s["base"], "subject": "Maths",
                                                 "title": "Fractions", "duration_minutes": 30})
    await box.post("/api/lecture/end", {"session_id": old["session_id"],
                                         "summary": "Halves and quarters; homework page 12."})
    live = await box.post("/api/lecture/start", {**s["base"], "subject": "Science",
                                                  "title": "Photosynthesis",
                                                  "duration_minutes": 40})
    await box.post("/api/lecture/progress", {"session_id": live["session_id"], "progress": 45,
                                              "note": "Draw the leaf on page 14"})
    await box.post("/api/lecture/schedule", {**s["base"], "subject": "Art", "title": "Colours",
                                              "scheduled_time": later(120).isoformat(),
                                              "duration_minutes": 30})
    logs: list[PageLog] = []
    found: list[str] = []
    # reduced motion: notices slide in, and axe must not measure a colour mid-animation
    student, slog = await new_page(browser, "student", PHONE, logs, reduced_motion="reduce")
    teacher, tlog = await new_page(browser, "teacher", LAPTOP, logs, reduced_motion="reduce")

    await student.goto(f"{box.url}/join/ZZZZZZ")
    await expect(student.get_by_role("heading", name="Enter your join code")).to_be_visible()
    await audit_all([(student, "student: unknown join code")], axe_source, found)
    await student.goto(f"{box.url}/join/{s['join_code']}")
    await student.get_by_role("button", name="Join class").click()
    await expect(student.locator("#join-name-error")).to_be_visible()
    await audit_all([(student, "student: join form with an error")], axe_source, found)

    await teacher.goto(box.url + "/teacher")
    await teacher.get_by_label("Username").fill("maria")
    await teacher.get_by_label("Password").fill("not the password")
    await teacher.get_by_role("button", name="Sign in").click()
    await expect(teacher.locator("#login-form .form-error")).to_have_text(
        "wrong username or password")
    await audit_all([(teacher, "teacher: login form with the server's error")], axe_source, found)

    await student.get_by_label("Your name").fill("Amy Adams")
    await student.get_by_role("button", name="Join class").click()
    await expect(student.locator("#live .progress-value")).to_have_text("45%")
    await teacher_login(teacher, box.url)
    await expect(teacher.locator(".online-count")).to_have_text("1 student online")
    await box.post("/api/lecture/duration", {"session_id": live["session_id"],
                                              "duration_minutes": 50})
    await expect(student.locator("#notices .notice")).to_have_count(1)
    await expect(student.locator("#scheduled .row-card")).to_have_count(1)
    await expect(student.locator("#ended .row-card")).to_have_count(1)
    for summary in await teacher.locator("details.disclosure > summary").all():
        await summary.click()
    await expect(teacher.locator(".roster-name")).to_have_text(["Amy Adams"])
    await audit_all([(student, "student: dashboard"), (teacher, "teacher: dashboard")],
                    axe_source, found)

    await teacher.emulate_media(color_scheme="light")
    await teacher.set_viewport_size(NARROWEST)
    await teacher.locator("form[data-form=schedule]").screenshot(
        path=str(ARTIFACTS / "a11y-teacher-schedule-form-320.png"), animations="disabled")
    await teacher.set_viewport_size(LAPTOP)
    await teacher.get_by_role("button", name="Show QR code").click()
    await teacher.wait_for_function("() => document.querySelector('#qr-img').naturalWidth > 0")
    await audit_all([(teacher, "teacher: QR view")], axe_source, found)

    assert not found, "axe found serious/critical violations:\n" + "\n".join(found)
    for log in logs:
        log.errors = [e for e in log.errors if not HTTP_404.search(e)
                      and "401 (Unauthorized)" not in e]
        log.check()


async def test_keyboard_only_join_with_visible_focus(box: Box, browser: Any) -> None:
    """The join page with the keyboard only: the name field has focus on arrival; Tab from the top
    of the page reaches the name field, then the join button; typing and Enter join. Every stop
    shows a visible focus ring (light and dark)."""
    s = await seed(box)
    logs: list[PageLog] = []
    for scheme in ("light", "dark"):
        page, log = await new_page(browser, f"student ({scheme})", PHONE, logs,
                                   color_scheme=scheme)
        await page.goto(f"{box.url}/join/{s['join_code']}")
        await expect(page.get_by_role("heading", name="Join your class")).to_be_visible()
        assert await page.evaluate("() => document.activeElement.id") == "join-name"

        walk = FocusWalk(page, f"join page ({scheme})")
        # start from the top: a click on the empty top-left corner of the bar moves the
        # sequential-focus starting point there (blur() would leave it on the name field)
        await page.mouse.click(2, 2)
        order: list[str] = []
        for _ in range(8):
            stop = await walk.tab()
            order.append(stop["id"] or stop["text"])
            if stop["text"] == "Join class":
                break
        assert "join-name" in order and order[-1] == "Join class", order
        assert order.index("join-name") < len(order) - 1, order
        await walk.tab(shift=True)
        assert walk.stops[-1]["id"] == "join-name"
        await page.keyboard.type(f"Kim {scheme}")
        await page.locator("#join-form").screenshot(
            path=str(ARTIFACTS / f"a11y-focus-name-{scheme}.png"), animations="disabled")
        await walk.tab()
        await walk.check()
        await page.keyboard.press("Enter")
        await expect(page.locator("#dash-who")).to_have_text(
            f"Section A · Signed in as Kim {scheme}")
        await expect(page.locator("#conn")).to_have_attribute("data-status", "connected")
        log.check()


async def test_keyboard_only_teacher_sign_in_and_section_controls(box: Box, browser: Any) -> None:
    """The teacher page with the keyboard only: sign in with Tab, typing and Enter; Tab through a
    section's controls (with a live lecture), each with a visible focus ring, in light and dark;
    Enter on "Show QR code" opens the projector view with focus on Close, Escape closes it and
    focus returns to the button."""
    s = await seed(box)
    await box.post("/api/lecture/start", {**s["base"], "subject": "Science",
                                           "title": "Photosynthesis", "duration_minutes": 40})
    logs: list[PageLog] = []
    page, log = await new_page(browser, "teacher", LAPTOP, logs)
    await page.goto(box.url + "/teacher")
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    walk = FocusWalk(page, "login")
    stop = await walk.tab()
    assert stop["id"] == "login-username", stop
    await page.keyboard.type("maria")
    stop = await walk.tab()
    assert stop["id"] == "login-password", stop
    await page.keyboard.type(PASSWORD)
    stop = await walk.tab()
    assert stop["text"] == "Sign in", stop
    await walk.check()
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", name="Your classes")).to_be_visible()
    await expect(page.locator(".live-panel")).to_be_visible()
    await expect(page.locator("#conn")).to_have_attribute("data-status", "connected")

    for scheme in ("light", "dark"):
        await page.emulate_media(color_scheme=scheme)
        await page.locator("h1", has_text="Your classes").focus()
        walk = FocusWalk(page, f"section controls ({scheme})")
        reached: list[str] = []
        for _ in range(40):
            stop = await walk.tab(end_ok=True)
            inside = bool(stop) and await page.evaluate(
                "() => !!document.activeElement.closest('.section-card')")
            if not inside and reached:
                break
            if inside:
                reached.append(stop["text"] or stop["tag"])
        for control in ("Show QR code", "Copy link", "Update progress", "Change length",
                        "End lecture", "Schedule a lecture for later", "Students (0 online)"):
            assert control in reached, (control, reached)
        assert "range" in [await walk.stop(i).get_attribute("type")
                           for i in range(len(walk.stops))]
        await walk.check()

    qr = page.get_by_role("button", name="Show QR code")
    await qr.focus()
    await page.keyboard.press("Enter")
    dialog = page.locator("#qr-dialog")
    await expect(dialog).to_be_visible()
    await expect(page.get_by_role("button", name="Close")).to_be_focused()
    await page.keyboard.press("Escape")
    await expect(dialog).to_be_hidden()
    await expect(qr).to_be_focused()
    log.check()


async def test_schedule_cancel_and_change_length_reach_the_student_live(
        box: Box, browser: Any) -> None:
    """In the teacher's page: schedule a lecture for later (the student sees it with a countdown
    and a notice, without reloading), cancel it (it disappears from the student's page, with a
    notice), start one and change its length (the student's Length and Time left follow)."""
    s = await seed(box)
    logs: list[PageLog] = []
    teacher, tlog = await new_page(browser, "teacher", LAPTOP, logs)
    student, slog = await new_page(browser, "student", PHONE, logs)
    await join(student, box.url, s["join_code"], "Amy Adams")
    await teacher_login(teacher, box.url)
    card = teacher.locator(".section-card").first
    await expect(student.locator("#scheduled")).to_have_text("Nothing scheduled.")

    # ---- schedule for later
    at = later(121)
    await card.get_by_text("Schedule a lecture for later").click()
    form = card.locator("form[data-form=schedule]")
    # validated in the page before anything is sent: each field says what is wrong
    await form.get_by_role("button", name="Schedule").click()
    # (the time has a default: the next quarter hour at least five minutes ahead)
    await expect(form.locator(".field-error:visible")).to_have_text(
        ["Subject is required.", "Title is required."])
    await expect(form.get_by_label("Subject")).to_be_focused()
    await form.get_by_label("Starts at").fill(later(-5).strftime("%Y-%m-%dT%H:%M"))
    await form.get_by_role("button", name="Schedule").click()
    await expect(form.locator(".field-error:visible").last).to_have_text(
        "Pick a time in the future.")
    assert (await box.get("/api/lectures"))["scheduled"] == []
    await form.get_by_label("Subject").fill("Art")
    await form.get_by_label("Title").fill("Colours")
    await form.get_by_label("Starts at").fill(at.strftime("%Y-%m-%dT%H:%M"))
    await form.get_by_label("Length (minutes)").fill("30")
    await form.get_by_role("button", name="Schedule").click()
    row = student.locator("#scheduled .row-card")
    await expect(row.locator(".row-title")).to_have_text("Colours")
    # (late in the evening the time carries its date: "Thu 26 Nov, 00:15")
    await expect(row.locator(".row-meta")).to_have_text(
        re.compile(rf"^Art · (.+, )?{clock(at)} · 30 min$"))
    await expect(row.locator(".countdown")).to_have_text(re.compile(r"^Starts in 2 h 0\d min$"))
    await expect(student.locator("#notices .notice-text").first).to_have_text(
        re.compile(rf"^Lecture scheduled: Colours at (.+, )?{clock(at)}$"))
    await expect(card.locator("[data-schedule-id] .row-title")).to_have_text("Colours")
    await shot(student, "a11y-student-scheduled-phone.png")

    # ---- cancel it
    await card.get_by_role("button", name="Cancel Colours").click()
    await expect(row).to_have_count(0)
    await expect(student.locator("#scheduled")).to_have_text("Nothing scheduled.")
    await expect(student.locator("#notices .notice-text").first).to_have_text(
        "Lecture cancelled: Colours")
    await expect(card.locator("[data-schedule-id]")).to_have_count(0)
    assert [x["status"] for x in (await box.get("/api/lectures"))["scheduled"]] in (
        [], ["cancelled"])

    # ---- start one, change its length
    start = card.locator("form[data-form=start]")
    await start.get_by_label("Subject").fill("Science")
    await start.get_by_label("Title").fill("Photosynthesis")
    await start.get_by_label("Length (minutes)").fill("40")
    await start.get_by_role("button", name="Start lecture").click()
    facts = student.locator("#live .facts")
    await expect(facts.locator("div", has_text="Length").locator("dd")).to_have_text("40 min")
    await expect(facts.locator(".time-left")).to_have_text(re.compile(r"^(39|40) min$"))
    length = card.locator("form[data-form=duration]")
    await length.get_by_label("Length (minutes)").fill("55")
    await length.get_by_role("button", name="Change length").click()
    await expect(facts.locator("div", has_text="Length").locator("dd")).to_have_text("55 min")
    await expect(facts.locator(".time-left")).to_have_text(re.compile(r"^(54|55) min$"))
    await expect(student.locator("#notices .notice-text").first).to_have_text(
        "New length for Photosynthesis: 55 min")
    await expect(card.locator(".live-panel .facts dd").nth(1)).to_have_text("55 min")
    # a length the box would refuse is caught in the page, with the reason
    await length.get_by_label("Length (minutes)").fill("601")
    await length.get_by_role("button", name="Change length").click()
    await expect(length.locator(".field-error")).to_have_text(
        "Enter whole minutes from 1 to 600.")
    live = (await box.get("/api/lectures"))["live"]
    assert [x["duration_minutes"] for x in live] == [55]
    tlog.check()
    slog.check()


async def test_double_clicks_submit_once_and_sign_out_ends_the_login(
        box: Box, browser: Any) -> None:
    """A double click on "Create class", "Schedule" and "Start lecture" sends one request each
    (checked through the API); "Sign out" goes back to the login form and the old login cookie
    no longer works (/api/me answers 401)."""
    await box.login()
    logs: list[PageLog] = []
    teacher, tlog = await new_page(browser, "teacher", LAPTOP, logs)
    await teacher_login(teacher, box.url)

    await teacher.get_by_role("button", name="New class").click()
    await teacher.get_by_label("Class name").fill("Grade 8 History")
    await teacher.get_by_label("Sections").fill("A")
    await teacher.get_by_role("button", name="Create class").dblclick()
    card = teacher.locator(".section-card")
    await expect(card).to_have_count(1)
    await asyncio.sleep(0.3)  # a second request, if any, would have landed by now
    classes = (await box.get("/api/classes"))["classes"]
    assert [c["name"] for c in classes] == ["Grade 8 History"]

    await card.get_by_text("Schedule a lecture for later").click()
    form = card.locator("form[data-form=schedule]")
    await form.get_by_label("Subject").fill("History")
    await form.get_by_label("Title").fill("The Romans")
    await form.get_by_label("Starts at").fill(later(90).strftime("%Y-%m-%dT%H:%M"))
    await form.get_by_role("button", name="Schedule").dblclick()
    await expect(card.locator("[data-schedule-id]")).to_have_count(1)

    start = card.locator("form[data-form=start]")
    await start.get_by_label("Subject").fill("History")
    await start.get_by_label("Title").fill("The Greeks")
    await start.get_by_role("button", name="Start lecture").dblclick()
    await expect(card.locator(".live-panel")).to_be_visible()
    await asyncio.sleep(0.3)
    await expect(start.locator(".form-error")).to_be_hidden()  # no "already live" from a 2nd
    state = await box.get("/api/lectures")
    assert len(state["scheduled"]) == 1 and len(state["live"]) == 1, state

    # ---- sign out
    cookie = {c["name"]: c["value"] for c in await teacher.context.cookies()}["cb_session"]
    await teacher.get_by_role("button", name="Sign out").click()
    await expect(teacher.get_by_role("heading", name="Sign in")).to_be_visible()
    await expect(teacher.get_by_label("Username")).to_be_visible()
    await expect(teacher.locator("#logout")).to_be_hidden()
    await expect(teacher.locator("#conn")).to_be_hidden()
    async with httpx.AsyncClient(base_url=box.url) as anon:
        r = await anon.get("/api/me", headers={"Cookie": f"cb_session={cookie}"})
        assert r.status_code == 401, r.text
    await teacher.reload()
    await expect(teacher.get_by_role("heading", name="Sign in")).to_be_visible()
    tlog.check()


async def test_server_error_is_shown_when_another_tab_started_the_lecture(
        box: Box, browser: Any) -> None:
    """Two tabs of the same teacher: tab 2 starts a lecture while tab 1 has not heard of it yet
    (its socket's frames are held back); tab 1's "Start lecture" gets the box's 409 and shows its
    message on the page. Also a wrong password shows the box's message in the login form."""
    await seed(box)
    logs: list[PageLog] = []
    tab1, log1 = await new_page(browser, "teacher tab 1", LAPTOP, logs)
    held = HeldSocket()
    await held.attach(tab1)

    await tab1.goto(box.url + "/teacher")
    await tab1.get_by_label("Username").fill("maria")
    await tab1.get_by_label("Password").fill("wrong password")
    await tab1.get_by_role("button", name="Sign in").click()
    error = tab1.locator("#login-form .form-error")
    await expect(error).to_have_text("wrong username or password")
    await expect(tab1.get_by_label("Password")).to_be_visible()
    await tab1.get_by_label("Password").fill(PASSWORD)
    await tab1.get_by_role("button", name="Sign in").click()
    await expect(tab1.locator("#conn")).to_have_attribute("data-status", "connected")
    await expect(error).to_be_hidden()

    tab2, log2 = await watched_page(tab1.context, "teacher tab 2", logs)
    await tab2.goto(box.url + "/teacher")
    await expect(tab2.locator("#conn")).to_have_attribute("data-status", "connected")

    held.holding = True
    card1 = tab1.locator(".section-card").first
    start1 = card1.locator("form[data-form=start]")
    await start1.get_by_label("Subject").fill("Maths")
    await start1.get_by_label("Title").fill("Fractions")
    card2 = tab2.locator(".section-card").first
    await card2.get_by_label("Subject").first.fill("Science")
    await card2.get_by_label("Title").first.fill("Magnets")
    await card2.get_by_role("button", name="Start lecture").click()
    await expect(card2.locator(".live-panel .lecture-title")).to_have_text("Magnets")

    await start1.get_by_role("button", name="Start lecture").click()
    err = start1.locator(".form-error")
    await expect(err).to_have_text(re.compile(r"^this section already has a live lecture"))
    await expect(start1.get_by_role("button", name="Start lecture")).to_be_enabled()
    await shot(tab1, "a11y-teacher-409-laptop.png", full_page=False)
    held.release()
    await expect(card1.locator(".live-panel .lecture-title")).to_have_text("Magnets")
    live = (await box.get("/api/lectures"))["live"]
    assert [x["title"] for x in live] == ["Magnets"]
    # when that lecture ends, tab 1's start form comes back without the old error
    await card2.get_by_role("button", name="End lecture").click()
    await confirm(tab2, "End lecture")
    await expect(start1).to_be_visible()
    await expect(err).to_be_hidden()
    for log in logs:
        log.errors = [e for e in log.errors if "status of 401" not in e
                      and "status of 409" not in e]
        log.check()


async def test_unknown_join_code_says_so(box: Box, browser: Any) -> None:
    """/join/ZZZZZZ: a clear "no class with that code" message and a form to type another code
    (pre-filled), not a blank page or a script error."""
    s = await seed(box)
    logs: list[PageLog] = []
    page, log = await new_page(browser, "student", PHONE, logs)
    await page.goto(f"{box.url}/join/ZZZZZZ")
    await expect(page.get_by_role("heading", name="Enter your join code")).to_be_visible()
    await expect(page.locator("#code-reason")).to_have_text(
        "No class has the join code “ZZZZZZ” on this box. Check the code on the board and"
        " type it again.")
    code = page.get_by_label("Join code")
    await expect(code).to_have_value("ZZZZZZ")
    await shot(page, "a11y-unknown-code-phone.png")
    await code.fill(s["join_code"])
    await page.get_by_role("button", name="Continue").click()
    await expect(page.get_by_role("heading", name="Join your class")).to_be_visible()
    log.errors = [e for e in log.errors if not HTTP_404.search(e)]
    log.check()


async def test_teacher_reconnect_shows_new_progress_and_online_count(
        box: Box, browser: Any) -> None:
    """The teacher's own link is cut (TCP proxy) while a student joins and the lecture's progress
    changes through the API; when it comes back the teacher page shows the new progress and note
    and the right number of students online, without a reload."""
    s = await seed(box)
    lecture = await box.post("/api/lecture/start", {**s["base"], "subject": "Science",
                                                     "title": "Magnets", "duration_minutes": 30})
    logs: list[PageLog] = []
    proxy = await LinkProxy(box.proc.port).start()
    try:
        teacher, tlog = await new_page(browser, "teacher (via proxy)", LAPTOP, logs)
        await teacher_login(teacher, proxy.url)
        card = teacher.locator(".section-card").first
        panel = card.locator(".live-panel")
        await expect(panel.locator(".progress-value")).to_have_text("0%")
        await expect(card.locator(".online-count")).to_have_text("0 students online")

        await proxy.cut()
        await expect(teacher.locator("#conn")).to_have_attribute(
            "data-status", re.compile("reconnecting|offline"))
        student, slog = await new_page(browser, "student", PHONE, logs)
        await join(student, box.url, s["join_code"], "Ben Brown")
        await box.post("/api/lecture/progress", {"session_id": lecture["session_id"],
                                                  "progress": 70, "note": "Try the compass"})
        await expect(student.locator("#live .progress-value")).to_have_text("70%")
        await tlog.wait_network_error("/socket.io/")
        await expect(panel.locator(".progress-value")).to_have_text("0%")

        t0 = time.monotonic()
        await proxy.restore()
        await expect(teacher.locator("#conn")).to_have_attribute("data-status", "connected",
                                                                 timeout=15_000)
        await expect(panel.locator(".progress-value")).to_have_text("70%")
        await expect(panel.locator("input[type=range]")).to_have_value("70")
        await expect(panel.get_by_label("Note for students")).to_have_value("Try the compass")
        await expect(card.locator(".online-count")).to_have_text("1 student online")
        await card.locator(".roster-wrap summary").click()
        await expect(card.locator(".roster-name")).to_have_text(["Ben Brown"])
        assert time.monotonic() - t0 < 15
        tlog.check(allow_network=True)
        slog.check()
    finally:
        await proxy.close()


async def test_events_patch_rows_in_place_keeping_focus(box: Box, browser: Any) -> None:
    """Both pages patch lists in place: an event that changes one row leaves the others (and the
    element holding keyboard focus) alone, so a teacher tabbing to "Cancel" is not thrown back to
    the top of the page, and a student's live card is the same element after a progress update."""
    s = await seed(box)
    logs: list[PageLog] = []
    teacher, _ = await new_page(browser, "teacher", LAPTOP, logs)
    student, _ = await new_page(browser, "student", PHONE, logs)
    await join(student, box.url, s["join_code"], "Amy Adams")
    await teacher_login(teacher, box.url)
    card = teacher.locator(".section-card").first
    at = later(180).isoformat()
    await box.post("/api/lecture/schedule", {**s["base"], "subject": "Art", "title": "Colours",
                                             "scheduled_time": at})
    cancel = card.get_by_role("button", name="Cancel Colours")
    await cancel.focus()
    live = await box.post("/api/lecture/start", {**s["base"], "subject": "Maths", "title": "Sums"})
    await box.post("/api/lecture/schedule", {**s["base"], "subject": "Art", "title": "Shapes",
                                             "scheduled_time": later(240).isoformat()})
    await expect(card.locator("[data-schedule-id] .row-title")).to_have_text(["Colours", "Shapes"])
    await expect(cancel).to_be_focused()

    live_card = student.locator("#live .live-card")
    await expect(live_card.locator(".lecture-title")).to_have_text("Sums")
    handle = await live_card.element_handle()
    await box.post("/api/lecture/progress", {"session_id": live["session_id"], "progress": 60})
    await expect(live_card.locator(".progress-value")).to_have_text("60%")
    assert await handle.evaluate("el => el.isConnected")
