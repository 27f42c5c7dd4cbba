"""A token bucket per team member, so one runaway agent cannot flood the coordinator.

Each member starts with `burst` calls in hand; the hand refills at `rate` calls per
second up to `burst` again. The clock is injectable so tests never sleep.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

Clock = Callable[[], float]


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Token buckets keyed by member name: `rate` calls per second, `burst` at most."""

    def __init__(self, rate: float, burst: int, *, clock: Clock = time.monotonic) -> None:
        if not (math.isfinite(rate) and rate > 0):
            raise ValueError(f"the rate must be a positive number of calls per second, not {rate}")
        if burst < 1:
            raise ValueError(f"the burst must be at least 1 call, not {burst}")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}

    def _refilled(self, member: str) -> _Bucket:
        """The member's bucket, topped up for the time elapsed since it was last used."""
        now = self._clock()
        bucket = self._buckets.get(member)
        if bucket is None:
            bucket = self._buckets[member] = _Bucket(tokens=float(self.burst), updated=now)
            return bucket
        # A clock that goes backwards (it should not) must never drain the bucket.
        elapsed = max(0.0, now - bucket.updated)
        bucket.tokens = min(float(self.burst), bucket.tokens + elapsed * self.rate)
        bucket.updated = now
        return bucket

    def try_acquire(self, member: str) -> float:
        """Take one call for *member*: 0.0 if allowed, else the seconds to wait first."""
        bucket = self._refilled(member)
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self.rate


def refusal_text(wait_seconds: float) -> str:
    """The error text an agent gets when it calls too often."""
    return f"too many team tool calls: wait {max(1, math.ceil(wait_seconds))} s"
