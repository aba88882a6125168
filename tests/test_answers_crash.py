"""kill -9 between an answer's commit and its acknowledgement: the retry is stored once.

The box runs as its own process. A student sends an answer over a raw TCP connection and never
reads the reply; the test waits until the answer is committed in the SQLite file (read from the
outside), then SIGKILLs the box. For that student the 2xx never came, so after the restart the
client retries with the same Idempotency-Key: it must get the stored answer back (200, replayed)
and the tally must count it once. Alongside, a storm of answers is cut by the kill, and every
answer retried with its key afterwards counts exactly once.
"""

from __future__ import annotations

import asyncio
import json
import socket
import sqlite3
import time
from pathlib import Path

import httpx

from tests.helpers import PASSWORD, wait_for
from tests.process import BoxProcess, add_teacher


def committed_answers(db: Path) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM answers").fetchone()[0])


def send_without_reading(port: int, path: str, token: str, key: str, body: dict) -> socket.socket:
    raw = json.dumps(body).encode()
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
            f"Idempotency-Key: {key}\r\nContent-Length: {len(raw)}\r\n\r\n").encode()
    conn = socket.create_connection(("127.0.0.1", port))
    conn.sendall(head + raw)
    return conn


async def test_kill_9_between_commit_and_ack(tmp_path: Path) -> None:
    data = tmp_path / "data"
    add_teacher(data, "alice", PASSWORD)
    box = BoxProcess(data).start()
    try:
        async with httpx.AsyncClient(base_url=box.url, timeout=10) as http:
            token = (await http.post("/api/auth/login", json={
                "username": "alice", "password": PASSWORD})).json()["token"]
            auth = {"Authorization": f"Bearer {token}"}
            cls = (await http.post("/api/classes", json={"name": "C", "sections": ["A"]},
                                   headers=auth)).json()
            sec = cls["sections"][0]
            students = []
            for i in range(41):
                http.cookies.clear()  # a new device each time (a cookie would rename one)
                students.append((await http.post("/api/join", json={
                    "join_code": sec["join_code"], "name": f"S{i}"})).json()["token"])
            q = (await http.post("/api/questions", headers=auth, json={
                "class_id": cls["class_id"], "section_id": sec["section_id"], "kind": "single",
                "prompt": "p", "options": ["a", "b"]})).json()["question"]
            path = f"/api/questions/{q['question_id']}/answers"

            lost_ack = send_without_reading(box.port, path, students[0], "lost-ack-0001",
                                            {"value": 1})
            deadline = time.monotonic() + 10
            while committed_answers(data / "classroom-box.db") < 1:
                assert time.monotonic() < deadline, "the answer was never committed"
                await asyncio.sleep(0.005)

            acked: dict[int, int] = {}

            async def storm(i: int) -> None:
                try:
                    r = await http.post(path, json={"value": i % 2}, headers={
                        "Authorization": f"Bearer {students[i]}",
                        "Idempotency-Key": f"storm-key-{i:04d}"})
                except httpx.HTTPError:
                    return
                acked[i] = r.status_code

            storms = [asyncio.create_task(storm(i)) for i in range(1, 41)]
            await wait_for(lambda: len(acked) >= 10, timeout=20)
            box.kill()  # mid-storm: some acked, some committed without a reply, some not sent
            lost_ack.close()
            await asyncio.gather(*storms)
        assert all(status == 201 for status in acked.values())
        stored_before = committed_answers(data / "classroom-box.db")
        assert stored_before >= 1 + len(acked)  # every 2xx is on disk (maybe more: no reply)

        box.start()
        async with httpx.AsyncClient(base_url=box.url, timeout=10) as http:
            retry = await http.post(path, json={"value": 1}, headers={
                "Authorization": f"Bearer {students[0]}", "Idempotency-Key": "lost-ack-0001"})
            assert retry.status_code == 200, retry.text
            assert retry.headers["Idempotent-Replayed"] == "true"
            assert retry.json()["answer"]["value"] == 1
            replayed = 0
            for i in range(1, 41):  # every client retries whatever it has no 2xx for
                if i in acked:
                    continue
                r = await http.post(path, json={"value": i % 2}, headers={
                    "Authorization": f"Bearer {students[i]}",
                    "Idempotency-Key": f"storm-key-{i:04d}"})
                assert r.status_code in (200, 201), r.text
                replayed += r.status_code == 200
            results = (await http.get(f"/api/questions/{q['question_id']}/results",
                                      headers=auth)).json()["results"]
        print(f"acked before the kill: {len(acked)}, committed without reply and replayed"
              f" after restart: {replayed}")
        assert 10 <= len(acked) < 40
        assert results["answered"] == 41
        assert results["counts"] == [20, 21]
        assert sorted(a["student_id"] for a in results["answers"]) == list(range(1, 42))
    finally:
        box.kill()
