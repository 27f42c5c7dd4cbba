"""How the team reacts to OpenCode's events: each one folded into its session's state, and
what it changed told to the team (usage, requests, errors, statuses, a turn's end).

`EventReactions` is a collaborator of the coordinator: it holds no team state, and acts
only through the coordinator's public methods named by `ReactionTarget`. It also passes
every event of a tracked session to the session listeners (the screen, the activity).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

from ensemble_tui.core.models import Member, MemberStatus
from ensemble_tui.core.team.delivery import Delivery
from ensemble_tui.core.team.events import (
    MemberErrored,
    MemberIdle,
    MemberRateLimited,
    PermissionAsked,
    QuestionAsked,
    TeamEvent,
)
from ensemble_tui.core.team.sessions import Change, SessionState
from ensemble_tui.opencode.events import Event
from ensemble_tui.opencode.models import Tokens

SessionListener = Callable[[SessionState, Event], None]


class ReactionTarget(Protocol):
    """What the reactions need of the coordinator, which owns the team's state."""

    delivery: Delivery

    def session(self, session_id: str) -> SessionState | None: ...

    def member(self, name: str) -> Member | None: ...

    def add_usage(self, name: str, tokens: Tokens, cost: float) -> None: ...

    def record(self, event: TeamEvent) -> None: ...

    def record_status(self, state: SessionState) -> None: ...

    async def finish_shutdown(self, member: Member, reason: str) -> None: ...

    async def model_unreachable(self, state: SessionState, reason: str) -> None: ...

    def model_answered(self) -> None: ...

    def note_change(self) -> None: ...


class EventReactions:
    """Folds OpenCode's events into the team, one at a time, in the stream's order."""

    def __init__(self, coordinator: ReactionTarget) -> None:
        self.coordinator = coordinator
        self._session_listeners: list[SessionListener] = []

    def add_session_listener(self, listener: SessionListener) -> Callable[[], None]:
        """Call *listener* with every event of a tracked session; returns the remover."""
        self._session_listeners.append(listener)
        return lambda: self._session_listeners.remove(listener)

    async def handle_event(self, event: Event) -> None:
        """Fold one OpenCode event into the team (the stream calls this for every frame)."""
        coordinator = self.coordinator
        session_id = getattr(event, "session_id", None)
        state = coordinator.session(session_id) if session_id else None
        if state is None and hasattr(event, "request"):
            state = coordinator.session(getattr(event.request, "session_id", ""))
        if state is None:
            return
        change = state.apply(event)
        if change.matters:
            await self._on_change(state, change)
            coordinator.note_change()
        for listener in list(self._session_listeners):
            listener(state, event)

    async def _on_change(self, state: SessionState, change: Change) -> None:
        coordinator = self.coordinator
        record = coordinator.record
        member = coordinator.member(state.member)
        if change.usage is not None and member is not None:
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
        if change.unreachable is not None:
            await coordinator.model_unreachable(state, change.unreachable)
        if change.usage is not None:
            coordinator.model_answered()
        if change.failed_start is not None and not (member and member.status.ended):
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
            # The change's status is the one the session's state stands for now.
            coordinator.record_status(state)
        if change.turn_ended:
            stopped = change.stopped_by_human
            said = "stopped by you" if stopped else None
            record(MemberIdle(member=state.member, text=said, stopped=stopped))
            if member is not None and member.shutdown_requested and not member.status.ended:
                await coordinator.finish_shutdown(member, "shutdown")
            else:
                await coordinator.delivery.deliver_pending(state)
