"""What time is it, and can we trust it? Wall time, monotonic time and clock-jump detection.
It must never be bypassed by a timer that cares about jumps (they all ask it), and never block.

A Raspberry Pi has no real-time clock: it boots with a stale time and NTP later steps it by
hours or years, and a wrong NTP source can step it anywhere. The monotonic clock never jumps, so
the offset `wall - monotonic` stays constant while the wall clock is right; a change of that
offset is a jump. Every timer that cares (the scheduler, token ages, event pruning, lecture
spans) asks this one object, so each decision about a jump is made in one place, with one notion
of "the clock has been stable for a while" (docs/reliability.md, "Clock jumps").
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

# Offset changes below this are NTP slewing or measurement noise, not a jump.
JUMP_TOLERANCE = 2.0
# Longest span we believe a lecture can last when the monotonic clock cannot tell us.
MAX_SPAN = timedelta(hours=24)


class Clock:
    """Wall and monotonic time for one running box, with the jumps it has seen.

    `settle` seconds without a jump (counted from process start, because a Pi typically gets its
    NTP step in its first minute) make the wall clock "settled": only then may irreversible
    decisions (marking a schedule missed, pruning by wall time) rely on it.
    """

    def __init__(self, settle: float = 60.0) -> None:
        self.settle = settle
        now_mono = time.monotonic()
        self._offset = time.time() - now_mono
        self.started = now_mono
        self.stable_since = now_mono
        self.jumps = 0
        self.pending_shift = 0.0  # seconds of jumps not yet applied to stored token times

    def wall(self) -> float:
        """Seconds since the epoch, as the (possibly wrong) wall clock says."""
        return time.time()

    def mono(self) -> float:
        return time.monotonic()

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.observe(), UTC)

    def observe(self) -> float:
        """Read the wall clock, noting a jump if it moved apart from the monotonic clock."""
        mono, wall = time.monotonic(), time.time()
        shift = (wall - mono) - self._offset
        if abs(shift) > JUMP_TOLERANCE:
            self._offset += shift
            self.stable_since = mono
            self.jumps += 1
            self.pending_shift += shift
        return wall

    def take_shift(self) -> float:
        """The jumps seen since the last call (for re-anchoring stored wall times), once."""
        shift, self.pending_shift = self.pending_shift, 0.0
        return shift

    def settled(self) -> bool:
        """True once the wall clock has agreed with the monotonic clock for `settle` seconds."""
        self.observe()
        return time.monotonic() - self.stable_since >= self.settle

    def span(self, start: datetime, start_mono: float | None) -> timedelta:
        """How long since `start` (a stored wall time), believing the monotonic clock first.

        When this process saw the start, the monotonic clock measured the span and a wall-clock
        disagreement is a jump; otherwise the wall span is clamped to [0, MAX_SPAN].
        """
        wall_span = self.now() - start
        if start_mono is not None:
            mono_span = timedelta(seconds=time.monotonic() - start_mono)
            if abs((wall_span - mono_span).total_seconds()) > JUMP_TOLERANCE:
                return mono_span
        return min(max(wall_span, timedelta(0)), MAX_SPAN)


def shifted(column: str) -> str:
    """SQL for a stored wall time (iso() format) moved by a `shift_by()` parameter: stored
    times of things still running move with a jump, so they stay comparable with new ones."""
    return f"strftime('%Y-%m-%dT%H:%M:%SZ', {column}, ?)"


def shift_by(seconds: float) -> str:
    return f"{seconds:+.0f} seconds"
