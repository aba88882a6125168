"""Test helpers: a real box on a real port (uvicorn in the test loop), real HTTP, real Socket.IO."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from classroom_box.app import create_app
from classroom_box.client import StreamClient
from classroom_box.config import Settings
from classroom_box.domain.auth import create_teacher
from classroom_box.server import uvicorn_config

PASSWORD = "correct horse battery"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class RunningBox:
    url: str
    settings: Settings
    app: Any
    http: httpx.AsyncClient
    clients: list[StreamClient] = field(default_factory=list)

    @property
    def box(self) -> Any:
        return self.app.box

    async def teacher(self, username: str = "alice") -> Teacher:
        await create_teacher(self.box.store, username, PASSWORD)
        r = await self.http.post("/api/auth/login", json={"username": username,
                                                         "password": PASSWORD})
        assert r.status_code == 200, r.text
        return Teacher(self, r.json()["user"]["id"], r.json()["token"])

    async def student(self, join_code: str, name: str = "Sam") -> Student:
        r = await self.http.post("/api/join", json={"join_code": join_code, "name": name})
        assert r.status_code == 200, r.text
        body = r.json()
        return Student(self, body["student"]["id"], body["token"], body["class_id"],
                       body["section_id"])

    async def stream(self, token: str, last_seq: int | None = None, **kw: Any) -> StreamClient:
        client = StreamClient(self.url, token, last_seq=last_seq, **kw)
        await client.connect()
        self.clients.append(client)
        await wait_for(lambda: client.state is not None)
        return client


@dataclass
class Actor:
    box: RunningBox
    id: int
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def post(self, path: str, body: Any) -> httpx.Response:
        return await self.box.http.post(path, json=body, headers=self.headers)

    async def get(self, path: str, **params: Any) -> httpx.Response:
        return await self.box.http.get(path, params=params, headers=self.headers)


@dataclass
class Teacher(Actor):
    async def make_class(self, name: str = "Math 7", sections: tuple[str, ...] = ("A", "B")
                         ) -> dict[str, Any]:
        r = await self.post("/api/classes", {"name": name, "sections": list(sections)})
        assert r.status_code == 201, r.text
        return dict(r.json())

    async def ok(self, path: str, body: Any, status: int = 200) -> dict[str, Any]:
        r = await self.post(path, body)
        assert r.status_code == status, (path, r.status_code, r.text)
        return dict(r.json())


@dataclass
class Student(Actor):
    class_id: int = 0
    section_id: int = 0


@asynccontextmanager
async def running_box(tmp_path: Path, **overrides: Any) -> AsyncIterator[RunningBox]:
    port = free_port()
    values: dict[str, Any] = {"host": "127.0.0.1", "port": port, "data_dir": tmp_path / "data",
                              "mdns": False, "log_level": "WARNING"}
    settings = Settings(**{**values, **overrides})
    app = create_app(settings)
    server = uvicorn.Server(uvicorn_config(settings, app))
    server.config.loop = "none"
    task = asyncio.create_task(server.serve())
    await wait_for(lambda: server.started, timeout=10)
    url = f"http://127.0.0.1:{port}"
    async def forget_cookies(response: httpx.Response) -> None:
        http.cookies.clear()  # every actor authenticates explicitly (bearer); no shared jar

    async with httpx.AsyncClient(base_url=url, timeout=10,
                                 event_hooks={"response": [forget_cookies]}) as http:
        running = RunningBox(url, settings, app, http)
        try:
            yield running
        finally:
            for client in running.clients:
                if client.sio.connected:
                    await client.disconnect()
            server.should_exit = True
            await asyncio.wait_for(task, 10)


async def wait_for(predicate: Any, timeout: float = 5.0, interval: float = 0.01) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(interval)
