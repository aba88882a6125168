"""When the box runs its own full collection (classroom_box/live/gcpolicy.py)."""

from __future__ import annotations

from classroom_box.live.gcpolicy import QuietCollector


def collector(busy: list[bool]) -> QuietCollector:
    c = QuietCollector(busy=lambda: busy[0], every=3, min_gap=5.0, settle=2.0)
    c.last = c.last_disconnect = 100.0
    return c


def test_nothing_to_collect_without_disconnects() -> None:
    assert not collector([False]).due(1000.0)


def test_collects_once_disconnects_settle_but_never_during_a_fanout() -> None:
    busy = [False]
    c = collector(busy)
    c.note_disconnect()
    c.last_disconnect = 100.0
    assert not c.due(101.0)  # the class is still reconnecting
    busy[0] = True
    assert not c.due(103.0)  # an event is being sent: no pause now
    busy[0] = False
    assert c.due(103.0)
    c.collect(103.0)
    assert c.pending == 0 and not c.due(200.0)


def test_continuous_churn_collects_every_so_many_disconnects_at_most_every_min_gap() -> None:
    c = collector([False])
    for _ in range(3):
        c.note_disconnect()
    c.last_disconnect = 104.0
    assert not c.due(104.5)  # enough garbage, but the last collection was under 5 s ago
    assert c.due(105.0)
