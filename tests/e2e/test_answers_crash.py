"""kill -9 between an answer's commit and its acknowledgement: the retry is stored once.

The box runs as its own process. A student sends an answer over a raw TCP connection and never
reads the reply; the test waits until the answer is committed in the SQLite file (read from the
outside), then SIGKILLs the box. For that student the 2xx never came, so after the restart the
client retries with the same Idempotency-Key: it must get the stored answer back (200, replayed)
and the tally must count it once. Alongside, 40 students keep changing their answers when the kill
cuts them: every 2xx is on disk, and each retried key counts once, the last answer winning.
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

            # the storm: 40 students keep changing their answer (a new key each time) until
            # the box dies under them; each remembers its last 2xx and the one left unanswered
            acked: dict[int, tuple[str, int]] = {}
            pending: dict[int, tuple[str, int]] = {}

            async def storm(i: int) -> None:
                for j in range(10_000):
                    key, value = f"storm-{i:03d}-{j:05d}", j % 2
                    try:
                        r = await http.post(path, json={"value": value}, headers={
                            "Authorization": f"Bearer {students[i]}", "Idempotency-Key": key})
                    except httpx.HTTPError:
                        pending[i] = (key, value)
                        return
                    if r.status_code == 429:  # the per-student bucket, 2 a second: not stored
                        await asyncio.sleep(float(r.headers.get("Retry-After", "1")))
                        continue
                    assert r.status_code == 201, r.text
                    acked[i] = (key, value)

            storms = [asyncio.create_task(storm(i)) for i in range(1, 41)]
            await wait_for(lambda: len(acked) == 40, timeout=20)
            await asyncio.sleep(0.2)
            box.kill()  # mid-storm: every student has a 2xx and one answer without a reply
            lost_ack.close()
            await asyncio.gather(*storms)
        assert len(pending) == 40
        with sqlite3.connect(data / "classroom-box.db") as db:
            stored = dict(db.execute("SELECT student_id, key FROM answers"))
        for i, (key, _) in acked.items():  # every 2xx is on disk (or a later answer is)
            assert stored[i + 1] >= key

        box.start()
        async with httpx.AsyncClient(base_url=box.url, timeout=10) as http:
            retry = await http.post(path, json={"value": 1}, headers={
                "Authorization": f"Bearer {students[0]}", "Idempotency-Key": "lost-ack-0001"})
            assert retry.status_code == 200, retry.text
            assert retry.headers["Idempotent-Replayed"] == "true"
            assert retry.json()["answer"]["value"] == 1
            replayed = 0
            for i, (key, value) in pending.items():  # each client retries what has no 2xx
                r = await http.post(path, json={"value": value}, headers={
                    "Authorization": f"Bearer {students[i]}", "Idempotency-Key": key})
                assert r.status_code in (200, 201), r.text
                replayed += r.status_code == 200
            results = (await http.get(f"/api/questions/{q['question_id']}/results",
                                      headers=auth)).json()["results"]
        print(f"answers acked before the kill: {sum(int(k[-5:]) + 1 for k, _ in acked.values())},"
              f" committed without reply and replayed after restart: {replayed} of 40")
        assert results["answered"] == 41  # one answer per student, whatever was retried
        final = {a["student_id"]: a["value"] for a in results["answers"]}
        assert final == {1: 1, **{i + 1: value for i, (_, value) in pending.items()}}
    finally:
        box.kill()
