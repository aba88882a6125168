"""Managing a class after the first day, against a real box with real Socket.IO clients: renames
reach students live and on replay, join codes rotate, removed students lose their sockets and
tokens (not their records), archived classes refuse new joins."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import socketio

from tests.helpers import RunningBox, Teacher, running_box, wait_for


async def raw_socket(box: RunningBox, token: str) -> tuple[socketio.AsyncClient, list[Any]]:
    """A plain Socket.IO client that records every event and its own disconnect."""
    client = socketio.AsyncClient(reconnection=False)
    seen: list[Any] = []
    client.on("*", lambda name, data=None: seen.append((name, data)))
    client.on("disconnect", lambda *reason: seen.append(("disconnect", None)))
    await client.connect(box.url, auth={"token": token}, transports=["websocket"],
                         wait_timeout=5)
    await wait_for(lambda: any(name == "state_sync" for name, _ in seen))
    return client, seen


async def setup_class(box: RunningBox) -> tuple[Teacher, dict[str, Any]]:
    teacher = await box.teacher()
    return teacher, await teacher.make_class("Maths", ("A", "B"))


async def test_renames_reach_students_live_and_on_replay(tmp_path: Path) -> None:
    async with running_box(tmp_path) as box:
        teacher, cls = await setup_class(box)
        a = cls["sections"][0]
        here = await box.student(a["join_code"], "Here")
        away = await box.student(a["join_code"], "Away")
        live = await box.stream(here.token)
        gone = await box.stream(away.token)
        await gone.disconnect()

        r = await box.http.patch(f"/api/classes/{cls['class_id']}", json={"name": "Math"},
                                 headers=teacher.headers)
        assert r.status_code == 200 and r.json()["name"] == "Math"
        assert [s["name"] for s in r.json()["sections"]] == ["A", "B"]
        r = await box.http.patch(f"/api/sections/{a['section_id']}", json={"name": "7A"},
                                 headers=teacher.headers)
        assert r.status_code == 200, r.text
        assert (r.json()["name"], r.json()["class_name"]) == ("7A", "Math")
        clash = await box.http.patch(f"/api/sections/{a['section_id']}", json={"name": "b"},
                                     headers=teacher.headers)
        assert clash.status_code == 409

        def updates(stream: Any) -> list[tuple[str, str]]:
            return [(e["class_name"], e["section_name"]) for e in stream.events
                    if e["type"] == "section_updated"]

        await wait_for(lambda: len(updates(live)) == 2)
        assert updates(live) == [("Math", "A"), ("Math", "7A")]
        back = await box.stream(away.token, last_seq=gone.last_seq)
        assert updates(back) == [("Math", "A"), ("Math", "7A")]
        assert back.syncs[0]["recovered"] is True
        me = (await here.get("/api/me")).json()
        assert (me["class_name"], me["section_name"]) == ("Math", "7A")


async def test_add_section_and_new_join_code(tmp_path: Path) -> None:
    async with running_box(tmp_path) as box:
        teacher, cls = await setup_class(box)
        added = await teacher.ok(f"/api/classes/{cls['class_id']}/sections", {"name": "C"}, 201)
        assert added["name"] == "C" and added["join_url"].endswith(added["join_code"])
        newcomer = await box.student(added["join_code"], "Cleo")
        assert newcomer.section_id == added["section_id"]

        a = cls["sections"][0]
        old = a["join_code"]
        member = await box.student(old, "Member")
        stream = await box.stream(member.token)
        fresh = await teacher.ok(f"/api/sections/{a['section_id']}/join-code", {})
        assert fresh["join_code"] != old and fresh["join_url"].endswith(fresh["join_code"])
        assert (await box.http.get(f"/api/join/{old}")).status_code == 404
        r = await box.http.post("/api/join", json={"join_code": old, "name": "Late"})
        assert r.status_code == 404
        assert (await box.student(fresh["join_code"], "Late")).section_id == a["section_id"]
        assert (await member.get("/api/me")).status_code == 200  # keeps the token
        assert stream.sio.connected
        listed = (await teacher.get("/api/classes")).json()["classes"][0]["sections"][0]
        assert listed["join_code"] == fresh["join_code"]


async def test_removed_student_loses_sockets_and_tokens_not_records(tmp_path: Path) -> None:
    async with running_box(tmp_path) as box:
        teacher, cls = await setup_class(box)
        a = cls["sections"][0]
        xxx = await box.student(a["join_code"], "xXx")
        stays = await box.student(a["join_code"], "Stays")
        lecture = await teacher.ok("/api/lecture/start", {
            "class_id": cls["class_id"], "section_id": a["section_id"], "subject": "M",
            "title": "T"}, 201)
        tab1, seen1 = await raw_socket(box, xxx.token)
        tab2, seen2 = await raw_socket(box, xxx.token)
        other, seen_other = await raw_socket(box, stays.token)
        await wait_for(lambda: len(box.box.realtime.roster(a["section_id"])) == 2)

        r = await box.http.request("DELETE", f"/api/students/{xxx.id}", json={},
                                   headers=teacher.headers)
        assert r.status_code == 204 and r.content == b""
        for seen in (seen1, seen2):
            await wait_for(lambda s=seen: ("disconnect", None) in s)
            names = [name for name, _ in seen]
            assert names.index("removed") < names.index("disconnect")
            assert ("removed", {"student_id": xxx.id}) in seen
        assert other.connected and "removed" not in [n for n, _ in seen_other]
        assert box.box.realtime.roster(a["section_id"]) == [{"id": stays.id, "name": "Stays"}]
        assert (await xxx.get("/api/me")).status_code == 401
        try:
            await raw_socket(box, xxx.token)
            raise AssertionError("a removed student's token still connects")
        except socketio.exceptions.ConnectionError:
            pass
        listed = (await teacher.get(f"/api/sections/{a['section_id']}/students")).json()
        assert [s["name"] for s in listed["students"]] == ["Stays"]
        again = await box.http.request("DELETE", f"/api/students/{xxx.id}", json={},
                                       headers=teacher.headers)
        assert again.status_code == 404

        rejoined = await box.http.post("/api/join", json={"join_code": a["join_code"],
                                                          "name": "xXx"},
                                       headers={"Cookie": f"cb_session={xxx.token}"})
        assert rejoined.json()["student"]["id"] != xxx.id  # a new student, not the old one

        await teacher.ok("/api/lecture/end", {"session_id": lecture["session_id"]})
        await box.box.attendance.flush()
        report = (await teacher.get(f"/api/lectures/{lecture['session_id']}/attendance")).json()
        assert {s["student_id"]: s["status"] for s in report["students"]}[xxx.id] == "present"
        for client in (tab1, tab2, other):
            if client.connected:
                await client.disconnect()


async def test_archived_class_is_hidden_and_refuses_joins(tmp_path: Path) -> None:
    async with running_box(tmp_path) as box:
        teacher, cls = await setup_class(box)
        code = cls["sections"][0]["join_code"]
        member = await box.student(code, "Member")
        archived = await teacher.ok(f"/api/classes/{cls['class_id']}/archive", {})
        assert archived["archived"] is True
        assert (await teacher.get("/api/classes")).json()["classes"] == []
        every = (await teacher.get("/api/classes", archived=1)).json()["classes"]
        assert [(c["class_id"], c["archived"]) for c in every] == [(cls["class_id"], True)]
        for r in (await box.http.get(f"/api/join/{code}"),
                  await box.http.post("/api/join", json={"join_code": code, "name": "New"})):
            assert r.status_code == 410 and r.json()["error"]["code"] == "archived"
        assert (await member.get("/api/me")).status_code == 200  # nothing is deleted
        restored = await teacher.ok(f"/api/classes/{cls['class_id']}/unarchive", {})
        assert restored["archived"] is False
        assert (await box.student(code, "New")).section_id == cls["sections"][0]["section_id"]
        assert len((await teacher.get("/api/classes")).json()["classes"]) == 1


async def test_students_list_says_who_is_online(tmp_path: Path) -> None:
    async with running_box(tmp_path) as box:
        teacher, cls = await setup_class(box)
        a = cls["sections"][0]
        ana = await box.student(a["join_code"], "Ana")
        ben = await box.student(a["join_code"], "Ben")
        stream = await box.stream(ben.token)
        await wait_for(lambda: len(box.box.realtime.roster(a["section_id"])) == 1)
        await stream.disconnect()
        await wait_for(lambda: box.box.realtime.roster(a["section_id"]) == [])
        await box.box.attendance.flush()
        await box.stream(ana.token)
        listed = (await teacher.get(f"/api/sections/{a['section_id']}/students")).json()
        rows = {s["name"]: s for s in listed["students"]}
        assert list(rows) == ["Ana", "Ben"]
        assert rows["Ana"]["online"] is True and rows["Ben"]["online"] is False
        assert rows["Ben"]["last_seen"] is not None and rows["Ben"]["joined_at"]
        assert rows["Ben"]["last_seen"] >= rows["Ben"]["joined_at"]
