"""Shared pieces of the browser tests: the box as a process, a TCP link that can be cut, headless
Chromium pages that record their console errors, and the page steps several tests take.

Why a TCP proxy: a page's link is cut *outside* the browser. Playwright's `set_offline` does not
close open WebSockets (playwright issue 4910), so a test built on it would pass without testing
reconnect at all. `LinkProxy` sits between one browser context and the box; `cut()` resets every
open connection and stops listening (new connections are refused), `restore()` listens again on
the same port. A page is loaded through the proxy's own origin, so everything that page does
(HTTP, Socket.IO polling and WebSocket) goes through it.

The box runs as its own process (`BoxProcess`), so the browser, the proxy and the test share one
event loop without the box in it.

Test modules import the fixtures they use (`box_fixture`, `fresh_box_fixture`, `browser_fixture`,
which pytest knows as `box`, `fresh_box`, `browser`) from here; they are not registered globally
because `tests/conftest.py` has its own in-process `box`.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
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

#: Put on every browser test module: `pytestmark = BROWSER_MARKS`.
BROWSER_MARKS = [
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


@pytest.fixture(name="box")
async def box_fixture(tmp_path: Path) -> AsyncIterator[Box]:
    data = tmp_path / "data"
    add_teacher(data, "maria", PASSWORD)
    proc = await asyncio.to_thread(BoxProcess(data).start)
    try:
        async with httpx.AsyncClient(base_url=proc.url, timeout=10) as http:
            yield Box(proc, http)
    finally:
        await asyncio.to_thread(proc.stop)


@pytest.fixture(name="fresh_box")
async def fresh_box_fixture(tmp_path: Path) -> AsyncIterator[BoxProcess]:
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


@pytest.fixture(name="browser")
async def browser_fixture() -> AsyncIterator[Any]:
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
                   logs: list[PageLog], **context_args: Any) -> tuple[Any, PageLog]:
    """A page in a fresh browser context (its own cookies and storage), watched by a PageLog.
    context_args go to `new_context` (e.g. color_scheme="dark")."""
    context = await browser.new_context(viewport=viewport, locale="en-GB", **context_args)
    context.set_default_timeout(TIMEOUT_MS)
    await context.add_init_script(CSP_LISTENER)
    return await watched_page(context, name, logs)


async def watched_page(context: Any, name: str, logs: list[PageLog]) -> tuple[Any, PageLog]:
    """Another page (tab) in a context, with its console errors recorded in a new PageLog."""
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


def clock(moment: Any) -> str:
    """A time as the pages show it in en-GB: "9:05", "20:14" (no leading zero on the hour)."""
    return f"{moment.hour}:{moment:%M}"


async def confirm(page: Any, button: str) -> None:
    """Answer the page's confirmation dialog (ui.js confirmDialog) with its confirming button."""
    dialog = page.locator("dialog.confirm-dialog")
    await expect(dialog).to_be_visible()
    await dialog.get_by_role("button", name=button).click()
    await expect(dialog).to_have_count(0)


async def shot(page: Any, name: str, full_page: bool = True) -> None:
    """Save a screenshot to tests/artifacts/ (git-ignored), from the top, animations finished."""
    ARTIFACTS.mkdir(exist_ok=True)
    await page.evaluate("() => window.scrollTo(0, 0)")
    await page.screenshot(path=str(ARTIFACTS / name), full_page=full_page, animations="disabled")




NO_SIDEWAYS_SCROLL = "() => document.scrollingElement.scrollWidth <= window.innerWidth"


def notice_texts(texts: list[str], prefix: str) -> list[str]:
    return [t for t in texts if t.startswith(prefix)]
