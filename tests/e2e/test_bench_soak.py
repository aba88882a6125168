"""A short `scripts/bench --scenario soak` (N = 20, 15 s) so the long-day benchmark cannot rot.

It asserts what the benchmark must always get right (no update lost or duplicated across the
reconnects, every figure present, descriptors given back after everyone left), not the RSS
target: `tests/live/test_reconnect_memory.py` holds that bound in CI.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.slow, pytest.mark.faults,
    pytest.mark.skipif(shutil.which("node") is None or shutil.which("npm") is None,
                       reason="the load generator needs Node.js 20 and npm"),
]


def test_soak_scenario_reports_a_sound_long_day() -> None:
    proc = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "bench"), "--scenario", "soak", "--n", "20",
         "--soak", "0.25", "--soak-warm", "5", "--settle", "3", "--drain", "15"],
        capture_output=True, text=True, timeout=300, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run,) = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert "error" not in run, run.get("error")
    assert run["scenario"] == "soak" and run["n"] == 20
    assert run["soak_connects"] >= 20  # every student came back at least once
    assert run["soak_events_sent"] > 0
    assert run["soak_lost"] == 0 and run["soak_duplicates"] == 0
    assert run["rss_per_reconnect_kb"] is not None
    assert run["fds_after_leave"] < run["fds_start"]  # the students' sockets were closed
    assert run["unexpected_disconnects"] == 0
