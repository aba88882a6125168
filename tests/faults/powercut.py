"""The power-cut harness: a box on LossyFS, four teachers writing, cuts at random moments.

Each cut: freeze the box (SIGSTOP, so nothing more reaches the disk), drop every write not yet
fsynced (LossyFS `cut`), SIGKILL the box, unmount, mount again, start the box again. Writes that
got a 2xx are recorded as acknowledged; afterwards each must be in the database.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sqlite3
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.faults.classroom import Classroom, open_classroom, progress_body
from tests.helpers import PASSWORD
from tests.process import BoxProcess, add_teacher

TEACHERS = 4


class LossyMount:
    """tests/faults/lossyfs.py as a child process, mounted over `mountpoint`."""

    def __init__(self, backing: Path, mountpoint: Path) -> None:
        self.backing, self.mountpoint = backing, mountpoint
        self.proc: subprocess.Popen[str] | None = None

    def mount(self) -> None:
        self.backing.mkdir(parents=True, exist_ok=True)
        self.mountpoint.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.faults.lossyfs", str(self.backing),
             str(self.mountpoint)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            cwd=Path(__file__).resolve().parents[2])
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        if line != "ready":
            raise RuntimeError(f"lossyfs did not mount: {line!r}")

    def command(self, text: str) -> str:
        assert self.proc is not None and self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline().strip()

    def unmount(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.write("quit\n")
            self.proc.stdin.close()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                subprocess.run(["umount", "-l", str(self.mountpoint)], check=False)
                self.proc.kill()
                self.proc.wait()
        self.proc = None


@dataclass
class CutReport:
    cuts: int = 0
    acknowledged: list[str] = field(default_factory=list)
    dropped_bytes: list[int] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    integrity: str = ""


async def teacher_writes(room: Classroom, name: str, box: BoxProcess, acked: list[str],
                         stop: asyncio.Event) -> None:
    """Progress updates as fast as the box acknowledges them; failures (cuts) are retried."""
    i = 0
    async with httpx.AsyncClient(timeout=5) as http:
        while not stop.is_set():
            body = progress_body(room.session_id, i)
            body["note"] = f"{name}:{i}"
            try:
                r = await http.post(box.url + "/api/lecture/progress", json=body,
                                    headers=room.auth)
            except httpx.HTTPError:
                await asyncio.sleep(0.05)
                continue
            if r.status_code == 200:
                acked.append(body["note"])
                i += 1
            else:
                await asyncio.sleep(0.05)


async def power_cuts(tmp: Path, cuts: int, seed: int = 10) -> CutReport:
    """Run `cuts` power cuts under a stream of acknowledged writes; check the database after."""
    rng = random.Random(seed)
    fs = LossyMount(tmp / "backing", tmp / "mnt")
    fs.mount()
    data = tmp / "mnt" / "data"
    report = CutReport()
    box = BoxProcess(data)
    try:
        for t in range(TEACHERS):
            add_teacher(data, f"teacher{t}", PASSWORD)
        box.start()
        rooms = [await open_classroom(box.url, f"teacher{t}", 0, name=f"C{t}")
                 for t in range(TEACHERS)]
        stop = asyncio.Event()
        writers = [asyncio.create_task(teacher_writes(room, f"t{t}", box, report.acknowledged,
                                                      stop)) for t, room in enumerate(rooms)]
        for _ in range(cuts):
            await asyncio.sleep(rng.uniform(0.3, 1.5))
            await asyncio.to_thread(cut_and_restart, box, fs, report)
        stop.set()
        await asyncio.gather(*writers)
        box.stop()
    finally:
        box.kill()
        fs.unmount()
    check_database(tmp / "backing" / "data" / "classroom-box.db", report)
    return report


def cut_and_restart(box: BoxProcess, fs: LossyMount, report: CutReport) -> None:
    assert box.proc is not None
    os.kill(box.proc.pid, signal.SIGSTOP)
    report.dropped_bytes.append(int(fs.command("cut").split()[1]))
    box.kill()
    fs.unmount()
    fs.mount()
    box.start()
    report.cuts += 1


def check_database(path: Path, report: CutReport) -> None:
    with sqlite3.connect(path) as db:
        report.integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
        stored = {row[0] for row in db.execute(
            "SELECT json_extract(payload, '$.note') FROM events"
            " WHERE type = 'lecture_progress_update'")}
    report.lost = [note for note in report.acknowledged if note not in stored]
