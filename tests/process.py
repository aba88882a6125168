"""Run the box as its own process (`python -m classroom_box serve`), for crash and CLI tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.helpers import free_port


class BoxProcess:
    def __init__(self, data_dir: Path, port: int | None = None, *extra: str,
                 env: dict[str, str] | None = None) -> None:
        self.data_dir, self.port = data_dir, port or free_port()
        self.extra = extra
        self.env = env or {}
        self.preexec: Callable[[], None] | None = None  # e.g. a lower descriptor limit
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = data_dir.parent / f"box-{self.port}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> BoxProcess:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **self.env}
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "classroom_box", "serve", "--host", "127.0.0.1",
                 "--port", str(self.port), "--data-dir", str(self.data_dir), "--no-mdns",
                 *self.extra],
                stdout=log, stderr=subprocess.STDOUT, env=env, preexec_fn=self.preexec,
            )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None:
                raise RuntimeError(f"box exited early: {self.log.read_text()}")
            time.sleep(0.1)
        raise RuntimeError("box did not come up")

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks, no flush; what is committed must survive."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> int:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            return self.proc.wait(15)
        return self.proc.returncode if self.proc else 0


def add_teacher(data_dir: Path, username: str, password: str) -> None:
    subprocess.run([sys.executable, "-m", "classroom_box", "teacher", "add", username,
                    "--data-dir", str(data_dir)], input=password + "\n", text=True, check=True,
                   capture_output=True)


def serve_until_exit(data_dir: Path) -> subprocess.CompletedProcess[str]:
    """Run `serve` that is expected to refuse to start, to its exit (a minute at most)."""
    return subprocess.run([sys.executable, "-m", "classroom_box", "serve", "--port", "0",
                           "--data-dir", str(data_dir), "--no-mdns"],
                          capture_output=True, text=True, timeout=60)
