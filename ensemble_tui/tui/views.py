"""What the panes show, computed from the coordinator: plain data, no widgets.

The widgets render these rows; keeping the reading of the coordinator here lets the
panes stay dumb (attributes down) and keeps the rules in one place.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from ensemble_tui.core.coordinator import Coordinator
from ensemble_tui.core.models import LEAD_NAME, Member, MemberStatus, utc_now
from ensemble_tui.core.sessions import SessionState

Clock = Callable[[], datetime]

# Statuses the store owns: the session's own state cannot tell these.
STORE_OWNED = frozenset(
    {MemberStatus.SHUT_DOWN, MemberStatus.MERGED, MemberStatus.TIMED_OUT, MemberStatus.STALLED}
)

# The theme variable each status is drawn in (None: the muted default).
STATUS_COLOURS: dict[MemberStatus, str | None] = {
    MemberStatus.STARTING: None,
    MemberStatus.WORKING: "success",
    MemberStatus.NEEDS_PERMISSION: "warning",
    MemberStatus.NEEDS_ANSWER: "warning",
    MemberStatus.IDLE: None,
    MemberStatus.STALLED: "warning",
    MemberStatus.RATE_LIMITED: "warning",
    MemberStatus.ERROR: "error",
    MemberStatus.TIMED_OUT: "error",
    MemberStatus.SHUT_DOWN: None,
    MemberStatus.MERGED: "primary",
}

STATUS_ICONS: dict[MemberStatus, str] = {
    MemberStatus.STARTING: "◌",
    MemberStatus.WORKING: "●",
    MemberStatus.NEEDS_PERMISSION: "◆",
    MemberStatus.NEEDS_ANSWER: "◆",
    MemberStatus.IDLE: "○",
    MemberStatus.STALLED: "◐",
    MemberStatus.RATE_LIMITED: "◐",
    MemberStatus.ERROR: "✖",
    MemberStatus.TIMED_OUT: "✖",
    MemberStatus.SHUT_DOWN: "■",
    MemberStatus.MERGED: "✔",
}


@dataclass(frozen=True)
class MemberRow:
    """One row of the teammate list."""

    name: str
    status: MemberStatus
    task: str
    """The id and the text of the task the member holds ('' for none)."""
    branch: str
    since: datetime | None
    tokens: int
    cost: float
    has_session: bool
    has_branch: bool

    @property
    def is_lead(self) -> bool:
        return self.name == LEAD_NAME

    @property
    def ended(self) -> bool:
        return self.status.ended

    @property
    def needs_human(self) -> bool:
        return self.status.needs_human


def live_status(member: Member, state: SessionState | None) -> MemberStatus:
    """The status to show: the session's own state, unless the store owns the status."""
    if state is None or member.status in STORE_OWNED:
        return member.status
    live = state.status()
    if member.status is MemberStatus.STARTING and live is MemberStatus.IDLE:
        return MemberStatus.STARTING
    return live


def member_rows(coordinator: Coordinator) -> list[MemberRow]:
    """The lead first (even before there is a team), then the teammates as they joined."""
    team = coordinator.team
    members = coordinator.store.list_members(team.id) if team is not None else []
    held = {
        task.id: task.content
        for task in (coordinator.board.list_tasks(team.id) if team is not None else [])
        if task.assignee is not None
    }

    def task_of(member: Member) -> str:
        found = member.current_task_id
        return f"{found} {held.get(found, '')}".strip() if found else ""

    rows = [
        MemberRow(
            name=member.name,
            status=live_status(member, coordinator.session_of(member.name)),
            task=task_of(member),
            branch=member.branch or "",
            since=member.status_since,
            tokens=member.input_tokens + member.output_tokens + member.reasoning_tokens,
            cost=member.cost,
            has_session=coordinator.session_of(member.name) is not None,
            has_branch=member.branch is not None,
        )
        for member in members
    ]
    lead = coordinator.lead
    if lead is not None and not any(row.is_lead for row in rows):
        row = MemberRow(LEAD_NAME, lead.status(), "", "", None, 0, 0.0, True, False)
        rows.insert(0, row)
    return rows


def format_tokens(count: int) -> str:
    """A short token count: 950, 12.3k, 4.1M."""
    if count < 1000:
        return str(count)
    if count < 1_000_000:
        return f"{count / 1000:.1f}k"
    return f"{count / 1_000_000:.1f}M"


def format_cost(cost: float) -> str:
    return f"${cost:.2f}"


def format_elapsed(since: datetime | None, now: datetime) -> str:
    """How long ago, in one short unit: 42s, 7m, 2h05."""
    if since is None:
        return ""
    seconds = max(0, int((now - since).total_seconds()))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}"


def format_clock(moment: datetime) -> str:
    """A time of day in the local zone."""
    return moment.astimezone().strftime("%H:%M")


@dataclass(frozen=True)
class Totals:
    """The status bar's figures."""

    team: str | None
    members: int
    working: int
    tokens: int
    cost: float


def totals(coordinator: Coordinator, rows: list[MemberRow]) -> Totals:
    team = coordinator.team
    return Totals(
        team=team.name if team is not None else None,
        members=len(rows),
        working=sum(row.status is MemberStatus.WORKING for row in rows),
        tokens=sum(row.tokens for row in rows),
        cost=sum(row.cost for row in rows),
    )


def default_clock() -> datetime:
    return utc_now()
