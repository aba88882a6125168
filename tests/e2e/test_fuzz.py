"""Property-based fuzzing (hypothesis) of every JSON body and every socket event, as attackers.

The box runs in a background thread (its own event loop) so hypothesis can drive it with plain
synchronous clients. Every ERROR log record of the box process is captured. Afterwards: no 5xx,
no ERROR record, and the victim teacher's classes and lectures are exactly what they were.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import socketio
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from classroom_box.app import ROUTES
from classroom_box.domain.auth import create_teacher
from classroom_box.domain.ratelimit import TokenBucket
from classroom_box.live.transport import RESERVED_NAMES
from tests.helpers import PASSWORD, running_box

HTTP_EXAMPLES = 400
SOCKET_EXAMPLES = 500
CONNECT_EXAMPLES = 150
COUNTS: dict[str, int] = {}

scalars = (st.none() | st.booleans() | st.integers() | st.integers(min_value=2**62)
           | st.floats(allow_nan=False) | st.text() | st.text(min_size=5000, max_size=30000))
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=5)
    | st.dictionaries(st.text(max_size=20), inner, max_size=5), max_leaves=25)


hostile = json_values
depths = st.integers(1, 40_000)  # 64 KiB of brackets is ~32k levels; json's limit is ~1000


def deep(depth: int) -> bytes:
    """Nested far beyond what Python's json would encode for us, so written by hand."""
    return b"[" * depth + b"]" * depth


class ErrorRecords(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@dataclass
class ThreadedBox:
    url: str
    loop: asyncio.AbstractEventLoop
    app: Any
    tokens: dict[str, str] = field(default_factory=dict)
    section: dict[str, int] = field(default_factory=dict)

    def run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    def forget_failures(self) -> None:
        """Keep validation reachable: throttles would answer 429 before looking at the body."""
        def clear() -> None:
            self.app.box.login_throttle.failures.clear()
            self.app.box.join_throttle.failures.clear()
            self.app.box.student_limiter.buckets.clear()  # answers, hands, pulses, asks
        self.loop.call_soon_threadsafe(clear)

    def unthrottle_sockets(self) -> None:
        def lift() -> None:
            for conn in self.app.box.realtime.conns.values():
                conn.bucket = TokenBucket(rate=1e6, burst=1e6)
            limiter = self.app.box.student_limiter
            limiter.rate = limiter.burst = 1e6
            limiter.buckets.clear()
        self.loop.call_soon_threadsafe(lift)


def _serve(tmp_path: Path, ready: Future[ThreadedBox], stop: threading.Event) -> None:
    async def main() -> None:
        async with running_box(tmp_path) as box:
            ready.set_result(ThreadedBox(box.url, asyncio.get_running_loop(), box.app))
            while not stop.is_set():  # noqa: ASYNC110
                await asyncio.sleep(0.05)
    asyncio.run(main())


@pytest.fixture(scope="module")
def fuzz_box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedBox]:
    errors = ErrorRecords()
    logging.getLogger().addHandler(errors)
    ready: Future[ThreadedBox] = Future()
    stop = threading.Event()
    thread = threading.Thread(target=_serve, args=(tmp_path_factory.mktemp("fuzz"), ready, stop))
    thread.start()
    box = ready.result(30)
    try:
        _make_world(box)
        before = _snapshot(box)
        yield box
        assert _snapshot(box) == before, "an attacker changed the victim's data"
        assert [r.getMessage() for r in errors.records] == []
    finally:
        stop.set()
        thread.join(30)
        logging.getLogger().removeHandler(errors)
        print("fuzz cases run:", COUNTS)


def _make_world(box: ThreadedBox) -> None:
    box.run(create_teacher(box.app.box.store, "alice", PASSWORD))
    box.run(create_teacher(box.app.box.store, "mallory", PASSWORD))
    with httpx.Client(base_url=box.url) as http:
        for name in ("alice", "mallory"):
            box.tokens[name] = http.post("/api/auth/login", json={
                "username": name, "password": PASSWORD}).json()["token"]
        owner = {"Authorization": f"Bearer {box.tokens['alice']}"}
        cls = http.post("/api/classes", json={"name": "Math", "sections": ["A"]},
                        headers=owner).json()
        a = cls["sections"][0]
        box.section = {"class_id": cls["class_id"], "section_id": a["section_id"]}
        http.post("/api/lecture/start", headers=owner,
                  json={**box.section, "subject": "M", "title": "Victim"})
        box.tokens["student"] = http.post("/api/join", json={
            "join_code": a["join_code"], "name": "Sam"}).json()["token"]
        http.post("/api/questions", headers=owner, json={  # question 1, for the answer routes
            **box.section, "kind": "single", "prompt": "Victim?", "options": ["a", "b"]})


def _snapshot(box: ThreadedBox) -> Any:
    with httpx.Client(base_url=box.url) as http:
        views = []
        for who in ("alice", "student"):
            auth = {"Authorization": f"Bearer {box.tokens[who]}"}
            lectures = http.get("/api/lectures", headers=auth).json()
            lectures.pop("seq", None)  # the attacker's own class may add events
            views.append(lectures)
        views.append(http.get("/api/classes", headers={
            "Authorization": f"Bearer {box.tokens['alice']}"}).json())
        views.append(http.get("/api/me", headers={
            "Authorization": f"Bearer {box.tokens['student']}"}).json())
        views.append(http.get("/api/questions", params=box.section, headers={
            "Authorization": f"Bearer {box.tokens['alice']}"}).json())
    return views


def body_for(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Right keys with hostile values, or anything at all."""
    keyed = st.fixed_dictionaries({name: hostile for name in schema},
                                  optional={"extra": hostile})
    return keyed | hostile


BODY_ROUTES = [r for r in ROUTES if r.method == "POST"]
PATH_PARAM = re.compile(r"<int:\w+>")
keys = st.from_regex(r"\A[A-Za-z0-9_-]{8,64}\Z") | st.text(max_size=80).filter(
    lambda k: k.isprintable() and k.isascii() and k == k.strip())
ATTACKERS = ("anonymous", "student", "mallory")


@settings(max_examples=HTTP_EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_json_bodies_never_5xx(fuzz_box: ThreadedBox, data: st.DataObject) -> None:
    r = data.draw(st.sampled_from(BODY_ROUTES), label="route")
    who = data.draw(st.sampled_from(ATTACKERS), label="actor")
    kind = data.draw(st.sampled_from(["json", "json", "raw", "deep"]), label="kind")
    headers = {"Content-Type": "application/json",
               "Idempotency-Key": data.draw(keys, label="idempotency key")}
    if who in fuzz_box.tokens:
        headers["Authorization"] = f"Bearer {fuzz_box.tokens[who]}"
    if kind == "raw":
        content = data.draw(st.binary(max_size=2000), label="body")
    elif kind == "deep":
        field = next(iter(r.body or {"x": None}))
        content = b'{"%s": %s}' % (field.encode(), deep(data.draw(depths, label="depth")))
    else:
        content = json.dumps(data.draw(body_for(r.body or {}), label="body")).encode()
    fuzz_box.forget_failures()
    with httpx.Client(base_url=fuzz_box.url, timeout=30) as http:
        if r.handler.__name__ == "logout":
            headers.pop("Authorization", None)  # keep the attackers' tokens for later examples
        # path parameters: 1 is the victim's question, student and section
        answer = http.post(PATH_PARAM.sub("1", r.path), content=content, headers=headers)
    COUNTS["http"] = COUNTS.get("http", 0) + 1
    assert answer.status_code < 500, (r.path, answer.text)


@pytest.fixture(scope="module")
def sockets(fuzz_box: ThreadedBox) -> Iterator[dict[str, socketio.Client]]:
    clients = {}
    for who in ("student", "mallory"):
        client = socketio.Client(reconnection=False)
        client.connect(fuzz_box.url, auth={"token": fuzz_box.tokens[who]},
                       transports=["websocket"])
        clients[who] = client
    fuzz_box.unthrottle_sockets()  # fuzz the handlers, not the rate limit (tested elsewhere)
    yield clients
    for client in clients.values():
        client.disconnect()


answer_like = st.fixed_dictionaries(  # near-valid bodies reach the answer and ask code
    {"question_id": st.just(1) | hostile, "key": keys | hostile},
    optional={"value": st.integers(-1, 3) | hostile, "text": hostile})
EVENTS = ["join_classroom", "leave_classroom", "teacher_connect", "student_connect", "answer",
          "raise_hand", "lower_hand", "pulse", "ask"]


@settings(max_examples=SOCKET_EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(who=st.sampled_from(["student", "mallory"]),
       event=st.sampled_from(EVENTS) | st.text(min_size=1, max_size=30),
       args=st.lists(hostile | answer_like, min_size=0, max_size=3))
def test_socket_events_never_crash(sockets: dict[str, socketio.Client], who: str, event: str,
                                   args: list[Any]) -> None:
    if event in RESERVED_NAMES | {"message"} or event.startswith("/"):
        # names the client library refuses to send, and those the box answers by hanging up
        # (test_security_regressions.py::test_malformed_socket_packet_drops_client_without_error)
        event = "x" + event
    assume(len(json.dumps(args)) < 60_000)  # bigger frames are cut off (tested in test_limits)
    client = sockets[who]
    assert client.connected
    ack = client.call(event, tuple(args) if len(args) != 1 else args[0], timeout=10)
    COUNTS["socket"] = COUNTS.get("socket", 0) + 1
    assert isinstance(ack, dict) and isinstance(ack.get("ok"), bool)
    if who == "mallory" and event in ("join_classroom", "leave_classroom"):
        assert ack["ok"] is False or ack["room"] != "classroom:{class_id}:{section_id}".format(
            **sockets_section())


def sockets_section() -> dict[str, int]:
    return {"class_id": 1, "section_id": 1}  # the victim's class and section in this box


async def _raw_connect(url: str, auth_json: str) -> str:
    """Socket.IO CONNECT with a hand-written auth payload over a raw websocket; the reply."""
    import websockets

    ws_url = url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket"
    async with websockets.connect(ws_url, max_size=None) as ws:
        await ws.recv()  # engine.io open
        await ws.send("40" + auth_json)
        try:
            return str(await asyncio.wait_for(ws.recv(), 10))
        except websockets.exceptions.ConnectionClosed:
            return "closed"


@settings(max_examples=CONNECT_EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(auth=json_values | st.fixed_dictionaries({"token": json_values, "last_seq": json_values}))
def test_connect_auth_never_crashes(fuzz_box: ThreadedBox, auth: Any) -> None:
    reply = asyncio.run(_raw_connect(fuzz_box.url, json.dumps(auth)))
    COUNTS["connect"] = COUNTS.get("connect", 0) + 1
    assert reply.startswith("44") or reply in ("1", "closed"), reply[:100]  # refused or hung up


async def _raw_socket_event(url: str, token: str, frame: str) -> str:
    """Connect over a raw websocket, send one hand-written Socket.IO frame, return the reply."""
    import websockets

    ws_url = url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket"
    async with websockets.connect(ws_url, max_size=None) as ws:
        await ws.recv()  # engine.io open
        await ws.send("40" + json.dumps({"token": token}))
        while not str(await ws.recv()).startswith("40"):
            pass
        await ws.send(frame)
        while True:
            try:
                reply = str(await asyncio.wait_for(ws.recv(), 10))
            except websockets.exceptions.ConnectionClosed:
                return "closed"
            if reply.startswith(("43", "41", "1")):
                return reply
            if reply == "2":
                await ws.send("3")


@settings(max_examples=20, deadline=None)
@given(depth=st.integers(1, 30_000), event=st.sampled_from(EVENTS + ["nope"]))
def test_deeply_nested_socket_payloads(fuzz_box: ThreadedBox, depth: int, event: str) -> None:
    """Hand-written frames: python-socketio's own client cannot even encode these."""
    nested = "[" * depth + "]" * depth
    frame = f'421["{event}",{nested}]'
    if len(frame) > 60_000:
        frame = frame[:2] + '1["' + event + '",' + "[" * 29_000 + "]" * 29_000 + "]"
    reply = asyncio.run(_raw_socket_event(fuzz_box.url, fuzz_box.tokens["student"], frame))
    COUNTS["deep socket"] = COUNTS.get("deep socket", 0) + 1
    # a negative ack, or (too deep to decode) the box hangs up on this client
    assert reply.startswith(("431", "41", "1", "closed")), reply[:100]
