"""A real box process and devices that misbehave: each 127.0.0.x source address is one device.

The box listens on 127.0.0.1; Linux routes all of 127/8 to loopback, so a client socket bound to
127.0.0.23 reaches it and the box sees that address. Everything here is synchronous and raw
(sockets, httpx, websockets' sync client), because the attacks are about bytes on the wire.
"""

from __future__ import annotations

import json
import resource
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as ws_connect

from tests.helpers import PASSWORD
from tests.process import BoxProcess, add_teacher

EIO = "/socket.io/?EIO=4&transport="


@dataclass
class Classroom:
    """A box process with one teacher ("alice") and one class; the join code of section A."""

    box: BoxProcess
    code: str = ""
    teacher_token: str = ""
    extra: tuple[str, ...] = field(default_factory=tuple)

    @property
    def port(self) -> int:
        return self.box.port

    def device(self, address: str, **kw: Any) -> httpx.Client:
        transport = httpx.HTTPTransport(local_address=address)
        return httpx.Client(base_url=self.box.url, transport=transport, timeout=15, **kw)

    def join(self, address: str, name: str = "Sam", code: str | None = None) -> httpx.Response:
        with self.device(address) as http:
            return http.post("/api/join", json={"join_code": code or self.code, "name": name})

    def student_token(self, address: str, name: str = "Sam") -> str:
        r = self.join(address, name)
        assert r.status_code == 200, r.text
        return str(r.json()["token"])

    def login(self, address: str, password: str = PASSWORD, user: str = "alice") -> int:
        with self.device(address) as http:
            r = http.post("/api/auth/login", json={"username": user, "password": password})
            return r.status_code

    def healthy(self, address: str = "127.0.0.1", timeout: float = 2.0) -> bool:
        try:
            with self.device(address) as http:
                return http.get("/healthz", timeout=timeout).status_code == 200
        except httpx.HTTPError:
            return False

    def rss_kib(self) -> int:
        assert self.box.proc is not None
        for line in Path(f"/proc/{self.box.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("no VmRSS")

    def open_fds(self) -> int:
        assert self.box.proc is not None
        return len(list(Path(f"/proc/{self.box.proc.pid}/fd").iterdir()))

    def log(self) -> str:
        return self.box.log.read_text(errors="replace")


def start_classroom(tmp_path: Path, *extra: str, fd_limit: int | None = None) -> Classroom:
    """A box on 127.0.0.1 with a class; `fd_limit` lowers its descriptor limit (soft and hard)."""
    data = tmp_path / "data"
    data.mkdir(parents=True, exist_ok=True)
    add_teacher(data, "alice", PASSWORD)
    box = BoxProcess(data, None, *extra)
    if fd_limit is not None:
        box.preexec = lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (fd_limit, fd_limit))
    room = Classroom(box.start(), extra=extra)
    with room.device("127.0.0.1") as http:
        r = http.post("/api/auth/login", json={"username": "alice", "password": PASSWORD})
        room.teacher_token = r.json()["token"]
        r = http.post("/api/classes", json={"name": "Math", "sections": ["A", "B"]},
                      headers={"Authorization": f"Bearer {room.teacher_token}"})
        room.code = r.json()["sections"][0]["join_code"]
    return room


def tcp_from(address: str, port: int, timeout: float = 10.0) -> socket.socket:
    sock = socket.socket()
    sock.settimeout(timeout)
    sock.bind((address, 0))
    sock.connect(("127.0.0.1", port))
    return sock


def websocket_from(room: Classroom, address: str) -> ClientConnection:
    """A raw Engine.IO websocket from `address`, past the Engine.IO open packet."""
    sock = tcp_from(address, room.port)
    ws = ws_connect(f"ws://127.0.0.1:{room.port}{EIO}websocket", sock=sock, open_timeout=10)
    assert str(ws.recv(timeout=10)).startswith("0{")
    return ws


def socketio_auth(ws: ClientConnection, token: str) -> str:
    """Send a Socket.IO CONNECT with this token; the box's answer ("40..." or "44...")."""
    ws.send("40" + json.dumps({"token": token}))
    while True:
        answer = str(ws.recv(timeout=10))
        if answer.startswith("4"):
            return answer


def closed_within(ws: ClientConnection, seconds: float) -> bool:
    """True when the box closes this websocket within `seconds` (whatever it sent before)."""
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            ws.recv(timeout=max(0.01, deadline - time.monotonic()))
    except TimeoutError:
        return False
    except Exception:  # ConnectionClosed and friends: the box hung up
        return True
    return False


def polling_open(http: httpx.Client) -> str:
    r = http.get(EIO + "polling")
    assert r.status_code == 200, r.text
    return str(json.loads(r.text[1:])["sid"])


def dropped(sock: socket.socket, within: float) -> bool:
    """True when the box closes or resets this connection within `within` seconds."""
    sock.settimeout(within)
    try:
        return sock.recv(1) == b""
    except TimeoutError:
        return False
    except ConnectionError:
        return True


def held_request(address: str, port: int, path: str, length: int = 60_000,
                 content_type: str = "text/plain") -> socket.socket:
    """Headers of a POST announcing a body, and then no body at all."""
    sock = tcp_from(address, port)
    sock.sendall(f"POST {path} HTTP/1.1\r\nHost: box\r\nContent-Type: {content_type}\r\n"
                 f"Content-Length: {length}\r\n\r\n".encode())
    return sock


def stop(room: Classroom) -> None:
    room.box.stop()
