"""Smoke runs of scripts/bench (N = 20) so the benchmark cannot rot.

They run the real script end to end: real servers, the real Node load generator, real sockets.
They assert what the benchmark must always get right (nothing lost or duplicated, the storm caught
up, every figure present), never the performance targets, which depend on the machine.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
BENCH = REPO / "scripts" / "bench"

pytestmark = [
    pytest.mark.bench,
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("node") is None or shutil.which("npm") is None,
                       reason="the load generator needs Node.js 20 and npm"),
]


def run_bench(*args: str) -> list[dict[str, Any]]:
    """Run scripts/bench and return its JSON lines; fail with its stderr on a non-zero exit."""
    proc = subprocess.run([sys.executable, str(BENCH), *args], capture_output=True, text=True,
                          timeout=600, cwd=REPO)
    assert proc.returncode == 0, (
        f"scripts/bench exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]


def assert_fanout_sound(run: dict[str, Any], n: int, m: int) -> None:
    """Every (event, student) pair arrived exactly once and every figure was measured."""
    assert "error" not in run, run.get("error")
    assert run["n"] == n and run["m"] == m
    assert run["received"] == n * m
    assert run["lost"] == 0
    assert run["duplicates"] == 0
    assert run["http_errors"] == 0
    assert 0 < run["p50_ms"] <= run["p99_ms"] <= run["max_ms"]
    assert run["connect_s"] > 0
    assert run["rss_after_kb"] > 0 and run["rss_before_kb"] > 0
    assert run["cpu_s"] is not None and run["cpu_s"] >= 0
    assert run["idle_cpu_pct"] is not None
    assert run["client_cpu_s"] > 0
    assert run["unexpected_disconnects"] == 0


def test_bench_against_the_box_all_scenarios() -> None:
    lines = run_bench("--n", "20", "--m", "5", "--interval", "0.05", "--scenario", "all",
                      "--idle", "1", "--storm-changes", "50")
    runs = [line for line in lines if line["kind"] == "run"]
    assert [r["target"] for r in runs] == ["box"]
    box = runs[0]
    assert_fanout_sound(box, 20, 5)
    assert box["storm_changes"] == 50
    assert box["storm_caught_up"] is True
    assert box["storm_students_complete"] == 20
    assert box["storm_lost"] == 0
    assert box["storm_duplicates"] == 0
    assert box["storm_events_after_sync"] == 0, "the replay must arrive before state_sync"
    assert box["storm_not_recovered"] == 0
    assert box["storm_s"] is not None and box["storm_s"] > 0


def test_bench_against_the_node_peer() -> None:
    lines = run_bench("--targets", "node", "--n", "20", "--m", "5", "--interval", "0.05",
                      "--idle", "1")
    runs = [line for line in lines if line["kind"] == "run"]
    assert [r["target"] for r in runs] == ["node"]
    assert_fanout_sound(runs[0], 20, 5)
    assert runs[0]["scenario"] == "fanout"
    assert "storm_s" not in runs[0], "the storm is a box-only scenario"
