"""Smoke run of `scripts/bench --scenario answers` (N = 20), so that benchmark cannot rot either.

The real script end to end: the box as its own process, the Node load generator answering half
over the socket and half over HTTP, the box counting its commits. It asserts what
must always hold (every answer acknowledged once, the tally exact, the joiners all synced), never
the performance targets, which depend on the machine.
"""

from __future__ import annotations

import shutil

import pytest

from tests.e2e.test_bench_smoke import run_bench

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("node") is None or shutil.which("npm") is None,
                       reason="the load generator needs Node.js 20 and npm"),
]


def test_bench_answers_scenario() -> None:
    lines = run_bench("--n", "20", "--m", "3", "--interval", "0.05", "--scenario", "answers",
                      "--idle", "1")
    box = next(line for line in lines if line["kind"] == "run")
    assert "error" not in box, box.get("error")
    assert box["lost"] == 0 and box["duplicates"] == 0  # the quiet fan-out before the storm
    assert box["answers_sent"] == box["answers_acked"] == 20 and box["answers_failed"] == 0
    assert 0 < box["ack_p50_ms"] <= box["ack_p99_ms"] <= box["ack_max_ms"]
    assert box["tally_final"] == 20 and box["tally_after_last_ack_ms"] is not None
    assert box["storm_fanout_lost"] == 0 and box["storm_fanout_p99_ms"] > 0
    assert box["join_storm_failed"] == 0 and box["join_storm_s"] > 0
    # 20 acked answers and 20 joins were committed (the box's own count of every commit in the
    # step: the teacher's progress updates during the storm and attendance commit too)
    assert box["answers_commits"] >= 1 and box["joins_commits"] >= 1
