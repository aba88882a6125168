"""CSRF: cookie-authenticated writes must be same-origin JSON; Socket.IO only from our origin."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
import websockets

from tests.helpers import PASSWORD, RunningBox
from tests.security_helpers import polling_connect

EVIL = "http://evil.example"
CLASS = {"name": "Math", "sections": ["A"]}


@asynccontextmanager
async def logged_in_browser(box: RunningBox) -> AsyncIterator[httpx.AsyncClient]:
    """A client that authenticates only by the session cookie, like a browser."""
    await box.teacher()
    async with httpx.AsyncClient(base_url=box.url, timeout=10) as browser:
        r = await browser.post("/api/auth/login", json={"username": "alice",
                                                        "password": PASSWORD})
        assert r.status_code == 200 and "cb_session" in browser.cookies
        yield browser


async def test_cross_site_cookie_post_is_refused(box: RunningBox) -> None:
    async with logged_in_browser(box) as browser:
        evil = await browser.post("/api/classes", json=CLASS, headers={"Origin": EVIL})
        assert evil.status_code == 403 and evil.json()["error"]["code"] == "cross_origin"
        null = await browser.post("/api/classes", json=CLASS, headers={"Origin": "null"})
        assert null.status_code == 403  # sandboxed iframes and data: URLs send "null"
        evil_logout = await browser.post("/api/auth/logout", json={}, headers={"Origin": EVIL})
        assert evil_logout.status_code == 403  # no logout CSRF either
        own = await browser.post("/api/classes", json=CLASS, headers={"Origin": box.url})
        assert own.status_code == 201
        assert (await browser.get("/api/classes")).json()["classes"] == [own.json()]


async def test_form_encoded_post_is_refused(box: RunningBox) -> None:
    """An HTML form can POST cross-site without a preflight, but only form encodings."""
    async with logged_in_browser(box) as browser:
        form = await browser.post("/api/classes", data={"name": "x", "sections": "A"})
        assert form.status_code == 415
        plain = await browser.post("/api/classes", content=b'{"name": "x", "sections": ["A"]}',
                                   headers={"Content-Type": "text/plain"})
        assert plain.status_code == 415  # text/plain is also preflight-free
        cross = await browser.post("/api/classes", data={"name": "x"}, headers={"Origin": EVIL})
        assert cross.status_code == 403
        assert (await browser.get("/api/classes")).json()["classes"] == []


async def test_socketio_polling_handshake_only_from_own_origin(box: RunningBox) -> None:
    path = "/socket.io/?EIO=4&transport=polling"
    evil = await box.http.get(path, headers={"Origin": EVIL})
    assert evil.status_code == 400 and "Access-Control-Allow-Origin" not in evil.headers
    own = await box.http.get(path, headers={"Origin": box.url})
    assert own.status_code == 200 and own.headers["Access-Control-Allow-Origin"] == box.url
    teacher = await box.teacher()
    assert await polling_connect(box.http, teacher.token, {"Origin": box.url}) == "40"


@pytest.mark.parametrize("origin, accepted", [(EVIL, False), (None, True), ("own", True)])
async def test_socketio_websocket_handshake_only_from_own_origin(
        box: RunningBox, origin: str | None, accepted: bool) -> None:
    ws_url = box.url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket"
    header = box.url if origin == "own" else origin
    try:
        async with websockets.connect(ws_url, origin=header,  # type: ignore[arg-type]
                                      open_timeout=5) as ws:
            opened = await ws.recv()
            assert str(opened).startswith("0{")
            got_in = True
    except (websockets.exceptions.InvalidStatus, websockets.exceptions.ConnectionClosed):
        got_in = False
    assert got_in is accepted
