"""What the screen shows of the team: one immutable snapshot, computed in the core.

The screen never reads the store, the task board or the OpenCode client: after each
batch of team events the bridge asks `snapshot()` for the whole picture (members as
rows, tasks, new messages, what waits for the human, the connection, totals) and the
panes draw it. The rules of what to show (which statuses the store owns, which row
is the lead's) live here with the rest of the domain.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from ensemble_tui.core.models import LEAD_NAME, Member, MemberStatus, Message, Task

# Only named: the screen's panes import these rows before the team (and its events and
# OpenCode's models) is loaded, for a quick first frame.
if TYPE_CHECKING:
    from ensemble_tui.core.store.checks import CheckResult
    from ensemble_tui.core.store.reviews import Review
    from ensemble_tui.core.team.coordinator import Coordinator
    from ensemble_tui.core.team.events import TeamReported
    from ensemble_tui.core.team.sessions import SessionState
    from ensemble_tui.opencode.models import PermissionRequest, QuestionRequest

# Statuses the store owns: a session's own state cannot tell these.
STORE_OWNED = frozenset(
    {MemberStatus.SHUT_DOWN, MemberStatus.MERGED, MemberStatus.TIMED_OUT, MemberStatus.STALLED}
)


@dataclass(frozen=True)
class MemberRow:
    """One row of the team list."""

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
    model: str = ""
    check: CheckResult | None = None
    """The newest result of the `check` command on the member's branch."""
    checking: bool = False
    """Whether the check runs on its branch now."""
    review: Review | None = None
    """The newest review of its branch (with a `review_agent`)."""
    forked_from: str = ""
    """The member whose conversation this one's was forked from ('' for none)."""
    fork_group: str = ""
    """The forks made together share this ('' for none)."""
    earlier_sessions: int = 0
    """How many sessions the member worked in before its current one."""

    @property
    def check_label(self) -> str:
        """A word or two for the check column: passed, failed, running…, then the review
        (approved, changes, reviewing…) if there is one; '' for none."""
        said = []
        if self.checking:
            said.append("running…")
        elif self.check is not None:
            said.append(self.check.outcome.value.replace("_", " "))
        if self.review is not None:
            said.append(self.review.short_label)
        return " · ".join(said)

    @property
    def is_lead(self) -> bool:
        return self.name == LEAD_NAME

    @property
    def ended(self) -> bool:
        return self.status.ended

    @property
    def needs_human(self) -> bool:
        return self.status.needs_human


@dataclass(frozen=True)
class PendingRequest:
    """A permission or question waiting for the human, with whose it is."""

    member: str
    permission: PermissionRequest | None = None
    question: QuestionRequest | None = None

    @property
    def id(self) -> str:
        request = self.permission or self.question
        assert request is not None
        return request.id

    def describe(self) -> str:
        """One line: who asks what."""
        if self.permission is not None:
            what = ", ".join(self.permission.patterns) or self.permission.permission
            return f"{self.member} asks to use {self.permission.permission}: {what}"
        assert self.question is not None
        asked = "; ".join(q.question for q in self.question.questions)
        return f"{self.member} asks: {asked}"


@dataclass(frozen=True)
class Totals:
    """The status bar's figures."""

    team: str | None
    members: int
    working: int
    tokens: int
    cost: float
    ended: str | None = None
    """The team that ended last, while no other is active (its final state is shown)."""


@dataclass(frozen=True)
class TeamSnapshot:
    """The whole team as the screen shows it, at one moment."""

    team: str | None
    rows: list[MemberRow]
    tasks: list[Task]
    messages: list[Message]
    """The messages after the id the caller had seen, oldest first."""
    pending: list[PendingRequest]
    connected: bool
    server_url: str
    totals: Totals
    check_command: str | None = None
    """The `check` setting (None: no check is run, and the screen shows no check column)."""
    review_agent: str | None = None
    """The `review_agent` setting (None: no review; with one, the check column is shown)."""
    model_problem: str | None = None
    """Why no model answers and the fix (from the start's check or a failed turn)."""
    report: TeamReported | None = None
    """The report of the last team that ended."""
    paused: str | None = None
    """Why the team gets no new prompts (None: it runs)."""
    until_done: bool = False
    """Whether the lead is continued while work is open."""

    def row(self, name: str) -> MemberRow | None:
        return next((row for row in self.rows if row.name == name), None)


def live_status(member: Member, state: SessionState | None) -> MemberStatus:
    """The status to show: the session's own state, unless the store owns the status."""
    if state is None or member.status in STORE_OWNED:
        return member.status
    live = state.status()
    if member.status is MemberStatus.STARTING and live is MemberStatus.IDLE:
        return MemberStatus.STARTING
    return live


def pending_requests(coordinator: Coordinator) -> list[PendingRequest]:
    """Every permission and question waiting for an answer, the lead's first."""
    found: list[PendingRequest] = []
    for state in coordinator.sessions:
        found += [PendingRequest(state.member, permission=p) for p in state.permissions.values()]
        found += [PendingRequest(state.member, question=q) for q in state.questions.values()]
    return found


def shown_review(check: CheckResult | None, review: Review | None) -> Review | None:
    """The review to show beside the check: only one of the commit the check is about (a
    review of an older commit says nothing of a newer check's)."""
    if review is None or check is None or check.commit_sha == review.commit_sha:
        return review
    return None


def member_rows(coordinator: Coordinator, tasks: list[Task]) -> list[MemberRow]:
    """The lead first (even before there is a team), then the teammates as they joined."""
    held = {task.id: task.content for task in tasks if task.assignee is not None}

    def task_of(member: Member) -> str:
        found = member.current_task_id
        return f"{found} {held.get(found, '')}".strip() if found else ""

    team = coordinator.team or coordinator.ended_team
    checks = coordinator.checks.latest(team) if team is not None else {}
    reviews = coordinator.reviews.latest(team) if team is not None else {}
    members = coordinator.store.list_members(team.id) if team is not None else []
    earlier = coordinator.store.earlier_session_counts(team.id) if team is not None else {}
    rows = []
    for member in members:
        state = coordinator.session_of(member.name)
        used = coordinator.model_of(state) if state is not None else None
        model = member.model or used or ""
        rows.append(
            MemberRow(
                name=member.name,
                status=live_status(member, state),
                task=task_of(member),
                branch=member.branch or "",
                since=member.status_since,
                tokens=member.input_tokens + member.output_tokens + member.reasoning_tokens,
                cost=member.cost,
                has_session=state is not None,
                has_branch=member.branch is not None,
                model=model,
                check=checks.get(member.name),
                checking=member.name in coordinator.checks.running,
                review=shown_review(checks.get(member.name), reviews.get(member.name)),
                forked_from=member.forked_from or "",
                fork_group=member.fork_group or "",
                earlier_sessions=earlier.get(member.name, 0),
            )
        )
    lead = coordinator.lead
    if lead is not None and not any(row.is_lead for row in rows):
        model = coordinator.model_of(lead) or ""
        rows.insert(
            0, MemberRow(LEAD_NAME, lead.status(), "", "", None, 0, 0.0, True, False, model)
        )
    return rows


def snapshot(coordinator: Coordinator, *, messages_after: int = 0) -> TeamSnapshot:
    """The team now; *messages_after* is the last message id the caller already has."""
    team = coordinator.team
    # After a clean-up the ended team's final state stays in view, with its report.
    shown = team or coordinator.ended_team
    tasks = coordinator.board.list_tasks(shown.id) if shown is not None else []
    messages = (
        coordinator.store.list_messages(shown.id, after_id=messages_after)
        if shown is not None
        else []
    )
    rows = member_rows(coordinator, tasks)
    totals = Totals(
        team=team.name if team is not None else None,
        members=len(rows),
        working=sum(row.status is MemberStatus.WORKING for row in rows),
        tokens=sum(row.tokens for row in rows),
        cost=sum(row.cost for row in rows),
        ended=shown.name if team is None and shown is not None else None,
    )
    return TeamSnapshot(
        team=team.name if team is not None else None,
        rows=rows,
        tasks=tasks,
        messages=messages,
        pending=pending_requests(coordinator),
        connected=coordinator.connected,
        server_url=coordinator.client.base_url,
        totals=totals,
        check_command=coordinator.checks.command,
        review_agent=coordinator.reviews.agent,
        model_problem=coordinator.model_problem,
        report=coordinator.report,
        paused=coordinator.paused.reason if coordinator.paused is not None else None,
        until_done=coordinator.until_done,
    )
