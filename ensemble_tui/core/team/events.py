"""The team's events: one small frozen dataclass per kind of thing the team did.

Every event has a `type` (`member.spawned`, `task.completed`...), a `time`, and its own
fields. The coordinator records each one once (`Coordinator.record`): into the team's
event log in the store and out to the feed's subscribers, so the log, the screen and
`ensemble-tui run --json` never disagree. Consumers dispatch on the class, never on a
prefix of the type string. On resume the log is read back (`from_record`) so the feed
shows the team's history.

`to_json()` is a public interface (`run --json`): the README lists every type and its
fields; `sender` and `recipient` are written as `from` and `to`.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from ensemble_tui.core.models import utc_now

# The fields every event may carry; the rest are an event's own (its `detail`).
_COMMON = ("time", "member", "task", "sender", "recipient", "text")
_JSON_NAMES = {"sender": "from", "recipient": "to"}

EVENT_TYPES: dict[str, type[TeamEvent]] = {}


_RECORDED_FIELDS: dict[type[TeamEvent], tuple[tuple[str, str], ...]] = {}


def _recorded_fields(kind: type[TeamEvent]) -> tuple[tuple[str, str], ...]:
    """Every field of *kind* but `time`, in order, with its JSON name (looked up once)."""
    found = _RECORDED_FIELDS.get(kind)
    if found is None:
        found = tuple(
            (f.name, _JSON_NAMES.get(f.name, f.name))
            for f in dataclasses.fields(kind)
            if f.name != "time"
        )
        _RECORDED_FIELDS[kind] = found
    return found


@dataclass(frozen=True, kw_only=True)
class TeamEvent:
    """One thing the team did."""

    type: ClassVar[str] = "event"
    logged: ClassVar[bool] = True
    """Whether it goes into the team's event log (connection events do not)."""
    summary: ClassVar[str] = ""
    """What the README's `--json` table says of it."""

    time: datetime = field(default_factory=utc_now)
    member: str | None = None
    task: str | None = None
    sender: str | None = None
    recipient: str | None = None
    text: str | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "type" in cls.__dict__:
            EVENT_TYPES[cls.type] = cls

    @property
    def detail(self) -> dict[str, Any]:
        """The event's own fields (beyond who, what task and text)."""
        return {
            f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in _COMMON
        }

    def record(self) -> dict[str, Any]:
        """`type`, `time` and every field that is set, with JSON names."""
        found: dict[str, Any] = {"type": self.type, "time": self.time.isoformat()}
        for name, json_name in _recorded_fields(type(self)):
            value = getattr(self, name)
            if value is not None:
                found[json_name] = value
        return found

    def to_json(self) -> str:
        """One JSON object: `type`, `time` and the fields this event has."""
        return json.dumps(self.record(), default=str)

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


def from_record(record: dict[str, Any]) -> TeamEvent | None:
    """The event a `record()` stands for (None for a type this version does not know)."""
    cls = EVENT_TYPES.get(str(record.get("type")))
    if cls is None:
        return None
    names = {f.name for f in dataclasses.fields(cls)}
    values: dict[str, Any] = {}
    for key, value in record.items():
        name = {"from": "sender", "to": "recipient"}.get(key, key)
        if name in names:
            values[name] = value
    if isinstance(values.get("time"), str):
        values["time"] = datetime.fromisoformat(values["time"])
    try:
        return cls(**values)
    except TypeError:
        return None


# The connection to OpenCode


@dataclass(frozen=True, kw_only=True)
class ServerConnected(TeamEvent):
    type: ClassVar[str] = "server.connected"
    logged: ClassVar[bool] = False
    summary: ClassVar[str] = "the event stream is connected (`reconnected` after a drop)"
    reconnected: bool = False


@dataclass(frozen=True, kw_only=True)
class ServerDisconnected(TeamEvent):
    type: ClassVar[str] = "server.disconnected"
    logged: ClassVar[bool] = False
    summary: ClassVar[str] = "the event stream dropped; `text` says why (it reconnects)"


@dataclass(frozen=True, kw_only=True)
class ServerRestarted(TeamEvent):
    type: ClassVar[str] = "server.restarted"
    summary: ClassVar[str] = (
        "OpenCode restarted: the tools are registered again, `cut_short` members continue"
    )
    cut_short: list[str] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class ToolsReconnected(TeamEvent):
    type: ClassVar[str] = "member.tools_reconnected"
    summary: ClassVar[str] = (
        "`member` was working when ensemble-tui or OpenCode restarted: it is told its team "
        "tools are back and to repeat a team tool call that failed (`busy`: its turn still runs)"
    )
    busy: bool = False


# The team


@dataclass(frozen=True, kw_only=True)
class LeadStarted(TeamEvent):
    type: ClassVar[str] = "lead.started"
    logged: ClassVar[bool] = False
    summary: ClassVar[str] = "the lead's session is ready (`session`)"
    session: str


@dataclass(frozen=True, kw_only=True)
class PromptSent(TeamEvent):
    type: ClassVar[str] = "prompt.sent"
    summary: ClassVar[str] = "`run` sent its PROMPT to the lead (`text`)"


@dataclass(frozen=True, kw_only=True)
class TeamOpened(TeamEvent):
    type: ClassVar[str] = "team.opened"
    logged: ClassVar[bool] = False
    summary: ClassVar[str] = "the screen started: `text` says what it picked up"


@dataclass(frozen=True, kw_only=True)
class TeamCreated(TeamEvent):
    type: ClassVar[str] = "team.created"
    summary: ClassVar[str] = "the lead created the team named `text`"


@dataclass(frozen=True, kw_only=True)
class TeamResumed(TeamEvent):
    type: ClassVar[str] = "team.resumed"
    summary: ClassVar[str] = "an unfinished team (`text`) was picked up; `notes` per member"
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class TeamCleanedUp(TeamEvent):
    type: ClassVar[str] = "team.cleaned_up"
    summary: ClassVar[str] = "the team (`text`) ended: everyone shut down, branches merged or kept"


@dataclass(frozen=True, kw_only=True)
class RunFinished(TeamEvent):
    type: ClassVar[str] = "run.finished"
    logged: ClassVar[bool] = False
    summary: ClassVar[str] = "`run` ends: the lead and every teammate are idle"


@dataclass(frozen=True, kw_only=True)
class RunFailure(TeamEvent):
    type: ClassVar[str] = "run.failed"
    logged: ClassVar[bool] = False
    summary: ClassVar[str] = (
        "`run` ends in error (exit 1): `text` says why (a member's error, or the time limit)"
    )


@dataclass(frozen=True, kw_only=True)
class ModelChecked(TeamEvent):
    type: ClassVar[str] = "model.checked"
    logged: ClassVar[bool] = False
    summary: ClassVar[str] = (
        "at start, the lead's model (`model`) is usable; `text`: where it is set"
    )
    model: str | None = None


@dataclass(frozen=True, kw_only=True)
class ModelUnavailable(TeamEvent):
    type: ClassVar[str] = "model.unavailable"
    logged: ClassVar[bool] = False
    summary: ClassVar[str] = (
        "at start, the lead's model (`model`) cannot be used; `text` says why and the fix"
    )
    model: str | None = None


# Members


@dataclass(frozen=True, kw_only=True)
class MemberSpawned(TeamEvent):
    type: ClassVar[str] = "member.spawned"
    summary: ClassVar[str] = "a teammate started (`branch`, `session`, `read_only`)"
    branch: str | None = None
    session: str = ""
    read_only: bool = False


@dataclass(frozen=True, kw_only=True)
class MemberForked(TeamEvent):
    type: ClassVar[str] = "member.forked"
    summary: ClassVar[str] = (
        "a member started from a copy of `source`'s conversation (`branch`, `session`, `group`)"
    )
    source: str = ""
    branch: str | None = None
    session: str = ""
    group: str = ""


@dataclass(frozen=True, kw_only=True)
class ForkChosen(TeamEvent):
    type: ClassVar[str] = "fork.chosen"
    summary: ClassVar[str] = (
        "one fork of a group was merged (`member`), the others shut down with their "
        "branches kept (`kept`)"
    )
    kept: list[str] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class HandoffQueued(TeamEvent):
    type: ClassVar[str] = "handoff.queued"
    summary: ClassVar[str] = (
        "a hand-off (`mode`: message, new or compact; `agent`; `text`) waits for the member's "
        "turn to end, also across a restart"
    )
    mode: str = ""
    agent: str | None = None


@dataclass(frozen=True, kw_only=True)
class HandoffDone(TeamEvent):
    type: ClassVar[str] = "handoff.done"
    summary: ClassVar[str] = (
        "a hand-off happened (`mode`, `agent`; `session` is the new one after `new`)"
    )
    mode: str = ""
    agent: str | None = None
    session: str | None = None


@dataclass(frozen=True, kw_only=True)
class MemberCompacted(TeamEvent):
    type: ClassVar[str] = "member.compacted"
    summary: ClassVar[str] = (
        "a member's conversation was summarized; its next prompt carries the team context again"
    )


@dataclass(frozen=True, kw_only=True)
class MemberSpawnFailed(TeamEvent):
    type: ClassVar[str] = "member.spawn_failed"
    summary: ClassVar[str] = "a spawn failed and was undone; `text` says why"


@dataclass(frozen=True, kw_only=True)
class MemberStatusChanged(TeamEvent):
    type: ClassVar[str] = "member.status"
    summary: ClassVar[str] = "a member's status changed to `text`"


@dataclass(frozen=True, kw_only=True)
class MemberIdle(TeamEvent):
    type: ClassVar[str] = "member.idle"
    summary: ClassVar[str] = "a member's turn ended (`stopped` if the human stopped it)"
    stopped: bool = False


@dataclass(frozen=True, kw_only=True)
class MemberErrored(TeamEvent):
    type: ClassVar[str] = "member.error"
    summary: ClassVar[str] = "a member's turn failed; `text` is the error"


@dataclass(frozen=True, kw_only=True)
class MemberRateLimited(TeamEvent):
    type: ClassVar[str] = "member.rate_limited"
    summary: ClassVar[str] = "the provider is busy; OpenCode retries at `next_attempt`"
    next_attempt: str | None = None


@dataclass(frozen=True, kw_only=True)
class MemberStalled(TeamEvent):
    type: ClassVar[str] = "member.stalled"
    summary: ClassVar[str] = "a working teammate went quiet (`text`); it was nudged once"


@dataclass(frozen=True, kw_only=True)
class MemberTimedOut(TeamEvent):
    type: ClassVar[str] = "member.timed_out"
    summary: ClassVar[str] = "stopped after `text` of quiet; work on `branch`, tasks `released`"
    branch: str | None = None
    released: list[str] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class MemberLost(TeamEvent):
    type: ClassVar[str] = "member.lost"
    summary: ClassVar[str] = "a member's session or worktree is gone; `text` says which"


@dataclass(frozen=True, kw_only=True)
class MemberShutdownRequested(TeamEvent):
    type: ClassVar[str] = "member.shutdown_requested"
    summary: ClassVar[str] = "a teammate will stop after its current turn"


@dataclass(frozen=True, kw_only=True)
class MemberShutDown(TeamEvent):
    type: ClassVar[str] = "member.shut_down"
    summary: ClassVar[str] = "a teammate stopped (`text`: why); work committed, tasks `released`"
    released: list[str] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class MemberMerged(TeamEvent):
    type: ClassVar[str] = "member.merged"
    summary: ClassVar[str] = (
        "a branch came back as unstaged changes (`files`, `additions`, `deletions`, from "
        "`commits`); `check_overridden` if the human merged it although its check did not pass, "
        "`review_overridden` although its review did not approve it"
    )
    files: list[str] = field(default_factory=list)
    additions: int = 0
    deletions: int = 0
    commits: int = 0
    check_overridden: bool = False
    review_overridden: bool = False


@dataclass(frozen=True, kw_only=True)
class MergeRefused(TeamEvent):
    type: ClassVar[str] = "merge.refused"
    summary: ClassVar[str] = "a merge would conflict (`files`); nothing was changed"
    files: list[str] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class MemberPlanApproved(TeamEvent):
    type: ClassVar[str] = "member.plan_approved"
    summary: ClassVar[str] = "a plan-approval teammate got write access"


@dataclass(frozen=True, kw_only=True)
class MemberViewed(TeamEvent):
    type: ClassVar[str] = "member.view"
    logged: ClassVar[bool] = False
    summary: ClassVar[str] = "the lead asked the screen to show `member`"


# What waits for the human


@dataclass(frozen=True, kw_only=True)
class PermissionAsked(TeamEvent):
    type: ClassVar[str] = "permission.asked"
    summary: ClassVar[str] = "a member asks to use `text` on `patterns` (`request` id)"
    request: str = ""
    patterns: list[str] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class PermissionAnswered(TeamEvent):
    type: ClassVar[str] = "permission.answered"
    summary: ClassVar[str] = (
        "the human answered request `request` with `text` (once, always, reject)"
    )
    request: str = ""


@dataclass(frozen=True, kw_only=True)
class QuestionAsked(TeamEvent):
    type: ClassVar[str] = "question.asked"
    summary: ClassVar[str] = "a member asks the human `text`"


@dataclass(frozen=True, kw_only=True)
class QuestionAnswered(TeamEvent):
    type: ClassVar[str] = "question.answered"
    summary: ClassVar[str] = "the human answered a member's question"


# Messages


@dataclass(frozen=True, kw_only=True)
class MessageSent(TeamEvent):
    type: ClassVar[str] = "message.sent"
    summary: ClassVar[str] = "`from` wrote `text` to `to` (no `to`: to everyone); id `message`"
    message: int


@dataclass(frozen=True, kw_only=True)
class MessageParked(TeamEvent):
    type: ClassVar[str] = "message.parked"
    summary: ClassVar[str] = "a bare acknowledgement (`message`) was saved without waking `to`"
    message: int


@dataclass(frozen=True, kw_only=True)
class MessageDelivered(TeamEvent):
    type: ClassVar[str] = "message.delivered"
    summary: ClassVar[str] = "message `message` reached `to`'s session"
    message: int


@dataclass(frozen=True, kw_only=True)
class MessageUndeliverable(TeamEvent):
    type: ClassVar[str] = "message.undeliverable"
    summary: ClassVar[str] = "`to` ended before message `message` reached it"
    message: int


@dataclass(frozen=True, kw_only=True)
class DeliveryFailed(TeamEvent):
    type: ClassVar[str] = "delivery.failed"
    summary: ClassVar[str] = "OpenCode refused a delivery to `member` (it is retried)"


# Tasks


@dataclass(frozen=True, kw_only=True)
class TaskAdded(TeamEvent):
    type: ClassVar[str] = "task.added"
    summary: ClassVar[str] = "`member` added task `task` (`text`, `status`, `depends_on`)"
    status: str = "pending"
    depends_on: list[str] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class TaskClaimed(TeamEvent):
    type: ClassVar[str] = "task.claimed"
    summary: ClassVar[str] = "`member` holds task `task`"


@dataclass(frozen=True, kw_only=True)
class TaskCompleted(TeamEvent):
    type: ClassVar[str] = "task.completed"
    summary: ClassVar[str] = "`member` completed task `task` (`text`: its result)"


@dataclass(frozen=True, kw_only=True)
class TaskUnblocked(TeamEvent):
    type: ClassVar[str] = "task.unblocked"
    summary: ClassVar[str] = "task `task` can be claimed now"


@dataclass(frozen=True, kw_only=True)
class TaskReleased(TeamEvent):
    type: ClassVar[str] = "task.released"
    summary: ClassVar[str] = "`member` ended while holding task `task`; it is pending again"


# Checks before merge


@dataclass(frozen=True, kw_only=True)
class CheckStarted(TeamEvent):
    type: ClassVar[str] = "check.started"
    summary: ClassVar[str] = "`member`'s check (`command`) started on `commit`"
    command: str = ""
    commit: str | None = None


@dataclass(frozen=True, kw_only=True)
class CheckPassed(TeamEvent):
    type: ClassVar[str] = "check.passed"
    summary: ClassVar[str] = "`member`'s check (`command`) passed on `commit` in `seconds`"
    command: str = ""
    commit: str | None = None
    seconds: float = 0.0


@dataclass(frozen=True, kw_only=True)
class CheckFailed(TeamEvent):
    type: ClassVar[str] = "check.failed"
    summary: ClassVar[str] = (
        "`member`'s check (`command`) did not pass on `commit`: `outcome` is failed, "
        "timed_out or not_run, `exit_code`, `seconds`; `text` is the end of its output"
    )
    command: str = ""
    commit: str | None = None
    outcome: str = "failed"
    exit_code: int | None = None
    seconds: float = 0.0


@dataclass(frozen=True, kw_only=True)
class MergeBlocked(TeamEvent):
    type: ClassVar[str] = "merge.blocked"
    summary: ClassVar[str] = (
        "a merge was refused because `member`'s check did not pass or its review did not "
        "approve it; `text` says why"
    )


# Reviews by the review agent


@dataclass(frozen=True, kw_only=True)
class ReviewStarted(TeamEvent):
    type: ClassVar[str] = "review.started"
    summary: ClassVar[str] = (
        "a read-only reviewer (`agent`, session `session`) started on `member`'s branch at `commit`"
    )
    agent: str = ""
    commit: str = ""
    session: str | None = None


@dataclass(frozen=True, kw_only=True)
class ReviewApproved(TeamEvent):
    type: ClassVar[str] = "review.approved"
    summary: ClassVar[str] = (
        "the reviewer (`agent`) approved `member`'s branch at `commit`; `text`: why"
    )
    agent: str = ""
    commit: str = ""


@dataclass(frozen=True, kw_only=True)
class ReviewChangesRequested(TeamEvent):
    type: ClassVar[str] = "review.changes_requested"
    summary: ClassVar[str] = (
        "the reviewer (`agent`) asked for changes to `member`'s branch at `commit`; `text`: "
        "its reasons, sent to `member`"
    )
    agent: str = ""
    commit: str = ""


@dataclass(frozen=True, kw_only=True)
class ReviewNoVerdict(TeamEvent):
    type: ClassVar[str] = "review.no_verdict"
    summary: ClassVar[str] = (
        "the review (`agent`) of `member`'s branch at `commit` ended without a verdict "
        "(asked twice, timed out, or could not start); `text` says why"
    )
    agent: str = ""
    commit: str = ""


# Pauses, budgets and until-done


@dataclass(frozen=True, kw_only=True)
class TeamPaused(TeamEvent):
    type: ClassVar[str] = "team.paused"
    summary: ClassVar[str] = (
        "the team gets no new prompts: `cause` is human, budget or no_progress; `text` says why"
    )
    cause: str = "human"


@dataclass(frozen=True, kw_only=True)
class TeamUnpaused(TeamEvent):
    type: ClassVar[str] = "team.unpaused"
    summary: ClassVar[str] = "the human lifted the pause: what waited is delivered"


@dataclass(frozen=True, kw_only=True)
class BudgetWarning(TeamEvent):
    type: ClassVar[str] = "budget.warning"
    summary: ClassVar[str] = (
        "80% of a `budget` (tokens, cost, time, member_tokens) is used: `used` of `limit`; "
        "`member` for a teammate's"
    )
    budget: str = ""
    used: float = 0.0
    limit: float = 0.0


@dataclass(frozen=True, kw_only=True)
class BudgetReached(TeamEvent):
    type: ClassVar[str] = "budget.reached"
    summary: ClassVar[str] = (
        "a `budget` is used up (`used` of `limit`): the team (or `member`) gets no more "
        "prompts, its turns are stopped and its work committed"
    )
    budget: str = ""
    used: float = 0.0
    limit: float = 0.0


@dataclass(frozen=True, kw_only=True)
class UntilDoneChanged(TeamEvent):
    type: ClassVar[str] = "team.until_done"
    summary: ClassVar[str] = "the human turned until-done mode on or off (`enabled`)"
    enabled: bool = False


@dataclass(frozen=True, kw_only=True)
class TeamContinued(TeamEvent):
    type: ClassVar[str] = "team.continued"
    summary: ClassVar[str] = (
        "until-done: the lead stopped with work open and was told what remains (`text`); "
        "`round`, `remaining` task ids, `idle` teammates, `without_progress` rounds"
    )
    round: int = 0
    remaining: list[str] = field(default_factory=list)
    idle: list[str] = field(default_factory=list)
    without_progress: int = 0


# The end of a team


@dataclass(frozen=True, kw_only=True)
class TeamReported(TeamEvent):
    type: ClassVar[str] = "team.report"
    logged: ClassVar[bool] = False  # It is saved once, by the report itself.
    summary: ClassVar[str] = (
        "the team's report (`run`'s last event): the `reason` it ended, `members` (each with "
        "`tasks`, `commits`, `files`, `additions`, `deletions`, `check`, `outcome`, `tokens`, "
        "`cost`), `tasks_open`, `tokens`, `cost`, `seconds`; `text` is it in Markdown"
    )
    team: str = ""
    reason: str = ""
    members: list[dict[str, Any]] = field(default_factory=list)
    tasks_open: list[str] = field(default_factory=list)
    tokens: int = 0
    cost: float = 0.0
    seconds: float = 0.0

    def to_line(self) -> str:
        """The whole report: it is read, not skimmed."""
        clock = self.time.astimezone().strftime("%H:%M:%S")
        return f"{clock} {self.type:<20} {self.team}: {self.reason}\n{self.text or ''}".rstrip()
