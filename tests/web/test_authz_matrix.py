"""The authorization matrix: every HTTP route and every client -> server socket event, five actors.

One table (`MATRIX`) says what each actor gets. `test_matrix_lists_everything` fails when a route in
`app.ROUTES` or a handler on the Socket.IO server is missing from the table, so a new endpoint
cannot ship without a decision here. Each row then runs cell by cell with real requests against a
real box, and every answer a student or the other teacher gets is searched for another section's
join code, roster names and lecture titles (no leak even in a 200).
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import socketio

from classroom_box.app import ROUTES, create_app
from classroom_box.config import Settings
from tests.helpers import PASSWORD, RunningBox, running_box, wait_for

ACTORS = ("anonymous", "student_a", "student_b", "other_teacher", "owner")  # owner last: it mutates
OK, DENIED, REFUSED = "ok", "denied", "refused"  # socket outcomes: ack ok, ack not ok, no connect


@dataclass
class World:
    """Teacher `owner` has class Math (sections A, B); `other_teacher` has Bio (section X)."""

    box: RunningBox
    tokens: dict[str, str | None]
    class_id: int
    a: dict[str, Any]
    b: dict[str, Any]
    x: dict[str, Any]
    student_ids: dict[str, int] = field(default_factory=dict)

    @property
    def owner(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens['owner']}"}

    def section(self, which: str = "a") -> dict[str, int]:
        return {"class_id": self.class_id, "section_id": getattr(self, which)["section_id"]}

    async def owner_post(self, path: str, body: Any) -> dict[str, Any]:
        r = await self.box.http.post(path, json=body, headers=self.owner)
        assert r.status_code in (200, 201), (path, r.text)
        return dict(r.json())

    async def live_in_a(self) -> int:
        state = (await self.box.http.get("/api/lectures", headers=self.owner)).json()
        for lecture in state["live"]:
            if lecture["section_id"] == self.a["section_id"]:
                return int(lecture["session_id"])
        started = await self.owner_post("/api/lecture/start",
                                        {**self.section(), "subject": "M", "title": "Live A"})
        return int(started["session_id"])

    async def nothing_live_in_a(self) -> None:
        lecture = await self.live_in_a()
        await self.owner_post("/api/lecture/end", {"session_id": lecture})

    async def schedule_in_a(self, title: str = "Later A") -> int:
        when = (datetime.now(UTC) + timedelta(days=2)).isoformat()
        created = await self.owner_post("/api/lecture/schedule", {
            **self.section(), "subject": "M", "title": title, "scheduled_time": when})
        return int(created["schedule_id"])

    def secrets_hidden_from(self, actor: str) -> list[str]:
        """What must never appear in an answer to this actor."""
        a = [self.a["join_code"], "Student-Ana-7", "SECRET-A"]
        b = [self.b["join_code"], "Student-Ben-7", "SECRET-B"]
        return {"student_a": b + [self.a["join_code"]], "student_b": a + [self.b["join_code"]],
                "other_teacher": a + b, "anonymous": a + b}.get(actor, [])


Request = tuple[str, str, Any]  # method, path (with query), JSON body or None
Prepare = Callable[[World], Awaitable[Request]]


def fixed(method: str, path: str, body: Any = None) -> Prepare:
    async def prepare(w: World) -> Request:
        return method, path.format(a=w.a["section_id"], code_a=w.a["join_code"],
                                   class_id=w.class_id), body
    return prepare


async def start_a(w: World) -> Request:
    await w.nothing_live_in_a()
    return "POST", "/api/lecture/start", {**w.section(), "subject": "M", "title": "T"}


async def end_a(w: World) -> Request:
    return "POST", "/api/lecture/end", {"session_id": await w.live_in_a(), "summary": "s"}


async def schedule_a(w: World) -> Request:
    when = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    return "POST", "/api/lecture/schedule", {**w.section(), "subject": "M", "title": "S",
                                             "scheduled_time": when}


async def cancel_a(w: World) -> Request:
    return "POST", "/api/lecture/cancel", {"schedule_id": await w.schedule_in_a()}


async def duration_a(w: World) -> Request:
    return "POST", "/api/lecture/duration", {"session_id": await w.live_in_a(),
                                             "duration_minutes": 30}


async def progress_a(w: World) -> Request:
    return "POST", "/api/lecture/progress", {"session_id": await w.live_in_a(), "progress": 50,
                                             "note": "n"}


async def join_a(w: World) -> Request:
    return "POST", "/api/join", {"join_code": w.a["join_code"], "name": "Newcomer"}


async def setup_again(w: World) -> Request:
    return "POST", "/api/setup", {"token": w.box.box.setup.value or "x" * 32,
                                  "username": "mallory", "password": "password123"}


async def question_in_a(w: World, closed: bool = False) -> int:
    q = (await w.owner_post("/api/questions", {**w.section(), "kind": "single",
                                               "prompt": "SECRET-A?", "options": ["x", "y"]}))
    question_id = int(q["question"]["question_id"])
    if closed:
        await w.owner_post(f"/api/questions/{question_id}/close", {})
    return question_id


def on_question(method: str, suffix: str, body: Any = None, closed: bool = False) -> Prepare:
    async def prepare(w: World) -> Request:
        return method, f"/api/questions/{await question_in_a(w, closed)}{suffix}", body
    return prepare


async def ask_a(w: World) -> Request:
    return "POST", "/api/questions", {**w.section(), "kind": "single", "prompt": "SECRET-A?",
                                      "options": ["x", "y"], "correct": [1]}


async def pulse_a(w: World) -> Request:
    await w.live_in_a()
    return "POST", "/api/pulse", {"value": "got_it"}


async def lower_a(w: World) -> Request:
    return "POST", f"/api/hands/{w.student_ids['student_a']}/lower", w.section()


async def ask_done_a(w: World) -> Request:
    token = w.tokens["student_a"]
    r = await w.box.http.post("/api/asks", json={"text": "SECRET-A ask"}, headers={
        "Authorization": f"Bearer {token}", "Idempotency-Key": secrets.token_hex(8)})
    return "POST", f"/api/asks/{r.json()['ask']['ask_id']}/done", {}


def socket_on_question(event: str) -> Prepare:
    async def prepare(w: World) -> Request:
        return "SOCKET", event, {"question_id": await question_in_a(w),
                                 "key": secrets.token_hex(8), "value": 1}
    return prepare


async def socket_pulse_a(w: World) -> Request:
    await w.live_in_a()
    return "SOCKET", "pulse", {"value": "lost"}
async def ended_in_a(w: World, title: str = "Ended A") -> int:
    started = await w.owner_post("/api/lecture/start", {**w.section(), "subject": "M",
                                                         "title": title})
    await w.owner_post("/api/lecture/end", {"session_id": started["session_id"]})
    return int(started["session_id"])


def attendance_of_a(suffix: str) -> Prepare:
    async def prepare(w: World) -> Request:
        return "GET", f"/api/lectures/{await ended_in_a(w)}/attendance{suffix}", None
    return prepare


def history(query: str) -> Prepare:
    """Ended lectures in A and B exist, titled with their sections' secrets."""
    async def prepare(w: World) -> Request:
        state = (await w.box.http.get("/api/lectures", headers=w.owner)).json()
        for lecture in state["live"]:
            if lecture["section_id"] == w.b["section_id"]:
                await w.owner_post("/api/lecture/end", {"session_id": lecture["session_id"]})
        await w.nothing_live_in_a()
        await ended_in_a(w, "SECRET-A")
        return "GET", "/api/lectures/history" + query.format(a=w.a["section_id"]), None
    return prepare


async def remove_new_student(w: World) -> Request:
    newcomer = await w.box.student(w.a["join_code"], "Newcomer")
    return "DELETE", f"/api/students/{newcomer.id}", {}


def socket_event(event: str, body: Callable[[World], Any] = lambda w: {}) -> Prepare:
    async def prepare(w: World) -> Request:
        return "SOCKET", event, body(w)
    return prepare


@dataclass(frozen=True)
class Row:
    key: str  # "GET /api/..." exactly as in ROUTES, or "socket <event>"
    prepare: Prepare
    expect: tuple[Any, Any, Any, Any, Any]  # in ACTORS order
    label: str = ""

    @property
    def name(self) -> str:
        return self.key + (f" [{self.label}]" if self.label else "")


PUBLIC_200 = (200, 200, 200, 200, 200)
ANY_LOGGED_IN = (401, 200, 200, 200, 200)
TEACHERS = (401, 403, 403, 201, 201)
OWNER_ONLY = (401, 403, 403, 403, 200)
OWNER_CREATES = (401, 403, 403, 403, 201)
SECTION_A = (401, 200, 403, 403, 200)
S_SECTION_A = (REFUSED, OK, DENIED, DENIED, OK)
STUDENTS = (401, 200, 200, 403, 403)
STUDENTS_CREATE = (401, 201, 201, 403, 403)
S_STUDENTS = (REFUSED, OK, OK, DENIED, DENIED)

MATRIX: tuple[Row, ...] = (
    Row("GET /healthz", fixed("GET", "/healthz"), PUBLIC_200),
    Row("GET /openapi.json", fixed("GET", "/openapi.json"), PUBLIC_200),
    Row("GET /api/setup", fixed("GET", "/api/setup"), PUBLIC_200),
    Row("POST /api/setup", setup_again, (403,) * 5, "never set up twice"),
    Row("POST /api/auth/login", fixed("POST", "/api/auth/login",
                                      {"username": "alice", "password": PASSWORD}), PUBLIC_200),
    Row("POST /api/auth/login", fixed("POST", "/api/auth/login",
                                      {"username": "alice", "password": "wrong-password"}),
        (401,) * 5, "wrong password"),
    Row("POST /api/auth/logout", fixed("POST", "/api/auth/logout", {}), ANY_LOGGED_IN),
    Row("GET /api/me", fixed("GET", "/api/me"), ANY_LOGGED_IN),
    Row("GET /api/box/stats", fixed("GET", "/api/box/stats"), (401, 403, 403, 200, 200)),
    # like /api/me, but anonymous gets 200 {role: null}: the pages ask it on every first visit
    Row("GET /api/session", fixed("GET", "/api/session"), (200, 200, 200, 200, 200)),
    Row("POST /api/classes", fixed("POST", "/api/classes", {"name": "New", "sections": ["Z"]}),
        TEACHERS),
    Row("GET /api/classes", fixed("GET", "/api/classes"), (401, 403, 403, 200, 200)),
    Row("GET /api/join/<code>", fixed("GET", "/api/join/{code_a}"), PUBLIC_200,
        "the code is the credential"),
    Row("GET /api/join/<code>", fixed("GET", "/api/join/ZZZZZZ"), (404,) * 5, "unknown code"),
    Row("POST /api/join", fixed("POST", "/api/join", {"join_code": "ZZZZZZ", "name": "x"}),
        (404,) * 5, "unknown code"),
    Row("POST /api/join", join_a, (200,) * 5, "with A's code: the code is the credential"),
    Row("GET /api/sections/<int:section_id>/roster", fixed("GET", "/api/sections/{a}/roster"),
        OWNER_ONLY),
    Row("GET /api/sections/<int:section_id>/qr.svg", fixed("GET", "/api/sections/{a}/qr.svg"),
        OWNER_ONLY),
    Row("POST /api/lecture/start", start_a, OWNER_CREATES),
    Row("POST /api/lecture/end", end_a, OWNER_ONLY),
    Row("POST /api/lecture/schedule", schedule_a, OWNER_CREATES),
    Row("POST /api/lecture/cancel", cancel_a, OWNER_ONLY),
    Row("POST /api/lecture/duration", duration_a, OWNER_ONLY),
    Row("POST /api/lecture/progress", progress_a, OWNER_ONLY),
    Row("GET /api/lectures", fixed("GET", "/api/lectures"), ANY_LOGGED_IN, "own sections only"),
    Row("GET /api/lectures", fixed("GET", "/api/lectures?class_id={class_id}&section_id={a}"),
        SECTION_A, "section A"),
    # students answer back (issue 13)
    Row("POST /api/questions", ask_a, OWNER_CREATES),
    Row("POST /api/questions/<int:question_id>/close", on_question("POST", "/close", {}),
        OWNER_ONLY),
    Row("POST /api/questions/<int:question_id>/reveal",
        on_question("POST", "/reveal", {}, closed=True), OWNER_ONLY),
    Row("POST /api/questions/<int:question_id>/reveal", on_question("POST", "/reveal", {}),
        (401, 403, 403, 403, 409), "still open"),
    Row("GET /api/questions/<int:question_id>/results", on_question("GET", "/results"),
        OWNER_ONLY),
    Row("GET /api/questions/<int:question_id>/results.csv", on_question("GET", "/results.csv"),
        OWNER_ONLY),
    Row("GET /api/questions", fixed("GET", "/api/questions?section_id={a}"), SECTION_A,
        "section A"),
    Row("POST /api/questions/<int:question_id>/answers", on_question("POST", "/answers",
                                                                      {"value": 1}),
        (401, 201, 403, 403, 403)),
    Row("POST /api/questions/<int:question_id>/answers",
        on_question("POST", "/answers", {"value": 1}, closed=True), (401, 409, 403, 403, 403),
        "closed"),
    Row("POST /api/hand", fixed("POST", "/api/hand", {"raised": True}), STUDENTS),
    Row("POST /api/pulse", pulse_a, STUDENTS),
    Row("POST /api/asks", fixed("POST", "/api/asks", {"text": "a question"}), STUDENTS_CREATE),
    Row("POST /api/hands/<int:student_id>/lower", lower_a, OWNER_ONLY),
    Row("POST /api/asks/<int:ask_id>/done", ask_done_a, OWNER_ONLY),
    Row("socket answer", socket_on_question("answer"), (REFUSED, OK, DENIED, DENIED, DENIED)),
    Row("socket raise_hand", socket_event("raise_hand"), S_STUDENTS),
    Row("socket lower_hand", socket_event("lower_hand"), S_STUDENTS),
    Row("socket pulse", socket_pulse_a, S_STUDENTS),
    Row("socket ask", socket_event("ask", lambda w: {"key": secrets.token_hex(8),
                                                     "text": "hello"}), S_STUDENTS),
    Row("PATCH /api/classes/<int:class_id>",
        fixed("PATCH", "/api/classes/{class_id}", {"name": "Math 2"}), OWNER_ONLY),
    Row("PATCH /api/sections/<int:section_id>",
        fixed("PATCH", "/api/sections/{a}", {"name": "A2"}), OWNER_ONLY),
    Row("POST /api/classes/<int:class_id>/sections",
        fixed("POST", "/api/classes/{class_id}/sections", {"name": "C"}), OWNER_CREATES),
    Row("POST /api/sections/<int:section_id>/join-code",
        fixed("POST", "/api/sections/{a}/join-code", {}), OWNER_ONLY),
    Row("POST /api/classes/<int:class_id>/archive",
        fixed("POST", "/api/classes/{class_id}/archive", {}), OWNER_ONLY),
    Row("POST /api/classes/<int:class_id>/unarchive",
        fixed("POST", "/api/classes/{class_id}/unarchive", {}), OWNER_ONLY),
    Row("DELETE /api/students/<int:student_id>", remove_new_student, (401, 403, 403, 403, 204)),
    Row("GET /api/sections/<int:section_id>/students",
        fixed("GET", "/api/sections/{a}/students"), OWNER_ONLY),
    Row("GET /api/lectures/<int:session_id>/attendance", attendance_of_a(""), OWNER_ONLY),
    Row("GET /api/lectures/<int:session_id>/attendance.csv", attendance_of_a(".csv"),
        OWNER_ONLY),
    Row("GET /api/lectures/history", history(""), ANY_LOGGED_IN, "own sections only"),
    Row("GET /api/lectures/history", history("?section_id={a}"), SECTION_A, "section A"),
    Row("socket connect", socket_event("connect"), (REFUSED, OK, OK, OK, OK)),
    Row("socket join_classroom", socket_event("join_classroom", lambda w: w.section("a")),
        S_SECTION_A),
    Row("socket join_classroom", socket_event("join_classroom", lambda w: w.section("b")),
        (REFUSED, DENIED, OK, DENIED, OK), "section B"),
    Row("socket join_classroom", socket_event("join_classroom", lambda w: {
        "class_id": w.x["class_id"], "section_id": w.x["section_id"]}),
        (REFUSED, DENIED, DENIED, OK, DENIED), "other teacher's section"),
    Row("socket leave_classroom", socket_event("leave_classroom", lambda w: w.section("a")),
        S_SECTION_A),
    Row("socket teacher_connect", socket_event("teacher_connect"),
        (REFUSED, DENIED, DENIED, OK, OK)),
    Row("socket student_connect", socket_event("student_connect"),
        (REFUSED, OK, OK, DENIED, DENIED)),
    Row("socket *", socket_event("become_teacher", lambda w: {"role": "teacher"}),
        (REFUSED, DENIED, DENIED, DENIED, DENIED), "any unknown event"),
)
NOT_CLIENT_EVENTS = {"disconnect"}  # raised by the server itself; a client cannot emit it


def test_matrix_lists_everything(tmp_path: Path) -> None:
    """A route or socket handler that the table does not list fails here."""
    app = create_app(Settings(data_dir=tmp_path / "d", mdns=False))
    existing = {f"{r.method} {r.path}" for r in ROUTES}
    existing |= {f"socket {name}" for name in app.box.realtime.sio.handlers["/"]
                 if name not in NOT_CLIENT_EVENTS}
    listed = {row.key for row in MATRIX}
    assert existing - listed == set(), "add these to MATRIX with their expected outcomes"
    stale = {row.key for row in MATRIX} - existing
    assert stale == set(), "these rows name routes or events that no longer exist"


async def make_world(box: RunningBox) -> World:
    owner = await box.teacher("alice")
    other = await box.teacher("bob")
    cls = await owner.make_class("Math", ("A", "B"))
    x = (await other.make_class("Bio", ("X",)))["sections"][0]
    a, b = cls["sections"]
    x["class_id"] = (await other.get("/api/classes")).json()["classes"][0]["class_id"]
    student_a = await box.student(a["join_code"], "Student-Ana-7")
    student_b = await box.student(b["join_code"], "Student-Ben-7")
    tokens = {"anonymous": None, "student_a": student_a.token, "student_b": student_b.token,
              "other_teacher": other.token, "owner": owner.token}
    world = World(box, tokens, cls["class_id"], a, b, x,
                  {"student_a": student_a.id, "student_b": student_b.id})
    await world.schedule_in_a("SECRET-A")
    await world.owner_post("/api/lecture/start",
                           {**world.section("b"), "subject": "M", "title": "SECRET-B"})
    return world


async def http_cell(w: World, actor: str, request: Request) -> tuple[int, str]:
    method, path, body = request
    token = w.tokens[actor]
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    headers["Idempotency-Key"] = secrets.token_hex(8)  # a fresh key: each cell is a new request
    r = await w.box.http.request(method, path, json=body, headers=headers)
    return r.status_code, r.text


async def socket_cell(w: World, actor: str, event: str, body: Any) -> tuple[str, str]:
    client = socketio.AsyncClient(reconnection=False)
    seen: list[Any] = []
    client.on("*", lambda name, data=None: seen.append((name, data)))
    try:
        await client.connect(w.box.url, auth={"token": w.tokens[actor]} if w.tokens[actor] else {},
                             transports=["websocket"], wait_timeout=5)
    except socketio.exceptions.ConnectionError:
        return REFUSED, ""
    try:
        await wait_for(lambda: any(name == "state_sync" for name, _ in seen))
        if event == "connect":
            return OK, repr(seen)
        ack = await client.call(event, body, timeout=5)
        return (OK if isinstance(ack, dict) and ack.get("ok") else DENIED), repr((ack, seen))
    finally:
        await client.disconnect()


async def run_cell(w: World, row: Row, actor: str) -> tuple[Any, str]:
    method, path, body = await row.prepare(w)
    if method == "SOCKET":
        return await socket_cell(w, actor, path, body)
    return await http_cell(w, actor, (method, path, body))


@pytest.mark.parametrize("row", MATRIX, ids=[row.name for row in MATRIX])
async def test_cell_by_cell(tmp_path: Path, row: Row) -> None:
    async with running_box(tmp_path) as box:
        world = await make_world(box)
        wrong = []
        for actor, expected in zip(ACTORS, row.expect, strict=True):
            got, text = await run_cell(world, row, actor)
            if got != expected:
                wrong.append(f"{actor}: expected {expected}, got {got}: {text[:200]}")
            leaked = [s for s in world.secrets_hidden_from(actor) if s in text]
            if leaked:
                wrong.append(f"{actor}: answer leaks {leaked}: {text[:300]}")
        assert not wrong, "\n".join(wrong)
