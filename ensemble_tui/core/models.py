"""The coordinator's domain models: teams, members, tasks, messages and log entries."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

# The names and states the screen draws at its first frame, before pydantic is loaded.
from ensemble_tui.core.states import ENDED_STATUSES as ENDED_STATUSES
from ensemble_tui.core.states import LEAD_NAME as LEAD_NAME
from ensemble_tui.core.states import MemberRole as MemberRole
from ensemble_tui.core.states import MemberStatus as MemberStatus
from ensemble_tui.core.states import TaskPriority as TaskPriority
from ensemble_tui.core.states import TaskStatus as TaskStatus
from ensemble_tui.core.states import TeamStatus as TeamStatus
from ensemble_tui.core.states import utc_now as utc_now

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9-]{0,30}$")
MODEL_PATTERN = re.compile(r"^[^/\s]+/\S+$")


def validate_name(kind: str, value: str) -> str:
    """Return `value` if it is a valid team or member name, else raise a readable ValueError.

    Names end up in branch names and paths, so only `^[a-z][a-z0-9-]{0,30}$` is accepted.
    """
    if not NAME_PATTERN.fullmatch(value):
        raise ValueError(
            f"{kind.capitalize()} name {value!r} is not allowed: use 1 to 31 characters, lowercase "
            "letters, digits and '-', starting with a letter (for example 'api-tests')."
        )
    return value


def validate_model_id(value: str | None) -> str | None:
    """Return `value` if it is None or a 'provider/model' id, else raise a readable ValueError."""
    if value is not None and not MODEL_PATTERN.fullmatch(value):
        raise ValueError(
            f"Model {value!r} is not allowed: use 'provider/model', "
            "for example 'anthropic/claude-sonnet-4'."
        )
    return value


TeamName = Annotated[str, AfterValidator(lambda value: validate_name("team", value))]
MemberName = Annotated[str, AfterValidator(lambda value: validate_name("member", value))]
ModelId = Annotated[str | None, AfterValidator(validate_model_id)]


class Team(BaseModel):
    """One lead session and its teammates, working in one repository."""

    model_config = ConfigDict(frozen=True)

    id: int
    name: TeamName
    lead_session_id: str
    repo_root: Path
    status: TeamStatus = TeamStatus.ACTIVE
    created: datetime = Field(default_factory=utc_now)
    archived_at: datetime | None = None


class Member(BaseModel):
    """A lead or teammate: one OpenCode session, usually with its own worktree and branch."""

    model_config = ConfigDict(frozen=True)

    team_id: int
    name: MemberName
    role: MemberRole = MemberRole.TEAMMATE
    session_id: str | None = None
    agent: str = "build"
    model: ModelId = None
    status: MemberStatus = MemberStatus.STARTING
    worktree_path: Path | None = None
    branch: str | None = None
    base_commit: str | None = None
    read_only: bool = False
    input_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    cost: float = 0.0
    last_activity: datetime | None = None
    status_since: datetime = Field(default_factory=utc_now)
    current_task_id: str | None = None
    error: str | None = None
    shutdown_requested: bool = False
    plan_approval: bool = False
    created: datetime = Field(default_factory=utc_now)
    forked_from: str | None = None
    """The member whose conversation this one's session was forked from."""
    fork_group: str | None = None
    """Members forked from the same point of the same conversation share this."""
    first_prompt: str | None = None
    """A teammate's first prompt as sent, kept so a resume can send it again if OpenCode
    took it but died before writing it down."""

    @model_validator(mode="after")
    def _lead_is_named_lead(self) -> Self:
        # Agents address the lead as `lead`, so that name and that role go together.
        if (self.name == LEAD_NAME) != (self.role is MemberRole.LEAD):
            raise ValueError(
                f"member name {LEAD_NAME!r} is reserved for the lead, and the lead must use it."
            )
        return self


class MemberUpdate(BaseModel):
    """The fields of a member that may change; only the fields set are written."""

    session_id: str | None = None
    agent: str | None = None
    model: ModelId = None
    status: MemberStatus | None = None
    worktree_path: Path | None = None
    branch: str | None = None
    base_commit: str | None = None
    read_only: bool | None = None
    last_activity: datetime | None = None
    current_task_id: str | None = None
    error: str | None = None
    shutdown_requested: bool | None = None
    plan_approval: bool | None = None
    first_prompt: str | None = None


class EarlierSession(BaseModel):
    """A session a member worked in before its current one (kept after a `new` hand-off)."""

    model_config = ConfigDict(frozen=True)

    member: str
    session_id: str
    directory: Path
    agent: str
    ended: datetime
    reason: str


class Task(BaseModel):
    """One item of a team's task board; `id` is short and per team (`t1`, `t2`, ...)."""

    model_config = ConfigDict(frozen=True)

    team_id: int
    id: str
    content: str
    priority: TaskPriority = TaskPriority.MEDIUM
    status: TaskStatus = TaskStatus.PENDING
    assignee: str | None = None
    depends_on: list[str] = Field(default_factory=list)
    created_by: str | None = None
    created: datetime = Field(default_factory=utc_now)
    updated: datetime = Field(default_factory=utc_now)
    result: str | None = None


class Message(BaseModel):
    """A message between members; `recipient` is None for a broadcast.

    In a recipient's own view `delivered_at` and `read_at` are that recipient's; in the
    feed they are set once every recipient has the message.
    """

    model_config = ConfigDict(frozen=True)

    id: int
    team_id: int
    sender: str
    recipient: str | None
    text: str
    created: datetime
    delivered_at: datetime | None = None
    read_at: datetime | None = None


class LogEntry(BaseModel):
    """One line of a team's event log; `detail` is free-form JSON."""

    model_config = ConfigDict(frozen=True)

    id: int
    team_id: int | None
    time: datetime
    kind: str
    member: str | None = None
    detail: dict[str, Any] = Field(default_factory=dict)
