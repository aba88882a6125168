"""A class set up over the HTTP API of a box running as its own process, for the fault tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.helpers import PASSWORD


@dataclass
class Classroom:
    """One teacher's class with section A, a live lecture and joined students' tokens."""

    url: str
    teacher_token: str
    class_id: int
    section_id: int
    session_id: int
    student_tokens: list[str]

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.teacher_token}"}


async def open_classroom(url: str, username: str, students: int,
                         name: str = "Class") -> Classroom:
    """Log in, create a class, join `students` students, start a lecture."""
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        r = await http.post("/api/auth/login", json={"username": username, "password": PASSWORD})
        r.raise_for_status()
        auth = {"Authorization": "Bearer " + r.json()["token"]}
        cls = (await http.post("/api/classes", json={"name": name, "sections": ["A"]},
                               headers=auth)).json()
        sec = cls["sections"][0]
        tokens = []
        for i in range(students):
            http.cookies.clear()  # each student is a device of its own, not a re-join
            joined = await http.post("/api/join", json={"join_code": sec["join_code"],
                                                        "name": f"student {i}"})
            joined.raise_for_status()
            tokens.append(joined.json()["token"])
        live = await http.post("/api/lecture/start", headers=auth, json={
            "class_id": cls["class_id"], "section_id": sec["section_id"],
            "subject": "S", "title": "T"})
        live.raise_for_status()
        return Classroom(url, r.json()["token"], cls["class_id"], sec["section_id"],
                         live.json()["session_id"], tokens)


def rss_kb(pid: int) -> int:
    """VmRSS of a process: the memory a Pi has to hold."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def open_fds(pid: int) -> int:
    return len(list(Path(f"/proc/{pid}/fd").iterdir()))


def progress_body(session_id: int, i: int) -> dict[str, Any]:
    return {"session_id": session_id, "progress": i % 101, "note": f"n{i}"}
