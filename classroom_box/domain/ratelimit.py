"""Throttles: a token bucket per socket, growing delays for failed logins and join guesses, and
log lines a client can trigger at will.

It owns only counters and clocks; it must never sleep or block.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

BOX_ITSELF = frozenset({"127.0.0.1", "::1"})


def is_box_itself(address: str) -> bool:
    """A client on the box (IT's scripts, the benchmark, a browser on the Pi) is not a student
    device: per-address limits do not apply to it. Students reach the box over the LAN, and the
    box trusts no forwarded-for header, so no student can appear as 127.0.0.1."""
    return address in BOX_ITSELF


@dataclass
class TokenBucket:
    """`rate` events per second on average, bursts up to `burst`."""

    rate: float
    burst: float
    tokens: float = -1.0
    stamp: float = 0.0

    def take(self, now: float) -> bool:
        if self.tokens < 0:
            self.tokens, self.stamp = self.burst, now
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


@dataclass
class KeyedBuckets:
    """One `TokenBucket` per key (an address, a token); full buckets are forgotten."""

    rate: float
    burst: float
    buckets: dict[str, TokenBucket] = field(default_factory=dict)

    def take(self, key: str, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        bucket = self.buckets.get(key)
        if bucket is None:
            if len(self.buckets) >= 10_000:
                self._sweep(now)
            bucket = self.buckets[key] = TokenBucket(self.rate, self.burst)
        return bucket.take(now)

    def empty(self, key: str, now: float | None = None) -> bool:
        """True when `take` would refuse now (a key never seen has a full bucket)."""
        bucket = self.buckets.get(key)
        if bucket is None or bucket.tokens < 0:
            return False
        now = time.monotonic() if now is None else now
        return bucket.tokens + (now - bucket.stamp) * bucket.rate < 1

    def _sweep(self, now: float) -> None:
        for key, b in list(self.buckets.items()):
            if b.tokens + (now - b.stamp) * b.rate >= b.burst:
                del self.buckets[key]


@dataclass
class FailureThrottle:
    """After `free` failures for a key, each further attempt must wait 2**(n - free) seconds.

    Keys are e.g. "user:alice" and "addr:10.0.0.7"; entries forget themselves after `forget`
    seconds without failures so the table cannot grow without bound.
    """

    free: int = 5
    max_delay: float = 300.0
    forget: float = 900.0
    failures: dict[str, tuple[int, float]] = field(default_factory=dict)

    def retry_after(self, key: str, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        count, last = self.failures.get(key, (0, 0.0))
        if count < self.free or now - last > self.forget:
            return 0.0
        delay = min(self.max_delay, 2.0 ** min(count - self.free, 64))  # 2.0**1100 overflows
        return max(0.0, last + delay - now)

    def fail(self, key: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        count, last = self.failures.get(key, (0, 0.0))
        if now - last > self.forget:
            count = 0
        self.failures[key] = (count + 1, now)
        if len(self.failures) > 10_000:
            self._sweep(now)

    def succeed(self, key: str) -> None:
        self.failures.pop(key, None)

    def count(self, key: str, now: float | None = None) -> int:
        """Failures still remembered for this key."""
        now = time.monotonic() if now is None else now
        count, last = self.failures.get(key, (0, 0.0))
        return 0 if now - last > self.forget else count

    def clear(self) -> None:
        self.failures.clear()

    def drop(self, which: Callable[[str], bool]) -> None:
        for key in [k for k in self.failures if which(k)]:
            del self.failures[key]

    def _sweep(self, now: float) -> None:
        for key, (_, last) in list(self.failures.items()):
            if now - last > self.forget:
                del self.failures[key]


@dataclass
class LoginThrottle:
    """Failed teacher logins: slow the failing device down, never the teacher's own.

    Three counts per failure: the (username, address) pair, the username, the address. A device
    that has failed on this username waits once the pair, the username or its address is past its
    free failures; a device that has not (the teacher's laptop, even while a student hammers the
    account from elsewhere) is always let through to the password check. So a student can slow
    only themselves, and guessing from many addresses costs one wrong guess per address per
    account before that address must wait. `unlocks` (bumped by `classroom-box teacher unlock`
    or `passwd`) makes the box forget an account's failures.
    """

    failures: FailureThrottle = field(default_factory=FailureThrottle)
    seen_unlocks: dict[str, int] = field(default_factory=dict)

    def retry_after(self, username: str, address: str, unlocks: int | None = None) -> float:
        if unlocks is not None:
            self._apply_unlock(username.casefold(), unlocks)
        pair, user, addr = self._keys(username, address)
        wait = self.failures.retry_after(pair)
        if self.failures.count(pair):
            wait = max(wait, self.failures.retry_after(user), self.failures.retry_after(addr))
        return wait

    def fail(self, username: str, address: str) -> None:
        for key in self._keys(username, address):
            self.failures.fail(key)

    def succeed(self, username: str, address: str) -> None:
        pair, _, addr = self._keys(username, address)
        self.failures.succeed(pair)
        self.failures.succeed(addr)

    @staticmethod
    def _keys(username: str, address: str) -> tuple[str, str, str]:
        name = username.casefold()
        return f"pair:{name}|{address}", f"user:{name}", f"addr:{address}"

    def _apply_unlock(self, name: str, unlocks: int) -> None:
        if self.seen_unlocks.get(name, 0) != unlocks:
            self.failures.drop(lambda key: key == f"user:{name}" or
                                 key.startswith(f"pair:{name}|"))
            self.seen_unlocks[name] = unlocks


class RateLimitedWarning:
    """At most one line per `every` seconds; the next one says how many were skipped.

    For what a client can repeat at will (a bad body, a refused connection, session or token):
    a line per refusal let one device write the log at line rate."""

    def __init__(self, logger: logging.Logger, every: float = 10.0,
                 level: int = logging.WARNING) -> None:
        self.logger, self.level = logger, level
        self.every, self.last, self.skipped = every, -every, 0

    def warn(self, message: str) -> None:
        now = time.monotonic()
        if now - self.last < self.every:
            self.skipped += 1
            return
        suffix = f" (and {self.skipped} more like it)" if self.skipped else ""
        self.logger.log(self.level, "%s%s", message, suffix)
        self.last, self.skipped = now, 0
