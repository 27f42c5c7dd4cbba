"""The one bridge from the coordinator to the screen: events in, batched messages out.

The coordinator calls the bridge for every feed event and every raw event of a tracked
session. The bridge only collects: a short timer later it posts one `TeamChanged` (what
the team did) and one `SessionEventsArrived` (the shown session's parts, with the
streamed deltas of a part joined), so the screen redraws at most ~25 times a second
however many teammates stream at once. Raw events of sessions that are not shown are
dropped here, so they cost the screen nothing.

Backpressure: no batch is posted until the app has handled the last one and drawn the
screen (a callback run after the next refresh says so), and the next waits four times
as long as that took (up to 0.25 s), so under load the screen takes about a fifth of
the time and the stream the rest. Meanwhile events are collected and deltas joined, so
a screen that falls behind gets fewer, bigger batches, and keys never queue behind a
backlog of them. Nothing is dropped. The wait ends early once the stream goes quiet
(no event for QUIET), so the end of a burst is drawn at once rather than a pause later.

Keys first: no batch goes while a key press (or a click) is being answered, and while
keys come in a run, batches go right after an answer is drawn rather than just before
the next key (`KeysFirst`).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual.message import Message
from textual.message_pump import MessagePump

from ensemble_tui.core.team.events import TeamEvent
from ensemble_tui.core.team.read_model import TeamSnapshot
from ensemble_tui.opencode.events import (
    Event,
    FileEdited,
    MessageUpdated,
    PartDelta,
    PartRemoved,
    PartUpdated,
    SessionDiffChanged,
    TodoUpdated,
    UnknownEvent,
)
from ensemble_tui.opencode.models import StepFinishPart

if TYPE_CHECKING:
    from ensemble_tui.core.team.coordinator import Coordinator
    from ensemble_tui.core.team.sessions import SessionState

FLUSH_INTERVAL = 0.04
# A batch goes as soon as the stream has been quiet this long, without waiting out its
# pause: the last events of a burst are on screen at once, not a pause later.
QUIET = 0.025
# How often the stream is looked at while a batch waits: the last events of a burst go
# between QUIET and QUIET + QUIET_STEP after they came (a check every QUIET would let
# them wait up to twice QUIET: the check just after them sees that something came).
QUIET_STEP = QUIET / 5
# Keys first (see KeysFirst): a key waits for no batch posted while it is answered (an
# answer not told within KEY_ROOM is taken as given), and keys closer together than
# KEY_PACE are a run whose next key is expected. A batch is never held longer than
# HOLD_AT_MOST past its time.
KEY_ROOM = 0.25
KEY_PACE = 0.5
HOLD_AT_MOST = 0.5
COSTS_KEPT = 8
# After a batch that took the app T seconds to handle and draw, the next waits this many T
# (at most MAX_PAUSE: the screen never lags further behind than that).
SCREEN_SHARE = 4.0
MAX_PAUSE = 0.25

# Raw events that only matter to the transcript of the shown session.
TRANSCRIPT_EVENTS = (PartUpdated, PartDelta, PartRemoved, MessageUpdated)
# Raw events that change nothing the team panes show (what does change them is told by
# a team event too, except a step's tokens).
UNSHOWN_EVENTS = (UnknownEvent, SessionDiffChanged, FileEdited, TodoUpdated)


class KeysFirst:
    """When a batch may go, so that keys do not wait behind it and its drawing.

    A batch posted while a key is answered delays the answer by the whole batch and its
    drawing, and so does one posted just before a key. So: nothing goes while a key is
    being answered; right after an answer is drawn is the best moment (the next key is
    furthest away then); and while keys come in a run, a batch that falls due between two
    of them goes only if it can be handled and drawn (as long as the longest of the last
    few took) before the next key is expected, else right after that key's answer. Once
    the keys stop (none for 1.5 times their pace) batches go as usual.

    Times are in seconds of one monotonic clock, given by the caller (input may be noted
    on the terminal driver's thread: `arrived` only notes the time).
    """

    def __init__(self) -> None:
        self.last = -KEY_PACE
        """When the last key (or click) arrived."""
        self.pace: float | None = None
        """The time between the last two keys, if they came in a run."""
        self.answered = self.last
        """When the last answered key had arrived."""

    def arrived(self, now: float) -> float:
        since = now - self.last
        self.pace = since if since < KEY_PACE else None
        self.last = now
        return now

    def answer(self, arrived: float) -> bool:
        """The key that arrived at *arrived* is answered and drawn; whether it is the last
        one (no other is being answered)."""
        if arrived != self.last:
            return False
        self.answered = arrived
        return True

    def wait(self, now: float, cost: float, *, just_answered: bool = False) -> float:
        """How long a batch that would take *cost* to handle and draw should wait (0: it
        may go now); *just_answered* when a key's answer has just been drawn."""
        since = now - self.last
        if self.answered != self.last:  # a key is being answered
            return max(0.0, KEY_ROOM - since)
        if just_answered or self.pace is None:
            return 0.0
        if now + cost < self.last + self.pace:
            return 0.0  # done before the next key is expected
        return max(0.0, self.last + self.pace * 1.5 - now)


class Bridge:
    """Subscribes to one coordinator and posts batched messages to *target*."""

    @dataclass
    class TeamChanged(Message):
        """The team did something: these events happened, and this is the team now."""

        events: tuple[TeamEvent, ...]
        snapshot: TeamSnapshot
        replayed: bool = False

    @dataclass
    class SessionEventsArrived(Message):
        """New raw events of the shown session, oldest first."""

        session_id: str
        events: tuple[Event, ...]

    def __init__(
        self, coordinator: Coordinator, target: MessagePump, interval: float = FLUSH_INTERVAL
    ) -> None:
        self.coordinator = coordinator
        # Imported here: the team's machinery is loaded once the screen is up, not before.
        from ensemble_tui.core.team.control import TeamControl

        self.control = TeamControl(coordinator)
        self._last_message = 0
        self.target = target
        self.interval = interval
        self.followed: str | None = None
        self._feed: list[TeamEvent] = []
        self._sessions_changed = False
        self._transcript: list[Event] = []
        # The delta being joined (its pieces kept apart: one join at the end, not one per token).
        self._open_delta: PartDelta | None = None
        self._pieces: list[str] = []
        self._waiting = False
        self._posted_at = 0.0
        self._pause = 0.0
        self._due = 0.0
        self._arrived = 0
        self._arrived_at_check = 0
        # When a check last saw that events had come (they came at most a QUIET_STEP before).
        self._seen_at = 0.0
        # How long the last batches took the app to handle and draw (the longest is what
        # the next may take: they vary with what the stream brought and the clock's tick).
        self._costs: deque[float] = deque(maxlen=COSTS_KEPT)
        self.keys = KeysFirst()
        self._timer: asyncio.TimerHandle | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._unlisten: Callable[[], None] | None = None

    def attach(self) -> None:
        """Start listening; the events the feed still holds are posted at once, as replayed."""
        replayed = tuple(self.coordinator.feed.recent)
        self._unsubscribe = self.coordinator.feed.subscribe(self._on_feed_event)
        self._unlisten = self.coordinator.add_session_listener(self._on_session_event)
        self.target.post_message(self.TeamChanged(replayed, self.snapshot(), replayed=True))

    def detach(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._unlisten is not None:
            self._unlisten()
            self._unlisten = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def follow(self, session_id: str | None) -> None:
        """Pass on the raw events of this session (and no other) from now on."""
        if session_id != self.followed:
            self.followed = session_id
            self._transcript.clear()
            self._open_delta = None

    def snapshot(self) -> TeamSnapshot:
        """The team now, with the messages the screen has not been given yet."""
        found = self.control.snapshot(messages_after=self._last_message)
        if found.messages:
            self._last_message = found.messages[-1].id
        return found

    def _on_feed_event(self, event: TeamEvent) -> None:
        self._feed.append(event)
        self._schedule()

    def _on_session_event(self, state: SessionState, event: Event) -> None:
        self._arrived += 1
        if type(event) is PartDelta:
            # Most of the stream: a token of a session that is not shown costs only this.
            if state.session_id == self.followed:
                self._add_transcript_event(event)
                self._schedule()
            return
        if isinstance(event, TRANSCRIPT_EVENTS):
            if state.session_id == self.followed:
                self._add_transcript_event(event)
            elif not (isinstance(event, PartUpdated) and isinstance(event.part, StepFinishPart)):
                return
            else:
                self._sessions_changed = True  # a step's tokens
        elif isinstance(event, UNSHOWN_EVENTS):
            return
        else:
            self._sessions_changed = True
        self._schedule()

    def _add_transcript_event(self, event: Event) -> None:
        if isinstance(event, PartDelta):
            open_delta = self._open_delta
            if open_delta is not None and (open_delta.part_id, open_delta.field) == (
                event.part_id,
                event.field,
            ):
                self._pieces.append(event.delta)
                return
            self._close_delta()
            self._open_delta, self._pieces = event, [event.delta]
            return
        self._close_delta()
        self._transcript.append(event)

    def _close_delta(self) -> None:
        delta, self._open_delta = self._open_delta, None
        if delta is not None:
            if len(self._pieces) > 1:
                delta = delta.model_copy(update={"delta": "".join(self._pieces)})
            self._transcript.append(delta)

    @property
    def scheduled(self) -> bool:
        """Whether a flush is due (none is while the app handles the last batch)."""
        return self._timer is not None

    @property
    def busy(self) -> bool:
        """Whether a batch is due, or posted and not yet handled and drawn by the app."""
        return self._timer is not None or self._waiting

    def _schedule(self) -> None:
        if self._timer is None and not self._waiting:
            loop = asyncio.get_running_loop()
            now = loop.time()
            self._due = now + max(self.interval, self._pause)
            self._arrived_at_check = self._arrived
            self._seen_at = now
            # Checked first once the stream could have gone quiet: a lone event (or the
            # end of a burst) need not wait out the whole interval.
            self._timer = loop.call_later(min(self.interval, QUIET), self._check)

    def input_arrived(self) -> float:
        """The human pressed a key (or clicked): no batch goes until it is answered.
        Returns the time noted, for `input_answered` (may be called from the terminal
        driver's thread: it only notes the time)."""
        return self.keys.arrived(time.monotonic())

    def input_answered(self, arrived: float) -> None:
        """The app has handled the input noted at *arrived* and drawn its answer: unless
        another came since, a batch held for it goes now (if its time has come)."""
        if self.keys.answer(arrived) and self._timer is not None:
            self._timer.cancel()
            self._timer = asyncio.get_running_loop().call_later(0, self._check, True)

    def _check(self, just_answered: bool = False) -> None:
        """Flush when the batch is due, or before once no event came since the last
        check: the stream has gone quiet. Not while a key is being answered or expected
        (KeysFirst), unless the batch has waited too long."""
        self._timer = None
        loop = asyncio.get_running_loop()
        now = loop.time()
        left = self._due - now
        if self._arrived != self._arrived_at_check:
            self._arrived_at_check = self._arrived
            self._seen_at = now
        quiet_left = self._seen_at + QUIET - now
        if left > 0 and quiet_left > 0:
            self._timer = loop.call_later(min(QUIET_STEP, quiet_left, left), self._check)
            return
        overdue = now - self._due
        if overdue < HOLD_AT_MOST:
            cost = max(self._costs, default=0.0)
            hold = self.keys.wait(time.monotonic(), cost, just_answered=just_answered)
            if hold > 0:
                self._timer = loop.call_later(min(hold, HOLD_AT_MOST - overdue), self._check)
                return
        self.flush()

    def _handled(self) -> None:
        """The app has handled and drawn the last batch: the next may go when its time
        comes, which is later the longer that took."""
        self._waiting = False
        spent = asyncio.get_running_loop().time() - self._posted_at
        self._costs.append(spent)
        self._pause = min(MAX_PAUSE, spent * SCREEN_SHARE)
        if self._feed or self._sessions_changed or self._transcript or self._open_delta:
            self._schedule()

    def flush(self) -> None:
        """Post what has been collected since the last flush (tests call this directly)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        posted = False
        if self._feed or self._sessions_changed:
            posted = self.target.post_message(self.TeamChanged(tuple(self._feed), self.snapshot()))
            self._feed.clear()
            self._sessions_changed = False
        self._close_delta()
        if self._transcript and self.followed is not None:
            arrived = self.SessionEventsArrived(self.followed, tuple(self._transcript))
            posted = self.target.post_message(arrived) or posted
            self._transcript.clear()
        if posted:
            # Queued behind the batch, and run after the screen is drawn again.
            self._posted_at = asyncio.get_running_loop().time()
            self._waiting = self.target.call_after_refresh(self._handled)
