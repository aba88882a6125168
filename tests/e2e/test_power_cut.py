"""Power cuts under four teachers' writes: every acknowledged write survives (issue 10).

A real box process on LossyFS (tests/faults/lossyfs.py, FUSE: needs /dev/fuse, root, libfuse2).
The second test runs the same harness with SQLite's synchronous=NORMAL and asserts that it
*does* lose acknowledged writes, so the first one can fail.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from classroom_box.domain.store import UNSAFE_SYNC_ENV
from tests.faults.powercut import power_cuts

pytestmark = [
    pytest.mark.slow, pytest.mark.faults,
    pytest.mark.skipif(not os.path.exists("/dev/fuse") or os.geteuid() != 0
                       or shutil.which("fusermount") is None,
                       reason="needs /dev/fuse, root and fusermount (apt: fuse3, libfuse2)"),
]


async def test_acknowledged_writes_survive_power_cuts(tmp_path: Path) -> None:
    report = await power_cuts(tmp_path, cuts=10)
    print(f"{report.cuts} cuts, {len(report.acknowledged)} acknowledged writes, "
          f"{len(report.lost)} lost, unsynced bytes dropped per cut {report.dropped_bytes}, "
          f"integrity {report.integrity}")
    assert report.cuts == 10
    assert len(report.acknowledged) >= 200
    assert report.lost == []
    assert report.integrity == "ok"


async def test_harness_catches_loss_with_synchronous_normal(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(UNSAFE_SYNC_ENV, "NORMAL")
    report = await power_cuts(tmp_path, cuts=2)
    print(f"NORMAL: {report.cuts} cuts, {len(report.acknowledged)} acknowledged, "
          f"{len(report.lost)} lost, integrity {report.integrity}")
    assert report.lost, "synchronous=NORMAL lost nothing: the harness cannot see a power cut"
