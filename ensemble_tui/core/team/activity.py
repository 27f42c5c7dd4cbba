"""How busy each member has been lately, what the team did, and what it spent over time.

The screen draws these as sparklines and a timeline. Counting raw session events
(streamed deltas, part updates, status changes) per member in 5-second buckets makes a
member that goes quiet visible within seconds, long before the watchdog calls it
stalled (minutes). The counts come from the coordinator's session listener hook and
the events from its feed, so nothing here polls or reads the store.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

# Only named: the screen's panes read the windows below before the team is loaded.
if TYPE_CHECKING:
    from ensemble_tui.core.team.events import TeamEvent
    from ensemble_tui.core.team.feed import Feed

BUCKET_SECONDS = 5.0
ACTIVITY_WINDOW_SECONDS = 120.0
SPEND_BUCKET_SECONDS = 30.0
SPEND_WINDOW_SECONDS = 1800.0
QUIET_AFTER_SECONDS = 30.0
"""A working member with no event for this long is drawn as quiet."""
EVENTS_KEPT = 500

TallyListener = Callable[[dict[str, int]], None]


class HasSessionListeners(Protocol):
    """What the counter needs of a coordinator: each member's count of session events,
    told once per run of events."""

    def add_tally_listener(self, listener: TallyListener) -> Callable[[], None]: ...


class GlanceSource(HasSessionListeners, Protocol):
    """What the glance needs of a coordinator: its session events and its feed."""

    feed: Feed


def _bucket(at: datetime, seconds: float) -> int:
    return int(at.timestamp() // seconds)


class ActivityCounter:
    """Events per member per bucket, kept for a window of the last few minutes."""

    def __init__(
        self,
        *,
        bucket_seconds: float = BUCKET_SECONDS,
        window_seconds: float = ACTIVITY_WINDOW_SECONDS,
    ) -> None:
        self.bucket_seconds = bucket_seconds
        self.buckets = max(2, int(window_seconds // bucket_seconds))
        self._counts: dict[str, dict[int, int]] = {}
        # Each member's last event, in seconds since the epoch.
        self._last: dict[str, float] = {}

    def record(self, member: str, at: datetime, count: int = 1) -> None:
        """Count *count* events of *member* at *at* (none: nothing happened)."""
        if count > 0:
            self._count(member, at.timestamp(), count)

    def _count(self, member: str, seconds: float, count: int) -> None:
        """`record` with the moment in seconds since the epoch (no datetime per streamed
        token); a count of 0 only forgets the buckets that left the window."""
        counts = self._counts.get(member)
        if counts is None:
            counts = self._counts[member] = {}
        if count:
            index = int(seconds // self.bucket_seconds)
            counts[index] = counts.get(index, 0) + count
            last = self._last.get(member)
            if last is None or seconds > last:
                self._last[member] = seconds
        if len(counts) > 2 * self.buckets:
            oldest = max(counts) - self.buckets
            for stale in [key for key in counts if key <= oldest]:
                del counts[stale]

    def series(self, member: str, now: datetime) -> list[int]:
        """The member's counts per bucket over the window, oldest first, ending at *now*."""
        end = _bucket(now, self.bucket_seconds)
        counts = self._counts.get(member, {})
        return [counts.get(index, 0) for index in range(end - self.buckets + 1, end + 1)]

    def quiet_for(self, member: str, now: datetime) -> float | None:
        """Seconds since the member's last event (None: none seen since counting began)."""
        last = self._last.get(member)
        return None if last is None else max(0.0, now.timestamp() - last)

    def listen(
        self, coordinator: HasSessionListeners, clock: Callable[[], datetime] | None = None
    ) -> Callable[[], None]:
        """Count every raw event of the coordinator's sessions from now on (at *clock*'s
        time, the wall clock's if None); returns a function that stops counting."""
        count = self._count
        read = clock

        def on_tally(tally: dict[str, int]) -> None:
            # One moment for the run: it was handled within a fraction of a bucket.
            seconds = time.time() if read is None else read().timestamp()
            for member, events in tally.items():
                count(member, seconds, events)

        remove = coordinator.add_tally_listener(on_tally)
        stopped = False

        def stop() -> None:
            nonlocal stopped
            if not stopped:
                stopped = True
                remove()

        return stop


class SpendHistory:
    """The team's running token and cost totals, one sample per bucket over a window."""

    def __init__(
        self,
        *,
        bucket_seconds: float = SPEND_BUCKET_SECONDS,
        window_seconds: float = SPEND_WINDOW_SECONDS,
    ) -> None:
        self.bucket_seconds = bucket_seconds
        self.buckets = max(2, int(window_seconds // bucket_seconds))
        self._samples: dict[int, tuple[int, float]] = {}

    def note(self, tokens: int, cost: float, at: datetime) -> None:
        """Record the totals as they stand at *at* (the last note in a bucket wins)."""
        index = _bucket(at, self.bucket_seconds)
        self._samples[index] = (tokens, cost)
        for stale in [key for key in self._samples if key <= index - self.buckets]:
            del self._samples[stale]

    def _filled(self, now: datetime) -> list[tuple[int, float]]:
        """One sample per bucket of the window; a bucket with none repeats the one before
        (before the first, the first: what was spent earlier is not known)."""
        end = _bucket(now, self.bucket_seconds)
        indexes = range(end - self.buckets + 1, end + 1)
        known = [self._samples[i] for i in indexes if i in self._samples]
        if not known:
            return []
        current = known[0]
        filled = []
        for index in indexes:
            current = self._samples.get(index, current)
            filled.append(current)
        return filled

    def tokens(self, now: datetime) -> list[int]:
        """The team's total tokens per bucket over the window, oldest first."""
        return [tokens for tokens, _ in self._filled(now)]

    def cost(self, now: datetime) -> list[float]:
        """The team's total cost per bucket over the window, oldest first."""
        return [cost for _, cost in self._filled(now)]


class TeamGlance:
    """One coordinator's activity counter, recent team events (those its feed still held
    at the start, then every new one) and spend history, from creation until `close`."""

    def __init__(
        self, coordinator: GlanceSource, clock: Callable[[], datetime] | None = None
    ) -> None:
        self.coordinator = coordinator
        self.activity = ActivityCounter()
        self.spend = SpendHistory()
        self.events: list[TeamEvent] = []
        self._stop_counting = self.activity.listen(coordinator, clock)
        self._unsubscribe: Callable[[], None] | None = coordinator.feed.subscribe(
            self._on_event, replay=True
        )

    def _on_event(self, event: TeamEvent) -> None:
        self.events.append(event)
        if len(self.events) > EVENTS_KEPT:
            del self.events[: len(self.events) - EVENTS_KEPT]

    def close(self) -> None:
        """Stop counting and following the feed (the screen is going away)."""
        self._stop_counting()
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
