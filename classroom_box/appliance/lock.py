"""The serve lock: `<data_dir>/serve.lock`, flock(2)-ed exclusively for as long as `serve` runs.
It must never block: a second `serve` fails at once with AlreadyServing.

It answers "is the box serving right now?" for operations that must not run under a live server
(restore), and stops two servers from sharing one database. flock is released by the kernel when
the process dies, so a crash or SIGKILL never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

LOCK_NAME = "serve.lock"


class AlreadyServing(RuntimeError):
    """Another process holds the serve lock of this data dir."""


class ServeLock:
    """Context manager: `with ServeLock(data_dir): serve...` (non-blocking; raises AlreadyServing).

    The holder's pid is written into the file only as a hint for error messages.
    """

    def __init__(self, data_dir: Path) -> None:
        self.path = Path(data_dir) / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> None:
        if self._fd is not None:
            raise RuntimeError("ServeLock is not reentrant")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd)
            os.close(fd)
            who = f" (pid {holder})" if holder else ""
            raise AlreadyServing(
                f"classroom-box is already serving from {self.path.parent}{who}; stop it first "
                "(sudo systemctl stop classroom-box)") from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)  # closing the only descriptor drops the flock

    @property
    def held(self) -> bool:
        return self._fd is not None

    def __enter__(self) -> ServeLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _read_pid(fd: int) -> str:
    try:
        return os.pread(fd, 32, 0).decode(errors="replace").strip()
    except OSError:
        return ""


def is_serving(data_dir: Path) -> bool:
    """True while some process holds the serve lock of `data_dir` (probe, never blocks)."""
    path = Path(data_dir) / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # also drops our probe lock if we got it
    return False
