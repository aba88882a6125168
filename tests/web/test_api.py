"""The HTTP contract: shapes, and the 401/403/404/409/415/422 paths (never a 500)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from tests.helpers import RunningBox


async def test_login_me_logout(box: RunningBox) -> None:
    teacher = await box.teacher()
    me = (await teacher.get("/api/me")).json()
    assert me["role"] == "teacher" and me["user"]["username"] == "alice"
    bad = await box.http.post("/api/auth/login", json={"username": "alice", "password": "nope"})
    assert bad.status_code == 401 and bad.json()["error"]["code"] == "bad_credentials"
    assert (await teacher.post("/api/auth/logout", {})).status_code == 200
    assert (await teacher.get("/api/me")).status_code == 401  # revoked server-side


async def test_login_status_is_me_or_anonymous_without_401(box: RunningBox) -> None:
    anonymous = await box.http.get("/api/session")
    assert anonymous.status_code == 200 and anonymous.json() == {"role": None}
    teacher = await box.teacher()
    assert (await teacher.get("/api/session")).json() == (await teacher.get("/api/me")).json()


async def test_class_and_join_shapes(box: RunningBox) -> None:
    teacher = await box.teacher()
    cls = await teacher.make_class("Biology", ("A", "B"))
    assert cls["name"] == "Biology" and len(cls["sections"]) == 2
    for section in cls["sections"]:
        code = section["join_code"]
        assert len(code) == 6 and not set(code) & set("0O1IL")
        assert section["join_url"] == f"{box.url}/join/{code}"
    listed = (await teacher.get("/api/classes")).json()["classes"]
    assert listed == [cls]
    code = cls["sections"][0]["join_code"]
    student = await box.student(code.lower(), "Ana")  # codes are case-insensitive
    assert student.section_id == cls["sections"][0]["section_id"]
    me = (await student.get("/api/me")).json()
    assert me["student"]["name"] == "Ana" and me["section_name"] == "A"
    unknown = await box.http.post("/api/join", json={"join_code": "ZZZZZZ", "name": "x"})
    assert unknown.status_code == 404


async def test_same_device_stays_the_same_student(box: RunningBox) -> None:
    teacher = await box.teacher()
    code = (await teacher.make_class())["sections"][0]["join_code"]
    async with httpx.AsyncClient(base_url=box.url) as browser:  # keeps its cookie jar
        first = await browser.post("/api/join", json={"join_code": code, "name": "Bo"})
        assert "cb_session=" in first.headers["set-cookie"]
        assert "HttpOnly" in first.headers["set-cookie"]
        assert "SameSite=Lax" in first.headers["set-cookie"]
        again = await browser.post("/api/join", json={"join_code": code, "name": "Bob"})
        assert again.json()["student"]["id"] == first.json()["student"]["id"]
        assert (await browser.get("/api/me")).json()["student"]["name"] == "Bob"
    other_device = await box.http.post("/api/join", json={"join_code": code, "name": "Bo"})
    assert other_device.json()["student"]["id"] != first.json()["student"]["id"]


async def test_error_paths(box: RunningBox) -> None:
    teacher = await box.teacher()
    other = await box.teacher("bob")
    cls = await teacher.make_class()
    a = cls["sections"][0]
    section = {"class_id": cls["class_id"], "section_id": a["section_id"]}
    lecture = {**section, "subject": "M", "title": "T"}
    student = await box.student(a["join_code"])

    anon = await box.http.post("/api/lecture/start", json=lecture)
    assert anon.status_code == 401
    assert (await student.post("/api/lecture/start", lecture)).status_code == 403
    assert (await other.post("/api/lecture/start", lecture)).status_code == 403
    wrong_pair = {**lecture, "section_id": cls["sections"][1]["section_id"] + 100}
    assert (await teacher.post("/api/lecture/start", wrong_pair)).status_code == 404
    live = await teacher.ok("/api/lecture/start", lecture, 201)
    assert (await teacher.post("/api/lecture/start", lecture)).status_code == 409
    await teacher.ok("/api/lecture/end", {"session_id": live["session_id"]})
    again = await teacher.post("/api/lecture/end", {"session_id": live["session_id"]})
    assert again.status_code == 409
    assert (await teacher.post("/api/lecture/end", {"session_id": 999})).status_code == 404

    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    r = await teacher.post("/api/lecture/schedule", {**lecture, "scheduled_time": past})
    assert r.status_code == 422
    future = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    sched = await teacher.ok("/api/lecture/schedule", {**lecture, "scheduled_time": future}, 201)
    await teacher.ok("/api/lecture/cancel", {"schedule_id": sched["schedule_id"]})
    twice = await teacher.post("/api/lecture/cancel", {"schedule_id": sched["schedule_id"]})
    assert twice.status_code == 409


async def test_validation_is_422_with_a_message(box: RunningBox) -> None:
    teacher = await box.teacher()
    cls = await teacher.make_class()
    section = {"class_id": cls["class_id"], "section_id": cls["sections"][0]["section_id"]}
    bad_bodies = [
        {**section, "subject": "M"},
        {**section, "subject": "M", "title": "x" * 201},
        {**section, "subject": "x" * 101, "title": "T"},
        {**section, "subject": "M", "title": "T", "duration_minutes": 0},
        {**section, "subject": "M", "title": "T", "duration_minutes": 601},
        {**section, "subject": "M", "title": "T", "duration_minutes": "5"},
        {**section, "subject": "M", "title": "T", "duration_minutes": True},
        {"class_id": "1", "section_id": 1, "subject": "M", "title": "T"},
        [1, 2],
        "text",
    ]
    for body in bad_bodies:
        r = await teacher.post("/api/lecture/start", body)
        assert r.status_code == 422, (body, r.text)
        assert r.json()["error"]["message"]
    live = await teacher.ok("/api/lecture/start", {**section, "subject": "M", "title": "T"}, 201)
    for progress in (-1, 101, 50.5, None):
        r = await teacher.post("/api/lecture/progress",
                               {"session_id": live["session_id"], "progress": progress})
        assert r.status_code == 422
    raw = await box.http.post("/api/lecture/start", content=b"{not json",
                              headers={**teacher.headers, "content-type": "application/json"})
    assert raw.status_code == 422
    form = await box.http.post("/api/lecture/start", data={"a": "b"}, headers=teacher.headers)
    assert form.status_code == 415
    huge = await teacher.post("/api/classes", {"name": "x" * 100_000, "sections": ["A"]})
    assert huge.status_code == 413
    state = (await teacher.get("/api/lectures")).json()
    assert [x["session_id"] for x in state["live"]] == [live["session_id"]]


async def test_students_see_only_their_section(box: RunningBox) -> None:
    teacher = await box.teacher()
    cls = await teacher.make_class()
    a, b = cls["sections"]
    await teacher.ok("/api/lecture/start", {"class_id": cls["class_id"],
                                            "section_id": b["section_id"], "subject": "M",
                                            "title": "B only"}, 201)
    student = await box.student(a["join_code"])
    assert (await student.get("/api/lectures")).json()["live"] == []
    peek = await student.get("/api/lectures", class_id=cls["class_id"],
                             section_id=b["section_id"])
    assert peek.status_code == 403
    assert (await student.get("/api/classes")).status_code == 403
    assert (await student.get(f"/api/sections/{b['section_id']}/roster")).status_code == 403


async def test_healthz_and_unknown_route(box: RunningBox) -> None:
    r = await box.http.get("/healthz")
    assert r.json()["status"] == "ok" and r.json()["version"]
    missing = await box.http.get("/api/nothing")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


async def test_setup_link_creates_the_first_teacher_once(box: RunningBox) -> None:
    assert (await box.http.get("/api/setup")).json() == {"needed": True}
    token = box.box.setup.value
    bad = await box.http.post("/api/setup", json={"token": "wrong" * 5, "username": "t",
                                                  "password": "longenough"})
    assert bad.status_code == 403
    ok = await box.http.post("/api/setup", json={"token": token, "username": "t",
                                                 "password": "longenough"})
    assert ok.status_code == 201 and ok.json()["user"]["username"] == "t"
    reuse = await box.http.post("/api/setup", json={"token": token, "username": "u",
                                                    "password": "longenough"})
    assert reuse.status_code == 403
    assert (await box.http.get("/api/setup")).json() == {"needed": False}
