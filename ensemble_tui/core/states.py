"""The names and states of teams, members and tasks, apart from their pydantic models
(`models.py`, which re-exports them), so the screen draws them without loading pydantic."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

LEAD_NAME = "lead"


def utc_now() -> datetime:
    """The current time, timezone-aware in UTC, as every stored timestamp is."""
    return datetime.now(UTC)


class TeamStatus(StrEnum):
    """Whether a team is still at work; archived names can be used again."""

    ACTIVE = "active"
    ARCHIVED = "archived"


class MemberRole(StrEnum):
    """The lead plans and merges; teammates do the work in their own worktrees."""

    LEAD = "lead"
    TEAMMATE = "teammate"


class MemberStatus(StrEnum):
    """What a member is doing, as the event stream reports it."""

    STARTING = "starting"
    WORKING = "working"
    NEEDS_PERMISSION = "needs-permission"
    NEEDS_ANSWER = "needs-answer"
    IDLE = "idle"
    STALLED = "stalled"
    RATE_LIMITED = "rate-limited"
    ERROR = "error"
    TIMED_OUT = "timed-out"
    SHUT_DOWN = "shut-down"
    MERGED = "merged"

    @property
    def ended(self) -> bool:
        """A member in this state takes no part any more: no messages, no tasks, no turns."""
        return self in ENDED_STATUSES

    @property
    def needs_human(self) -> bool:
        """The member waits for the human's answer to a permission or a question."""
        return self in (MemberStatus.NEEDS_PERMISSION, MemberStatus.NEEDS_ANSWER)


# The one definition of "ended": every rule about ended members reads it from here.
ENDED_STATUSES = frozenset({MemberStatus.SHUT_DOWN, MemberStatus.MERGED, MemberStatus.TIMED_OUT})


class TaskStatus(StrEnum):
    """Where a task is on the board."""

    PENDING = "pending"
    BLOCKED = "blocked"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class TaskPriority(StrEnum):
    """How soon a task should be picked up."""

    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
