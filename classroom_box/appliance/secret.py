"""The box's session secret: generated on first start, kept in the data directory.
It owns the secret file and must never fall back to a hard-coded or empty secret.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def settings_secret(data_dir: Path) -> str:
    """Generated on first start and kept in the data dir (0600): never a hard-coded default.

    Written durably (fsync, renamed into place, the directory fsynced): without that
    a power cut soon after the first start left an empty file, and the box then ran with an
    empty secret for good (found by tests/e2e/test_power_cut.py). An empty file is replaced.
    """
    path = data_dir / "secret_key"
    data_dir.mkdir(parents=True, exist_ok=True)
    text = path.read_text(encoding="ascii").strip() if path.exists() else ""
    if not text:
        text = secrets.token_urlsafe(48)
        _create_durably(path, text)
    return text


def _create_durably(path: Path, text: str) -> None:
    """Put `text` into `path` so that it is on disk before the name points at it."""
    temp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, text.encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temp, path)  # not link(): FAT and many FUSE filesystems have no hard links
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
