"""Logins: cookie flags (Secure under TLS), logout revocation, expiry."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from classroom_box.domain.auth import create_teacher
from tests.helpers import PASSWORD, RunningBox, running_box, wait_for
from tests.security_helpers import polling_connect, self_signed_cert, socket_connect

LOGIN = {"username": "alice", "password": PASSWORD}


def cookie_flags(set_cookie: str) -> set[str]:
    return {part.strip().split("=")[0].lower() for part in set_cookie.split(";")[1:]}


async def test_cookies_httponly_lax_and_not_secure_on_plain_http(box: RunningBox) -> None:
    await box.teacher()
    r = await box.http.post("/api/auth/login", json=LOGIN)
    flags = cookie_flags(r.headers["set-cookie"])
    assert {"httponly", "samesite", "path"} <= flags and "secure" not in flags
    assert "SameSite=Lax" in r.headers["set-cookie"]


async def test_tls_cookie_is_secure_and_sockets_accept_own_https_origin(tmp_path: Path) -> None:
    cert, key = self_signed_cert(tmp_path)
    async with running_box(tmp_path, tls_cert=cert, tls_key=key) as box:
        await create_teacher(box.box.store, "alice", PASSWORD)
        url = f"https://127.0.0.1:{box.settings.port}"
        async with httpx.AsyncClient(base_url=url, verify=False) as https:
            r = await https.post("/api/auth/login", json=LOGIN)
            assert r.status_code == 200
            flags = cookie_flags(r.headers["set-cookie"])
            assert {"httponly", "samesite", "secure"} <= flags
            path = "/socket.io/?EIO=4&transport=polling"
            own = await https.get(path, headers={"Origin": url})
            assert own.status_code == 200, own.text  # engine.io alone would think it is http
            evil = await https.get(path, headers={"Origin": "https://evil.example"})
            assert evil.status_code == 400


async def test_logout_revokes_token_for_http_and_sockets(box: RunningBox) -> None:
    teacher = await box.teacher()
    code = (await teacher.make_class())["sections"][0]["join_code"]
    student = await box.student(code)
    for actor in (teacher, student):
        assert await polling_connect(box.http, actor.token) == "40"
        sock = await socket_connect(box.url, actor.token)
        assert sock is not None
        assert (await actor.post("/api/auth/logout", {})).status_code == 200
        await wait_for(lambda s=sock: not s.connected)  # its open socket is closed too
        assert (await actor.get("/api/me")).status_code == 401
        assert (await actor.post("/api/auth/logout", {})).status_code == 401
        assert await socket_connect(box.url, actor.token) is None
        assert await polling_connect(box.http, actor.token) == "44"  # refused on polling too


async def test_teacher_login_expires(tmp_path: Path) -> None:
    async with running_box(tmp_path, teacher_login_hours=0.0003) as box:  # ~1.1 s
        teacher = await box.teacher()
        assert (await teacher.get("/api/me")).status_code == 200
        code = (await teacher.make_class())["sections"][0]["join_code"]
        student = await box.student(code)
        await asyncio.sleep(1.3)
        assert (await teacher.get("/api/me")).status_code == 401
        assert (await teacher.post("/api/classes", {"name": "x", "sections": ["A"]})
                ).status_code == 401
        assert await socket_connect(box.url, teacher.token) is None
        assert await polling_connect(box.http, teacher.token) == "44"
        assert (await student.get("/api/me")).status_code == 200  # students stay in their class

