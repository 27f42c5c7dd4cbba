"""The token bucket per member, driven by a fake clock."""

from __future__ import annotations

import pytest

from ensemble_tui.tools.ratelimit import RateLimiter, refusal_text
from tests.tools.conftest import FakeClock


def test_a_member_gets_burst_calls_at_once_then_waits_for_the_refill() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate=0.5, burst=3, clock=clock)

    assert [limiter.try_acquire("alice") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.try_acquire("alice") == pytest.approx(2.0)

    clock.advance(1.0)
    assert limiter.try_acquire("alice") == pytest.approx(1.0), "half a call is not a call"
    clock.advance(1.0)
    assert limiter.try_acquire("alice") == 0.0
    assert limiter.try_acquire("alice") > 0


def test_the_bucket_never_holds_more_than_burst() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate=10.0, burst=2, clock=clock)
    clock.advance(3600)
    assert [limiter.try_acquire("alice") for _ in range(2)] == [0.0, 0.0]
    assert limiter.try_acquire("alice") > 0


def test_members_have_their_own_buckets() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate=1.0, burst=1, clock=clock)
    assert limiter.try_acquire("alice") == 0.0
    assert limiter.try_acquire("alice") > 0
    assert limiter.try_acquire("bob") == 0.0


def test_a_clock_going_backwards_does_not_drain_the_bucket() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate=1.0, burst=2, clock=clock)
    assert limiter.try_acquire("alice") == 0.0
    clock.advance(-50)
    assert limiter.try_acquire("alice") == 0.0


@pytest.mark.parametrize(("rate", "burst"), [(0, 5), (-1, 5), (float("inf"), 5), (1.0, 0)])
def test_nonsense_limits_are_refused(rate: float, burst: int) -> None:
    with pytest.raises(ValueError, match="must be"):
        RateLimiter(rate=rate, burst=burst)


@pytest.mark.parametrize(
    ("wait", "text"), [(0.2, "wait 1 s"), (1.0, "wait 1 s"), (2.5, "wait 3 s")]
)
def test_the_refusal_names_whole_seconds_rounded_up(wait: float, text: str) -> None:
    assert refusal_text(wait) == f"too many team tool calls: {text}"
