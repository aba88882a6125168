"""stream.js in headless Chromium notices a lost event (`prev_seq`) and heals itself by replay.

What is faked: the loss. Playwright's WebSocket routing sits between the page and the real box
process and forwards every frame except one server-to-client Socket.IO event, which it swallows.
The page imports the real `static/js/stream.js` from the box and records what it processed.
"""

from __future__ import annotations

import re
import sqlite3
from typing import Any

from tests.browser_support import (  # noqa: F401  (the *_fixture names are fixtures)
    BROWSER_MARKS,
    PHONE,
    Box,
    PageLog,
    box_fixture,
    browser_fixture,
    new_page,
)

pytestmark = BROWSER_MARKS
MARKER = '"note":"lost on the way"'

START_STREAM = """async (token) => {
  const { createStream } = await import("/static/js/stream.js");
  window.seen = [];
  window.stream = createStream({ storageKey: "gap-probe", token });
  window.stream.onEvent((name, payload) => window.seen.push(payload.seq));
  window.stream.start();
}"""


async def test_stream_js_heals_a_lost_event(box: Box, browser: Any) -> None:
    await box.login()
    cls = await box.post("/api/classes", {"name": "C", "sections": ["A"]})
    sec = cls["sections"][0]
    joined = (await box.http.post("/api/join", json={"join_code": sec["join_code"],
                                                     "name": "Kim"})).json()
    logs: list[PageLog] = []
    page, log = await new_page(browser, "stream probe", PHONE, logs)
    swallowed: list[str] = []

    def lose_one_event(ws: Any) -> None:
        server = ws.connect_to_server()

        def to_page(message: str | bytes) -> None:
            if not swallowed and isinstance(message, str) and MARKER in message:
                swallowed.append(message)
                return
            ws.send(message)

        server.on_message(to_page)
        ws.on_message(server.send)

    await page.route_web_socket(re.compile(r"/socket\.io/"), lose_one_event)
    await page.goto(box.url + "/")  # the landing page: the box's origin, no stream of its own
    await page.evaluate(START_STREAM, joined["token"])
    await page.wait_for_function("() => window.stream.status === 'connected'")

    live = await box.post("/api/lecture/start", {
        "class_id": cls["class_id"], "section_id": sec["section_id"], "subject": "S",
        "title": "T"})
    for note in ("one", "lost on the way", "three", "four"):
        await box.post("/api/lecture/progress", {"session_id": live["session_id"],
                                                 "progress": 10, "note": note})
    with sqlite3.connect(box.proc.data_dir / "classroom-box.db") as db:
        committed = [r[0] for r in db.execute("SELECT seq FROM events ORDER BY seq")]
    await page.wait_for_function("(last) => window.stream.lastSeq === last", arg=committed[-1])

    assert len(swallowed) == 1  # the event really was lost on the first connection
    assert await page.evaluate("window.seen") == committed  # complete, in order, once
    assert await page.evaluate("window.stream.gaps") == 1
    state = await page.evaluate("window.stream.state")
    assert [lecture["note"] for lecture in state["live"]] == ["four"]
    log.check(allow_network=True)
