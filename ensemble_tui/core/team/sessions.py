"""What the coordinator knows of each member's session, kept from `/global/event`.

`SessionState.apply` folds one OpenCode event into the state and says what changed,
so the coordinator can persist it and react (deliver messages on idle, tell the lead
about an error). Turn tracking matters: `prompt_async` answers before the session goes
busy, so a session that was just prompted counts as working until OpenCode has said
busy and then idle again.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

from ensemble_tui.core.models import MemberStatus
from ensemble_tui.core.team.model_check import hopeless_retry
from ensemble_tui.opencode.events import (
    Event,
    MessageUpdated,
    PartDelta,
    PartUpdated,
    PermissionAsked,
    PermissionReplied,
    QuestionAsked,
    QuestionRejected,
    QuestionReplied,
    SessionCompacted,
    SessionErrored,
    SessionIdle,
    SessionStatusChanged,
)
from ensemble_tui.opencode.models import (
    BusyStatus,
    IdleStatus,
    ModelRef,
    PatchPart,
    PermissionRequest,
    QuestionRequest,
    ReasoningPart,
    RetryStatus,
    StepFinishPart,
    StepStartPart,
    Tokens,
    ToolPart,
    UserMessage,
)

_OUTPUT_PARTS = (ToolPart, ReasoningPart, StepStartPart, StepFinishPart, PatchPart)
# The event types `apply` folds into the state; any other changes nothing.
_FOLDED = (
    SessionStatusChanged,
    SessionIdle,
    SessionCompacted,
    SessionErrored,
    PermissionAsked,
    PermissionReplied,
    QuestionAsked,
    QuestionReplied,
    QuestionRejected,
    PartUpdated,
    PartDelta,
    MessageUpdated,
)
# An idle that follows a prompt without any busy in between is stale after this long.
STALE_IDLE_GRACE = 5.0
# Step-finish ids remembered against double counting; a step is re-sent only while fresh.
COUNTED_STEPS_KEPT = 256


@dataclass
class Change:
    """What one event changed in a session's state."""

    status: MemberStatus | None = None
    usage: tuple[Tokens, float] | None = None
    turn_ended: bool = False
    error: str | None = None
    permission: PermissionRequest | None = None
    question: QuestionRequest | None = None
    activity: bool = False
    failed_start: str | None = None
    stopped_by_human: bool = False
    compacted: bool = False
    unreachable: str | None = None
    """OpenCode retries, but its reason (no connection, a refused key) will not pass."""

    @property
    def matters(self) -> bool:
        """Whether the coordinator has anything to do about it (activity alone is not)."""
        return (
            self.status is not None
            or self.usage is not None
            or self.turn_ended
            or self.error is not None
            or self.permission is not None
            or self.question is not None
            or self.failed_start is not None
            or self.compacted
            or self.unreachable is not None
        )


# What a streamed token changes (activity only): one shared value, never changed, since
# nothing is done about it.
STREAMED = Change(activity=True)
# What an event that changes nothing gives (a text part, a diff, a type not folded): as
# shared and as unchanged.
UNCHANGED = Change()


@dataclass
class SessionState:
    """One tracked session: whose it is, where it runs, and how its turn is going."""

    member: str
    session_id: str
    directory: str
    agent: str = "build"
    model: ModelRef | None = None
    busy: bool = False
    awaiting_turn: bool = False
    sent_at: float = 0.0
    retrying_until: int | None = None
    error: str | None = None
    permissions: dict[str, PermissionRequest] = field(default_factory=dict)
    questions: dict[str, QuestionRequest] = field(default_factory=dict)
    counted_steps: set[str] = field(default_factory=set)
    recent_steps: deque[str] = field(default_factory=lambda: deque(maxlen=COUNTED_STEPS_KEPT // 2))
    last_activity: float = field(default_factory=time.monotonic)
    stalled: bool = False
    prompts_sent: int = 0
    produced_output: bool = False
    stop_requested: bool = False  # the human stopped this turn (`S`), so its end says so
    needs_context: bool = False  # compacted: the next prompt says again who it is
    unreachable: bool = False  # this turn's model cannot be reached: an error, not a wait
    status_events: int = 0
    """How many status events (busy, retry, idle) were applied: a status read from the
    server is older than one the stream applied after the read began."""

    @property
    def idle(self) -> bool:
        """Idle means OpenCode said so after the last prompt we sent."""
        return not self.busy and not self.awaiting_turn

    def turn_aborted(self) -> None:
        """OpenCode has aborted the turn (its abort answered): the turn is over, and so is a
        prompt queued behind it (a nudge sent while busy), which OpenCode drops with it.
        The idle the abort brings may arrive before this (taken then for a stale idle, as
        the prompt was just sent) or after it (then it changes nothing)."""
        self._finish_turn()

    def prompt_sent(self) -> None:
        self.awaiting_turn = True
        self.sent_at = time.monotonic()
        self.last_activity = self.sent_at
        self.prompts_sent += 1
        self.error = None
        self.unreachable = False

    def status(self) -> MemberStatus:
        """The member status this session's state stands for."""
        if self.questions:
            return MemberStatus.NEEDS_ANSWER
        if self.permissions:
            return MemberStatus.NEEDS_PERMISSION
        if self.unreachable:
            return MemberStatus.ERROR
        if self.retrying_until is not None and self.busy:
            return MemberStatus.RATE_LIMITED
        if self.stalled and not self.idle:
            return MemberStatus.STALLED
        if not self.idle:
            return MemberStatus.WORKING
        return MemberStatus.ERROR if self.error else MemberStatus.IDLE

    def apply(self, event: Event) -> Change:
        """Fold one event of this session into the state."""
        if type(event) is PartDelta and not self.stalled:
            # A streamed token: the hot path, and it can change nothing but activity.
            self.produced_output = True
            self.last_activity = time.monotonic()
            return STREAMED
        if self._changes_nothing(event):
            return UNCHANGED
        before = self.status()
        change = Change()
        if isinstance(event, SessionStatusChanged):
            self.status_events += 1
            status = event.status
            if isinstance(status, BusyStatus | RetryStatus):
                self.busy = True
                self.awaiting_turn = False
                self.retrying_until = status.next if isinstance(status, RetryStatus) else None
                if isinstance(status, RetryStatus) and hopeless_retry(status.message):
                    # Retrying will not connect or make a refused key good: an error at once.
                    self.retrying_until = None
                    if not self.unreachable:
                        self.unreachable = True
                        self.error = status.message
                        change.unreachable = status.message
            elif isinstance(status, IdleStatus):
                change.turn_ended = self._end_turn()
        elif isinstance(event, SessionIdle):
            self.status_events += 1
            change.turn_ended = self._end_turn()
        elif isinstance(event, SessionCompacted):
            self.needs_context = True
            change.compacted = True
        elif isinstance(event, SessionErrored):
            if event.error is not None and event.error.name != "MessageAbortedError":
                self.error = event.error.message
                change.error = self.error
        elif isinstance(event, PermissionAsked):
            self.permissions[event.request.id] = event.request
            change.permission = event.request
        elif isinstance(event, PermissionReplied):
            self.permissions.pop(event.request_id, None)
        elif isinstance(event, QuestionAsked):
            self.questions[event.request.id] = event.request
            change.question = event.request
        elif isinstance(event, QuestionReplied | QuestionRejected):
            self.questions.pop(event.request_id, None)
        elif isinstance(event, PartUpdated | PartDelta):
            # Only the agent's own output is activity: our prompts' text parts are not.
            if isinstance(event, PartDelta) or isinstance(event.part, _OUTPUT_PARTS):
                change.activity = True
                self.produced_output = True
            if isinstance(event, PartUpdated) and isinstance(event.part, StepFinishPart):
                part = event.part
                if part.id not in self.counted_steps:
                    self._count_step(part.id)
                    change.usage = (part.tokens, part.cost)
        elif (
            isinstance(event, MessageUpdated)
            and isinstance(event.info, UserMessage)
            and self.model is None
        ):
            # Learn the model OpenCode chose, so later prompts can pin it.
            self.model = event.info.model
        if change.activity:
            self.last_activity = time.monotonic()
            self.stalled = False
        after = self.status()
        if after != before or change.turn_ended:
            change.status = after
        if change.turn_ended:
            change.stopped_by_human, self.stop_requested = self.stop_requested, False
        if (
            change.turn_ended
            and self.prompts_sent == 1
            and not self.produced_output
            and not self.unreachable
        ):
            # Idle right after the first prompt with nothing said: the model never started.
            change.failed_start = self.error or "the session ended its first turn with no output"
        return change

    def _changes_nothing(self, event: Event) -> bool:
        """Whether `apply` would fold *event* into nothing: most non-token frames (a text
        part, the assistant's message, a diff), so they skip the general path."""
        if isinstance(event, PartUpdated):
            return not isinstance(event.part, _OUTPUT_PARTS)
        if isinstance(event, MessageUpdated):
            return self.model is not None or not isinstance(event.info, UserMessage)
        return not isinstance(event, _FOLDED)

    def _count_step(self, part_id: str) -> None:
        """Remember a counted step, forgetting the oldest: only recent ones come again."""
        if len(self.counted_steps) >= COUNTED_STEPS_KEPT:
            self.counted_steps.clear()
            self.counted_steps.update(self.recent_steps)
        self.counted_steps.add(part_id)
        self.recent_steps.append(part_id)

    def apply_idle(self) -> Change:
        """Apply an idle status learned from `GET /session/status` rather than the stream."""
        event = SessionStatusChanged.model_validate(
            {
                "type": SessionStatusChanged.TYPE,
                "sessionID": self.session_id,
                "status": {"type": "idle"},
            }
        )
        return self.apply(event)

    def _end_turn(self) -> bool:
        if not self.busy and not self.awaiting_turn:
            return False
        if self.awaiting_turn and time.monotonic() - self.sent_at < STALE_IDLE_GRACE:
            # An idle from before our prompt reached the server: the turn has not run yet.
            return False
        self._finish_turn()
        return True

    def _finish_turn(self) -> None:
        self.busy = False
        self.awaiting_turn = False
        self.retrying_until = None
        # Pending requests die with the turn (an abort or an error ends it).
        self.permissions.clear()
        self.questions.clear()
