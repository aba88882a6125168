"""A FUSE filesystem that loses every write not yet fsynced when told to: a power cut on demand.

The usual tool for this, LazyFS, may not be built here, so this is our own, small one (mfusepy,
libfuse2). It passes everything through to a backing directory, but keeps an undo log: before a
write or truncate changes bytes that are not yet durable, the old bytes (and the old size) are
saved, once per region and fsync epoch. `fsync`/`fdatasync` of a file forgets its undo log: its
data is durable now. A `cut` command on stdin applies every undo log in reverse, so the backing
files hold exactly what was fsynced, and answers `cut <bytes dropped>` on stdout.

What it models: the page cache of a machine losing power, for file contents and sizes. What it
does not: directory entries (a file created and never synced stays, empty or at its synced size)
and torn sectors within one write. SQLite's guarantees we test (WAL, synchronous=FULL) rest on
the first.

Run: `python -m tests.faults.lossyfs BACKING MOUNTPOINT` (root, /dev/fuse); it prints `ready`
once mounted, and unmounts on `quit` or end of stdin.
"""

from __future__ import annotations

import errno
import os
import sys
import threading
from dataclasses import dataclass, field
from typing import Any

import mfusepy as fuse


@dataclass
class Undo:
    """What a file looked like at its last fsync, as far as later writes changed it."""

    size: int
    regions: list[tuple[int, bytes]] = field(default_factory=list)  # (offset, old bytes)


class LossyFS(fuse.Operations):  # type: ignore[misc]
    use_ns = True

    def __init__(self, root: str) -> None:
        self.root = os.path.realpath(root)
        self.mutex = threading.Lock()
        self.undo: dict[str, Undo] = {}

    def _full(self, path: str) -> str:
        return os.path.join(self.root, path.lstrip("/"))

    # --- the part that matters: writes, syncs, the cut ----------------------------------------
    def _remember(self, full: str, offset: int, length: int) -> None:
        """Save the bytes [offset, offset+length) as they are before they change."""
        undo = self.undo.get(full)
        if undo is None:
            undo = self.undo[full] = Undo(os.path.getsize(full))
        end = min(offset + length, undo.size)
        if offset < end:
            with open(full, "rb") as f:
                f.seek(offset)
                undo.regions.append((offset, f.read(end - offset)))

    def write(self, path: str, data: bytes, offset: int, fh: int) -> int:
        with self.mutex:
            self._remember(self._full(path), offset, len(data))
            return os.pwrite(fh, data, offset)

    def truncate(self, path: str, length: int, fh: int | None = None) -> int:
        with self.mutex:
            full = self._full(path)
            size = os.path.getsize(full)
            if length < size:
                self._remember(full, length, size - length)
            else:
                self.undo.setdefault(full, Undo(size))
            os.truncate(full, length)
            return 0

    def fsync(self, path: str, datasync: int, fh: int) -> int:
        with self.mutex:
            os.fsync(fh)
            self.undo.pop(self._full(path), None)
            return 0

    def cut(self) -> int:
        """Power cut: every file goes back to what its last fsync made durable."""
        dropped = 0
        with self.mutex:
            for full, undo in self.undo.items():
                if not os.path.exists(full):
                    continue
                with open(full, "r+b") as f:
                    for offset, old in reversed(undo.regions):
                        f.seek(offset)
                        f.write(old)
                    dropped += max(0, os.path.getsize(full) - undo.size)
                    dropped += sum(len(old) for _, old in undo.regions)
                    f.truncate(undo.size)
                    os.fsync(f.fileno())
            self.undo.clear()
        return dropped

    # --- plain passthrough ----------------------------------------------------------------------
    def getattr(self, path: str, fh: int | None = None) -> dict[str, Any]:
        st = os.lstat(self._full(path))
        keys = ("st_mode", "st_nlink", "st_uid", "st_gid", "st_size", "st_atime_ns",
                "st_mtime_ns", "st_ctime_ns")
        attrs = {k.removesuffix("_ns"): getattr(st, k) for k in keys}
        return attrs

    def readdir(self, path: str, fh: int) -> list[str]:
        return [".", "..", *os.listdir(self._full(path))]

    def access(self, path: str, amode: int) -> int:
        if not os.access(self._full(path), amode):
            raise fuse.FuseOSError(errno.EACCES)
        return 0

    def open(self, path: str, flags: int) -> int:
        return os.open(self._full(path), flags)

    def create(self, path: str, mode: int, fi: Any = None) -> int:
        return os.open(self._full(path), os.O_RDWR | os.O_CREAT | os.O_TRUNC, mode)

    def read(self, path: str, size: int, offset: int, fh: int) -> bytes:
        return os.pread(fh, size, offset)

    def flush(self, path: str, fh: int) -> int:
        return 0  # close() is not a sync: nothing becomes durable here

    def release(self, path: str, fh: int) -> int:
        os.close(fh)
        return 0

    def unlink(self, path: str) -> int:
        with self.mutex:
            full = self._full(path)
            self.undo.pop(full, None)
            os.unlink(full)
            return 0

    def rename(self, old: str, new: str) -> int:
        with self.mutex:
            os.rename(self._full(old), self._full(new))
            undo = self.undo.pop(self._full(old), None)
            if undo is not None:
                self.undo[self._full(new)] = undo
            return 0

    def mkdir(self, path: str, mode: int) -> int:
        os.mkdir(self._full(path), mode)
        return 0

    def rmdir(self, path: str) -> int:
        os.rmdir(self._full(path))
        return 0

    def chmod(self, path: str, mode: int) -> int:
        os.chmod(self._full(path), mode)
        return 0

    def chown(self, path: str, uid: int, gid: int) -> int:
        os.chown(self._full(path), uid, gid)
        return 0

    def utimens(self, path: str, times: tuple[int, int] | None = None) -> int:
        os.utime(self._full(path), ns=times)
        return 0

    def statfs(self, path: str) -> dict[str, int]:
        st = os.statvfs(self._full(path))
        return {k: getattr(st, k) for k in ("f_bsize", "f_frsize", "f_blocks", "f_bfree",
                                            "f_bavail", "f_files", "f_ffree", "f_namemax")}


def control(fs: LossyFS, mountpoint: str) -> None:
    """Commands on stdin: `cut` drops unsynced data; `quit` (or EOF) unmounts."""
    for line in sys.stdin:
        if line.strip() == "cut":
            print(f"cut {fs.cut()}", flush=True)
        elif line.strip() == "quit":
            break
    os.system(f"fusermount -u {mountpoint} 2>/dev/null || umount -l {mountpoint}")  # noqa: S605


def main() -> None:
    backing, mountpoint = sys.argv[1], sys.argv[2]
    fs = LossyFS(backing)
    threading.Thread(target=control, args=(fs, mountpoint), daemon=True).start()

    def announce() -> None:
        print("ready", flush=True)

    fs.init = lambda path: announce()  # type: ignore[method-assign]
    fuse.FUSE(fs, mountpoint, foreground=True, allow_other=True, default_permissions=True)


if __name__ == "__main__":
    main()
