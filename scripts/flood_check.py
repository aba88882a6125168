#!/usr/bin/env python3
"""Measure: does one flooding socket slow down event delivery to 100 students?

Starts a box as its own process, connects STUDENTS student sockets, and has the teacher post
EVENTS progress updates (one every 100 ms), recording for each student the delay from the HTTP
request being sent to the event arriving. Run twice: without and with an attacker that emits
events as fast as it can and reconnects each time the box cuts it off. Prints median / p95 / max
latency for both runs and the ratio (the issue asks for <= 2x).

    python scripts/flood_check.py [--students 100] [--events 30]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import socketio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.process import BoxProcess, add_teacher  # noqa: E402

PASSWORD = "correct horse battery"


async def student_socket(url: str, token: str, sent: dict[int, float],
                         latencies: list[float]) -> socketio.AsyncClient:
    client = socketio.AsyncClient(reconnection=False)

    @client.on("lecture_progress_update")
    def on_progress(data: dict[str, Any]) -> None:
        latencies.append(time.perf_counter() - sent[data["progress"]])

    await client.connect(url, auth={"token": token}, transports=["websocket"], wait_timeout=10)
    return client


async def attacker(url: str, code: str, stats: Any) -> None:
    """Emit without pause; when cut off (and refused for a while), join again and go on."""
    async with httpx.AsyncClient(base_url=url) as http:
        while True:
            token = (await http.post("/api/join", json={"join_code": code, "name": "flooder"})
                     ).json()["token"]
            stats[2] += 1
            client = socketio.AsyncClient(reconnection=False)
            try:
                await client.connect(url, auth={"token": token}, transports=["websocket"])
                stats[1] += 1
                while client.connected:
                    await client.emit("student_connect", {})
                    stats[0] += 1
                    await asyncio.sleep(0)
            except Exception:
                await asyncio.sleep(0.01)
            finally:
                if client.connected:
                    await client.disconnect()


def attack_process(url: str, code: str, stats: Any) -> None:
    """The attacker gets its own process (own CPU time), as a student's laptop would."""
    asyncio.run(attacker(url, code, stats))


async def run(url: str, teacher: str, students: int, events: int, flood: bool,
              section: dict[str, int], code: str, http: httpx.AsyncClient) -> dict[str, Any]:
    auth = {"Authorization": f"Bearer {teacher}"}
    tokens = [(await http.post("/api/join", json={"join_code": code, "name": f"s{i}"})
               ).json()["token"] for i in range(students)]
    sent: dict[int, float] = {}
    latencies: list[float] = []
    clients = [await student_socket(url, t, sent, latencies) for t in tokens]
    live = (await http.post("/api/lecture/start", headers=auth,
                            json={**section, "subject": "M", "title": "flood check"})).json()
    stats = multiprocessing.Array("l", 3)  # events emitted, connections, joins
    flooder = None
    if flood:
        flooder = multiprocessing.Process(target=attack_process, args=(url, code, stats))
        flooder.start()
        await asyncio.sleep(1)
    for i in range(1, events + 1):
        sent[i] = time.perf_counter()
        await http.post("/api/lecture/progress", headers=auth,
                        json={"session_id": live["session_id"], "progress": i})
        await asyncio.sleep(0.1)
    deadline = time.monotonic() + 10
    while len(latencies) < students * events and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    if flooder:
        flooder.terminate()
        flooder.join()
    await http.post("/api/lecture/end", headers=auth, json={"session_id": live["session_id"]})
    for c in clients:
        await c.disconnect()
    ms = sorted(x * 1000 for x in latencies)
    return {"received": len(ms), "expected": students * events, "median": statistics.median(ms),
            "p95": ms[int(len(ms) * 0.95) - 1], "max": ms[-1], "emitted": stats[0],
            "connections": stats[1], "joins": stats[2]}


async def main(students: int, events: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        add_teacher(data, "alice", PASSWORD)
        box = BoxProcess(data, None, "--log-level", "WARNING",
                         "--max-connections-per-address", "1000").start()
        try:
            async with httpx.AsyncClient(base_url=box.url, timeout=30) as http:
                teacher = (await http.post("/api/auth/login", json={
                    "username": "alice", "password": PASSWORD})).json()["token"]
                cls = (await http.post("/api/classes", headers={
                    "Authorization": f"Bearer {teacher}"},
                    json={"name": "Flood", "sections": ["A"]})).json()
                sec = cls["sections"][0]
                section = {"class_id": cls["class_id"], "section_id": sec["section_id"]}
                results = {}
                for flood in (False, True):
                    results[flood] = await run(box.url, teacher, students, events, flood,
                                               section, sec["join_code"], http)
        finally:
            box.stop()
    for flood, r in results.items():
        label = "with flood" if flood else "baseline  "
        extra = (f"\n  attacker: {r['emitted']} events sent over {r['connections']} connections"
                 f" ({r['joins']} joins for fresh tokens)" if flood else "")
        print(f"{label}: {r['received']}/{r['expected']} events, median {r['median']:.1f} ms,"
              f" p95 {r['p95']:.1f} ms, max {r['max']:.1f} ms{extra}")
    base, hit = results[False], results[True]
    print(f"ratio with/without flood: median {hit['median'] / base['median']:.2f}x,"
          f" p95 {hit['p95'] / base['p95']:.2f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=100)
    parser.add_argument("--events", type=int, default=30)
    args = parser.parse_args()
    asyncio.run(main(args.students, args.events))
