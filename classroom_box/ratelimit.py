"""Throttles: a token bucket per socket, and growing delays for failed logins and join guesses."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


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
        delay = min(self.max_delay, 2.0 ** (count - self.free))
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

    def _sweep(self, now: float) -> None:
        for key, (_, last) in list(self.failures.items()):
            if now - last > self.forget:
                del self.failures[key]


@dataclass
class KeyedBuckets:
    """One token bucket per key (e.g. per student, across all their sockets and HTTP calls).

    Buckets that have refilled are dropped when the table grows, so it stays bounded.
    """

    rate: float
    burst: float
    limit: int = 10_000
    buckets: dict[object, TokenBucket] = field(default_factory=dict)

    def take(self, key: object, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        bucket = self.buckets.get(key)
        if bucket is None:
            if len(self.buckets) >= self.limit:
                self._sweep(now)
            bucket = self.buckets[key] = TokenBucket(self.rate, self.burst)
        return bucket.take(now)

    def _sweep(self, now: float) -> None:
        full = self.burst / self.rate
        self.buckets = {k: b for k, b in self.buckets.items() if now - b.stamp < full}
