"""Teacher-typed text is shown as text: a hostile lecture title does not run in a real browser.

Written against the page contract (docs/api.md: `/join/<code>` shows the live lecture's title);
it runs once static/ (the pages) is on this branch.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import RunningBox

REPO = Path(__file__).resolve().parents[2]
HOSTILE = "<img src=x onerror=alert(1)>"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="needs /usr/bin/chromium"),
]


async def test_hostile_title_renders_as_text(box: RunningBox) -> None:
    from playwright.async_api import async_playwright

    teacher = await box.teacher()
    cls = await teacher.make_class()
    a = cls["sections"][0]
    await teacher.ok("/api/lecture/start", {"class_id": cls["class_id"],
                                            "section_id": a["section_id"], "subject": HOSTILE,
                                            "title": HOSTILE}, 201)
    dialogs: list[str] = []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                           args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page()
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            await page.goto(f"{box.url}/join/{a['join_code']}")
            name_box = page.locator("input").first
            if await name_box.count():
                await name_box.fill("Eve")
                await name_box.press("Enter")
            await page.get_by_text(HOSTILE, exact=False).first.wait_for(timeout=10_000)
            assert await page.locator("img[src='x']").count() == 0
            await page.wait_for_timeout(500)  # give an injected onerror the chance to fire
        finally:
            await browser.close()
    assert dialogs == []
