"""The coordinator's outbound events: what the team did, for the screen and `run`.

Every event has a `type` (`member.spawned`, `task.completed`, `message.sent`...), a
`time`, and the fields that event has. Subscribers are plain callables, called in
order on the coordinator's loop; one that raises is logged and kept.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ensemble_tui.core.models import utc_now

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FeedEvent:
    """One thing the team did."""

    type: str
    time: datetime = field(default_factory=utc_now)
    member: str | None = None
    task: str | None = None
    sender: str | None = None
    recipient: str | None = None
    text: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        """One JSON object with `type`, `time` and the fields this event has."""
        record: dict[str, Any] = {"type": self.type, "time": self.time.isoformat()}
        for key, value in (
            ("member", self.member),
            ("task", self.task),
            ("from", self.sender),
            ("to", self.recipient),
            ("text", self.text),
        ):
            if value is not None:
                record[key] = value
        record.update(self.detail)
        return json.dumps(record, default=str)

    def to_line(self) -> str:
        """A readable one-line rendering for a terminal."""
        clock = self.time.astimezone().strftime("%H:%M:%S")
        who = ""
        if self.sender is not None:
            who = f"{self.sender} -> {self.recipient or 'everyone'}: "
        elif self.member is not None:
            who = f"{self.member}: "
        task = f"[{self.task}] " if self.task else ""
        text = (self.text or "").replace("\n", " ")
        if len(text) > 160:
            text = text[:157] + "..."
        return f"{clock} {self.type:<20} {who}{task}{text}".rstrip()


Subscriber = Callable[[FeedEvent], None]


class Feed:
    """Fans feed events out to subscribers and keeps the recent ones."""

    def __init__(self, keep: int = 1000) -> None:
        self._subscribers: list[Subscriber] = []
        self.recent: list[FeedEvent] = []
        self._keep = keep

    def subscribe(self, subscriber: Subscriber, *, replay: bool = False) -> Callable[[], None]:
        """Add a subscriber (first showing it the recent events if *replay*); returns a
        function that removes it."""
        if replay:
            for event in list(self.recent):
                subscriber(event)
        self._subscribers.append(subscriber)
        return lambda: self._subscribers.remove(subscriber)

    def emit(self, event: FeedEvent) -> None:
        self.recent.append(event)
        if len(self.recent) > self._keep:
            del self.recent[: len(self.recent) - self._keep]
        for subscriber in list(self._subscribers):
            try:
                subscriber(event)
            except Exception:
                log.exception("a feed subscriber failed on %s", event.type)

    def publish(self, type: str, **fields: Any) -> FeedEvent:
        """Build and emit an event in one call."""
        event = FeedEvent(type=type, **fields)
        self.emit(event)
        return event
