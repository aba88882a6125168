"""The pages in a real browser (Debian's headless Chromium via Playwright) against the real box.

Why a TCP proxy: a student's link is cut *outside* the browser. Playwright's `set_offline` does not
close open WebSockets (playwright issue 4910), so a test built on it would pass without testing
reconnect at all. `LinkProxy` sits between one browser context and the box; `cut()` resets every
open connection and stops listening (new connections are refused), `restore()` listens again on
the same port. The student page is loaded through the proxy's own origin, so everything that page
does (HTTP, Socket.IO polling and WebSocket) goes through it.

The box runs as its own process (`BoxProcess`), so the browser, the proxy and the test share one
event loop without the box in it.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers import free_port
from tests.process import BoxProcess, add_teacher

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
PASSWORD = "correct horse battery"
TIMEOUT_MS = 10_000

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(shutil.which(CHROMIUM) is None and not Path(CHROMIUM).exists(),
                       reason=f"{CHROMIUM} is not installed (apt-get install -y chromium)"),
]

playwright_api = pytest.importorskip("playwright.async_api")
expect = playwright_api.expect
expect.set_options(timeout=TIMEOUT_MS)

PHONE = {"width": 390, "height": 844}
LAPTOP = {"width": 1280, "height": 800}

#: Console errors a page may log while its link is cut (the browser reporting failed requests).
NETWORK_ERROR = re.compile(
    r"net::ERR_(CONNECTION_(REFUSED|RESET|CLOSED|ABORTED)|EMPTY_RESPONSE|FAILED|SOCKET_NOT_CONNECTED"
    r"|NETWORK_CHANGED|INTERNET_DISCONNECTED)|WebSocket connection to .* failed|Failed to fetch",
)


# ---------------------------------------------------------------------------------- the link

class LinkProxy:
    """A TCP forwarder to the box that can drop every connection and refuse new ones."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self.server: asyncio.Server | None = None
        self.links: set[asyncio.StreamWriter] = set()
        self.tasks: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> LinkProxy:
        self.server = await asyncio.start_server(self._accept, "127.0.0.1", self.port,
                                                 reuse_address=True)
        return self

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.transport.abort()
            return
        self.links.update((writer, up_writer))
        pumps = [asyncio.create_task(self._pump(reader, up_writer)),
                 asyncio.create_task(self._pump(up_reader, writer))]
        self.tasks.update(pumps)
        await asyncio.gather(*pumps, return_exceptions=True)
        self.tasks.difference_update(pumps)
        self.links.difference_update((writer, up_writer))

    @staticmethod
    async def _pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        try:
            while data := await src.read(65536):
                dst.write(data)
                await dst.drain()
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            with contextlib.suppress(Exception):
                if dst.can_write_eof():
                    dst.write_eof()

    async def cut(self) -> None:
        """Refuse new connections and reset every open one (both sides, RST not FIN)."""
        if self.server is not None:
            self.server.close()
            self.server = None
        for w in list(self.links):
            w.transport.abort()
        self.links.clear()

    async def restore(self) -> None:
        await self.start()

    async def close(self) -> None:
        await self.cut()
        for t in list(self.tasks):
            t.cancel()


# ---------------------------------------------------------------------------------- the box

@dataclass
class Box:
    proc: BoxProcess
    http: httpx.AsyncClient
    token: str = ""

    @property
    def url(self) -> str:
        return self.proc.url

    async def login(self, username: str = "maria") -> None:
        r = await self.http.post("/api/auth/login", json={"username": username,
                                                         "password": PASSWORD})
        assert r.status_code == 200, r.text
        self.token = r.json()["token"]

    async def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        r = await self.http.post(path, json=body,
                                 headers={"Authorization": f"Bearer {self.token}"})
        assert r.status_code in (200, 201), r.text
        return r.json()

    async def get(self, path: str, **params: Any) -> dict[str, Any]:
        r = await self.http.get(path, params=params,
                                headers={"Authorization": f"Bearer {self.token}"})
        assert r.status_code == 200, r.text
        return r.json()


@pytest.fixture
async def box(tmp_path: Path) -> AsyncIterator[Box]:
    data = tmp_path / "data"
    add_teacher(data, "maria", PASSWORD)
    proc = await asyncio.to_thread(BoxProcess(data).start)
    try:
        async with httpx.AsyncClient(base_url=proc.url, timeout=10) as http:
            yield Box(proc, http)
    finally:
        await asyncio.to_thread(proc.stop)


@pytest.fixture
async def fresh_box(tmp_path: Path) -> AsyncIterator[BoxProcess]:
    """A box with no teacher yet: it prints the one-time setup link."""
    proc = await asyncio.to_thread(BoxProcess(tmp_path / "data").start)
    try:
        yield proc
    finally:
        await asyncio.to_thread(proc.stop)


# ---------------------------------------------------------------------------------- the browser

@dataclass
class PageLog:
    """What a page said: console errors, uncaught exceptions, CSP violations."""

    name: str
    errors: list[str] = field(default_factory=list)
    network_errors: list[str] = field(default_factory=list)
    logged: asyncio.Event = field(default_factory=asyncio.Event)

    async def wait_network_error(self, needle: str) -> None:
        """Wait until the page logged a failed request mentioning needle (expect() can't see it)."""
        try:
            async with asyncio.timeout(TIMEOUT_MS / 1000):
                while not any(needle in e for e in self.network_errors):
                    self.logged.clear()
                    await self.logged.wait()
        except TimeoutError:
            raise AssertionError(f"{self.name}: no failed request to {needle!r}") from None

    def check(self, allow_network: bool = False) -> None:
        assert not self.errors, f"{self.name}: console errors / page errors: {self.errors}"
        if not allow_network:
            assert not self.network_errors, f"{self.name}: network errors: {self.network_errors}"


#: Reports CSP violations as console errors (init scripts run outside the page's CSP).
CSP_LISTENER = """
document.addEventListener('securitypolicyviolation', (e) => {
  console.error('CSP violation: ' + e.violatedDirective + ' blocked ' + e.blockedURI);
});
"""


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    async with playwright_api.async_playwright() as pw:
        b = await pw.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update"])
        try:
            yield b
        finally:
            await b.close()


async def new_page(browser: Any, name: str, viewport: dict[str, int],
                   logs: list[PageLog]) -> tuple[Any, PageLog]:
    context = await browser.new_context(viewport=viewport, locale="en-GB")
    context.set_default_timeout(TIMEOUT_MS)
    await context.add_init_script(CSP_LISTENER)
    page = await context.new_page()
    log = PageLog(name)
    logs.append(log)

    def on_console(msg: Any) -> None:
        if msg.type != "error":
            return
        text = f"{msg.text} @ {msg.location.get('url', '')}"
        if NETWORK_ERROR.search(msg.text):
            log.network_errors.append(text)
        else:
            log.errors.append(text)
        log.logged.set()

    page.on("console", on_console)
    page.on("pageerror", lambda exc: log.errors.append(f"pageerror: {exc}"))
    return page, log


async def teacher_login(page: Any, url: str) -> None:
    await page.goto(url + "/teacher")
    await page.get_by_label("Username").fill("maria")
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="Your classes")).to_be_visible()
    await expect(page.locator("#conn")).to_have_attribute("data-status", "connected")


async def create_class(page: Any, name: str, sections: str = "A") -> Any:
    """Create a class through the page; returns the first section's card."""
    await page.get_by_role("button", name="New class").click()
    await page.get_by_label("Class name").fill(name)
    await page.get_by_label("Sections").fill(sections)
    await page.get_by_role("button", name="Create class").click()
    card = page.locator(".section-card").first
    await expect(card.locator(".join-code")).to_have_text(re.compile(r"\S+"))
    return card


async def student_join(page: Any, join_url: str, name: str) -> None:
    await page.goto(join_url)
    await page.get_by_label("Your name").fill(name)
    await page.get_by_role("button", name="Join class").click()
    await expect(page.locator("#dash-who")).to_have_text(f"Section A · Signed in as {name}")
    await expect(page.locator("#conn")).to_have_attribute("data-status", "connected")


async def start_lecture(card: Any, subject: str, title: str, minutes: int) -> None:
    await card.get_by_label("Subject").first.fill(subject)
    await card.get_by_label("Title").first.fill(title)
    await card.get_by_label("Length (minutes)").first.fill(str(minutes))
    await card.get_by_role("button", name="Start lecture").click()
    await expect(card.locator(".live-slot")).to_be_visible()


async def shot(page: Any, name: str, full_page: bool = True) -> None:
    """Save a screenshot to tests/artifacts/ (git-ignored), from the top, animations finished."""
    ARTIFACTS.mkdir(exist_ok=True)
    await page.evaluate("() => window.scrollTo(0, 0)")
    await page.screenshot(path=str(ARTIFACTS / name), full_page=full_page, animations="disabled")




NO_SIDEWAYS_SCROLL = "() => document.scrollingElement.scrollWidth <= window.innerWidth"


def notice_texts(texts: list[str], prefix: str) -> list[str]:
    return [t for t in texts if t.startswith(prefix)]


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
        await expect(card.locator(".roster-item")).to_have_text(["Amy Adams", "Ben Brown"])

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
