"""A lecture over flaky Wi-Fi: 100 students, every one ends with every event, in order.

The link (tests/faults/lossylink.py) is emulated in user space because this kernel has no
sch_netem for `tc qdisc netem`; it delays, "loses" (retransmission delay) and drops connections.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.faults.lecture import lecture

pytestmark = [pytest.mark.slow, pytest.mark.faults]


async def test_every_student_gets_the_whole_lecture_in_order(tmp_path: Path) -> None:
    report = await lecture(tmp_path, students=100, seconds=45, drop_rate=1 / 20)
    print(report)
    assert report["events"] >= 50
    assert report["complete_in_order"] == report["students"]
    assert report["reconnects"] > 0  # the link did drop students, so catch-up was exercised
