"""The coordinator's outbound stream: team events fanned out to subscribers.

Subscribers are plain callables, called in order on the coordinator's loop; one that
raises is logged and kept. The feed keeps the recent events, so a subscriber that
comes late (the screen) can be shown what happened before it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from ensemble_tui.core.team.events import TeamEvent

log = logging.getLogger(__name__)

Subscriber = Callable[[TeamEvent], None]


class Feed:
    """Fans team events out to subscribers and keeps the recent ones."""

    def __init__(self, keep: int = 1000) -> None:
        self._subscribers: list[Subscriber] = []
        self.recent: list[TeamEvent] = []
        self._keep = keep

    def subscribe(self, subscriber: Subscriber, *, replay: bool = False) -> Callable[[], None]:
        """Add a subscriber (first showing it the recent events if *replay*); returns a
        function that removes it."""
        if replay:
            for event in list(self.recent):
                subscriber(event)
        self._subscribers.append(subscriber)
        return lambda: self._subscribers.remove(subscriber)

    def remember(self, events: Iterable[TeamEvent]) -> None:
        """Put earlier events (a resumed team's log) before the recent ones, unannounced."""
        self.recent[:0] = list(events)
        del self.recent[: max(0, len(self.recent) - self._keep)]

    def emit(self, event: TeamEvent) -> None:
        self.recent.append(event)
        if len(self.recent) > self._keep:
            del self.recent[: len(self.recent) - self._keep]
        for subscriber in list(self._subscribers):
            try:
                subscriber(event)
            except Exception:
                log.exception("a feed subscriber failed on %s", event.type)
