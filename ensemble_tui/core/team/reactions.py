"""How the team reacts to OpenCode's events: each one folded into its session's state, and
what it changed told to the team (usage, requests, errors, statuses, a turn's end).

`EventReactions` is a collaborator of the coordinator: it holds no team state, and acts
only through the coordinator's public methods named by `ReactionTarget`. It also passes
every event of a tracked session to the session listeners (the screen, the activity).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Protocol

from ensemble_tui.core.models import Member, MemberStatus
from ensemble_tui.core.store.store import MemberStanding, Store
from ensemble_tui.core.team.checks import Checks
from ensemble_tui.core.team.delivery import Delivery
from ensemble_tui.core.team.events import (
    MemberCompacted,
    MemberErrored,
    MemberIdle,
    MemberRateLimited,
    PermissionAsked,
    QuestionAsked,
    TeamEvent,
)
from ensemble_tui.core.team.review import Reviews
from ensemble_tui.core.team.sessions import STREAMED, Change, SessionState
from ensemble_tui.opencode.events import Event, PartDelta, UnknownEvent
from ensemble_tui.opencode.models import Tokens

log = logging.getLogger(__name__)

SessionListener = Callable[[SessionState, Event], None]
TallyListener = Callable[[dict[str, int]], None]
"""Told, once per run of events, how many events each member's sessions had."""
AfterTurn = Callable[[SessionState], Awaitable[None]]
# Seconds of handling frames between two yields to the event loop, so keys and redraws
# get a turn; the clock is read every CLOCK_EVERY frames.
YIELD_AFTER = 0.004
CLOCK_EVERY = 16


class ReactionTarget(Protocol):
    """What the reactions need of the coordinator, which owns the team's state."""

    delivery: Delivery
    checks: Checks
    reviews: Reviews

    def session(self, session_id: str) -> SessionState | None: ...

    def member(self, name: str) -> Member | None: ...

    def member_standing(self, name: str) -> MemberStanding | None: ...

    def add_usage(self, name: str, tokens: Tokens, cost: float) -> None: ...

    def record(self, event: TeamEvent) -> None: ...

    def record_status_change(
        self, state: SessionState, status: MemberStatus, standing: MemberStanding | None
    ) -> None: ...

    def model_unreachable(self, state: SessionState, reason: str) -> None: ...

    def model_answered(self) -> None: ...

    def take_after_turn(self, member: str) -> AfterTurn | None: ...

    def run_after_turn(self, state: SessionState, action: AfterTurn) -> None: ...

    async def stop_hopeless(self, state: SessionState) -> None: ...

    async def finish_shutdown(self, member: Member, reason: str) -> None: ...

    def note_change(self) -> None: ...


class _GroupedWrites:
    """One store transaction, begun at the first write and committed by `commit`."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._open: contextlib.AbstractContextManager[object] | None = None

    def begin(self) -> None:
        if self._open is None:
            opened = self._store.transaction()
            opened.__enter__()
            self._open = opened

    def commit(self) -> None:
        opened, self._open = self._open, None
        if opened is not None:
            opened.__exit__(None, None, None)


class EventReactions:
    """Folds OpenCode's events into the team, in the stream's order."""

    def __init__(self, coordinator: ReactionTarget, store: Store) -> None:
        self.coordinator = coordinator
        self.store = store
        """Only to group the writes of a run of events in one transaction."""
        # A tuple, replaced on change, so a listener may remove itself while being called.
        self._session_listeners: tuple[SessionListener, ...] = ()
        self._tally_listeners: tuple[TallyListener, ...] = ()

    def add_session_listener(self, listener: SessionListener) -> Callable[[], None]:
        """Call *listener* with every event of a tracked session; returns the remover."""
        self._session_listeners = (*self._session_listeners, listener)

        def remove() -> None:
            listeners = list(self._session_listeners)
            listeners.remove(listener)
            self._session_listeners = tuple(listeners)

        return remove

    def add_tally_listener(self, listener: TallyListener) -> Callable[[], None]:
        """Call *listener* with how many events each member's sessions had (those a session
        listener is called with), once per run of events rather than once per event: a
        counter then costs nothing per streamed token. Returns the remover."""
        self._tally_listeners = (*self._tally_listeners, listener)

        def remove() -> None:
            listeners = list(self._tally_listeners)
            listeners.remove(listener)
            self._tally_listeners = tuple(listeners)

        return remove

    def _tell_tally(self, tally: dict[str, int]) -> None:
        """Hand the counts so far to the tally listeners, and start counting afresh."""
        if not tally:
            return
        told = dict(tally)
        tally.clear()
        for listener in self._tally_listeners:
            try:
                listener(told)
            except Exception:
                log.exception("a tally listener failed; carrying on")

    async def handle_event(self, event: Event) -> None:
        """Fold one OpenCode event into the team."""
        await self.handle_events((event,))

    async def handle_events(self, events: Sequence[Event]) -> None:
        """Fold the events of one network read into the team, in order (the stream calls
        this for every read; one read holds ~150 frames).

        What they change is written in one transaction per run of events between two
        awaits (a delivery at a turn's end, a yield to the loop once YIELD_AFTER has
        passed), so the store is committed before anything is sent, with one commit, not
        one per change. A streamed token changes nothing to write: it is passed on.
        """
        writing = _GroupedWrites(self.store)
        session = self.coordinator.session
        clock = time.perf_counter
        yield_at = clock() + YIELD_AFTER
        tallying = bool(self._tally_listeners)
        tally: dict[str, int] = {}
        try:
            for number, event in enumerate(events, start=1):
                if number % CLOCK_EVERY == 0 and clock() >= yield_at:
                    writing.commit()
                    self._tell_tally(tally)
                    # Let keys and redraws in between.
                    await asyncio.sleep(0)
                    yield_at = clock() + YIELD_AFTER
                try:
                    if type(event) is PartDelta:
                        state = session(event.session_id)
                    elif type(event) is UnknownEvent:
                        continue  # a type no session's state reads: cheap to pass over
                    else:
                        state = self._state_of(event)
                    if state is None:
                        if self.coordinator.reviews.follows(event):
                            # A reviewer's session: no member, so none of the below.
                            writing.commit()
                            await self.coordinator.reviews.handle(event)
                        continue
                    change = state.apply(event)
                    if tallying:
                        member = state.member
                        tally[member] = tally.get(member, 0) + 1
                    if change is STREAMED:
                        for listener in self._session_listeners:
                            listener(state, event)
                        continue
                    standing = self._fold(state, event, change, writing)
                    if change.unreachable is not None:
                        writing.commit()
                        self._tell_tally(tally)
                        await self.coordinator.stop_hopeless(state)
                    if change.turn_ended:
                        self._tell_tally(tally)
                        await self._after_turn(state, standing, writing.commit)
                except Exception:
                    log.exception("the coordinator failed on %s; carrying on", event.type)
        finally:
            writing.commit()
            self._tell_tally(tally)

    def _state_of(self, event: Event) -> SessionState | None:
        """The tracked session *event* is about (None if it is about none)."""
        coordinator = self.coordinator
        session_id = getattr(event, "session_id", None)
        state = coordinator.session(session_id) if session_id else None
        if state is None and hasattr(event, "request"):
            state = coordinator.session(getattr(event.request, "session_id", ""))
        return state

    def _fold(
        self, state: SessionState, event: Event, change: Change, writing: _GroupedWrites
    ) -> MemberStanding | None:
        """Write what *change* (of *event*, applied to *state*) says, and pass the event on;
        the member's standing before, if it was read."""
        standing = None
        if change.matters:
            writing.begin()
            standing = self._write_change(state, change)
            self.coordinator.note_change()
        for listener in self._session_listeners:
            listener(state, event)
        return standing

    async def _after_turn(
        self, state: SessionState, standing: MemberStanding | None, commit: Callable[[], None]
    ) -> None:
        """A turn ended: finish a shutdown asked for, run the action waiting for this turn's
        end (a hand-off), or deliver what waits.

        *commit* commits what the events so far wrote; it is called before anything is
        sent or awaited, and only then: most turns end with nothing to deliver, and their
        writes then join the next commit rather than costing one each."""
        coordinator = self.coordinator
        action = coordinator.take_after_turn(state.member)
        if standing is not None and standing.shutdown_requested and not standing.status.ended:
            member = coordinator.member(state.member)
            commit()
            if member is not None:
                await coordinator.finish_shutdown(member, "shutdown")
        elif action is not None:
            commit()
            coordinator.run_after_turn(state, action)
        else:
            await coordinator.delivery.deliver_pending(state, before_sending=commit)
            coordinator.checks.after_turn(state)

    def _write_change(self, state: SessionState, change: Change) -> MemberStanding | None:
        """Write what *change* says to the store and the feed; the member's standing as
        it was before."""
        coordinator = self.coordinator
        record = coordinator.record
        standing = coordinator.member_standing(state.member)
        if change.usage is not None and standing is not None:
            tokens, cost = change.usage
            coordinator.add_usage(state.member, tokens, cost)
        if change.permission is not None:
            record(
                PermissionAsked(
                    member=state.member,
                    text=change.permission.permission,
                    request=change.permission.id,
                    patterns=change.permission.patterns,
                )
            )
        if change.question is not None:
            asked = "; ".join(q.question for q in change.question.questions)
            record(QuestionAsked(member=state.member, text=asked))
        if change.error is not None:
            record(MemberErrored(member=state.member, text=change.error))
        if change.compacted:
            record(MemberCompacted(member=state.member))
        if change.unreachable is not None:
            coordinator.model_unreachable(state, change.unreachable)
        if change.usage is not None:
            coordinator.model_answered()
        if change.failed_start is not None and not (standing and standing.status.ended):
            state.error = f"the model failed to start: {change.failed_start}"
            change.status = state.status()
            record(MemberErrored(member=state.member, text=state.error))
        if change.status is MemberStatus.RATE_LIMITED and state.retrying_until is not None:
            at = datetime.fromtimestamp(state.retrying_until / 1000, UTC)
            record(
                MemberRateLimited(
                    member=state.member,
                    text=f"the provider is busy; next attempt at {at.astimezone():%H:%M:%S}",
                    next_attempt=at.isoformat(),
                )
            )
        if change.status is not None:
            coordinator.record_status_change(state, change.status, standing)
        if change.turn_ended:
            stopped = change.stopped_by_human
            said = "stopped by you" if stopped else None
            record(MemberIdle(member=state.member, text=said, stopped=stopped))
        return standing
