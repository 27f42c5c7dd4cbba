"""The report at a team's end: what each member did, what was checked, merged and kept,
and what it cost, with the evidence (tasks, commits, files, check results).

It is written when the team ends (clean-up, a finished until-done run, a budget, no
progress), saved into the team's event log as a `team.report` entry, shown on the screen,
printed as `run`'s last event, and printed again by `ensemble-tui report`.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from ensemble_tui.core.models import LEAD_NAME, Member, MemberStatus, TaskStatus, Team, utc_now
from ensemble_tui.core.store.store import Store
from ensemble_tui.core.team.events import TeamReported, from_record

if TYPE_CHECKING:
    # `ensemble-tui report` reads a saved report: it needs neither the team nor git.
    from ensemble_tui.core.team.coordinator import Coordinator

REPORT_KIND = TeamReported.type
OPEN_STATUSES = (TaskStatus.PENDING, TaskStatus.BLOCKED, TaskStatus.IN_PROGRESS)


@dataclass(frozen=True)
class MemberReport:
    """One member's part in the team."""

    name: str
    agent: str
    status: str
    tasks: list[str] = field(default_factory=list)
    branch: str | None = None
    commits: int = 0
    files: list[str] = field(default_factory=list)
    additions: int = 0
    deletions: int = 0
    check: str | None = None
    review: str | None = None
    """The last review of its branch: verdict, commit, reasons (with a `review_agent`)."""
    outcome: str = ""
    """`merged`, `kept: <why>`, `read-only`, or `your working tree` for the lead."""
    tokens: int = 0
    cost: float = 0.0

    def markdown(self) -> str:
        spent = f"{self.tokens:,} tokens, ${self.cost:.2f}"
        lines = [f"**{self.name}** ({self.agent}, {self.status}): {self.outcome}; {spent}"]
        if self.tasks:
            lines.append(f"- tasks: {'; '.join(self.tasks)}")
        if self.branch is not None:
            work = f"{self.commits} commit{'s' if self.commits != 1 else ''}"
            files = ", ".join(f"`{path}`" for path in self.files) or "no files"
            lines.append(f"- `{self.branch}`: {work}, +{self.additions} -{self.deletions}: {files}")
        if self.check is not None:
            lines.append(f"- check: {self.check}")
        if self.review is not None:
            lines.append(f"- review: {self.review}")
        return "\n".join(lines)


@dataclass(frozen=True)
class TeamReport:
    """The whole report."""

    team: str
    reason: str
    members: list[MemberReport]
    tasks_done: int
    tasks_open: list[str]
    tokens: int
    cost: float
    seconds: float

    def markdown(self) -> str:
        minutes, seconds = divmod(round(self.seconds), 60)
        done = f"{self.tasks_done} task{'s' if self.tasks_done != 1 else ''} done"
        head = [
            f"# Team {self.team}: {self.reason}",
            "",
            f"{done}, {len(self.tasks_open)} open · {self.tokens:,} tokens · "
            f"${self.cost:.2f} · {minutes}m {seconds:02d}s",
        ]
        if self.tasks_open:
            head += ["", "Open tasks:", *(f"- {task}" for task in self.tasks_open)]
        body = [member.markdown() for member in self.members]
        return "\n".join(head) + "\n\n" + "\n\n".join(body)

    def event(self) -> TeamReported:
        return TeamReported(
            member=LEAD_NAME,
            text=self.markdown(),
            team=self.team,
            reason=self.reason,
            members=[asdict(member) for member in self.members],
            tasks_open=self.tasks_open,
            tokens=self.tokens,
            cost=self.cost,
            seconds=round(self.seconds, 1),
        )


def _merges(store: Store, team: Team) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """Per member, the detail of its merge and the reason its last merge was refused."""
    merged: dict[str, dict[str, Any]] = {}
    refused: dict[str, str] = {}
    for entry in store.list_events(team.id):
        if entry.member is None:
            continue
        if entry.kind == "member.merged":
            merged[entry.member] = entry.detail
        elif entry.kind in ("merge.blocked", "merge.refused"):
            reason = str(entry.detail.get("text", "")).split("\n", 1)[0]
            refused[entry.member] = reason or entry.kind
    return merged, refused


async def _member_report(
    coordinator: Coordinator,
    member: Member,
    tasks: list[str],
    merged: dict[str, Any] | None,
    refused: str | None,
    check: str | None,
    review: str | None = None,
) -> MemberReport:
    tokens = member.input_tokens + member.output_tokens + member.reasoning_tokens
    base = MemberReport(
        name=member.name,
        agent=member.agent,
        status=member.status.value,
        tasks=tasks,
        branch=member.branch,
        check=check,
        review=review,
        tokens=tokens,
        cost=member.cost,
    )
    fields: dict[str, Any] = {}
    if member.name == LEAD_NAME:
        fields = {"branch": None, "outcome": "works in your tree"}
    elif member.branch is None:
        fields = {"outcome": "read-only"}
    elif member.status is MemberStatus.MERGED and merged is not None:
        fields = {
            "outcome": "merged",
            "files": list(merged.get("files", [])),
            "additions": int(merged.get("additions", 0)),
            "deletions": int(merged.get("deletions", 0)),
            "commits": int(merged.get("commits", 0)),
        }
    else:
        why = refused or "not merged"
        fields = {"outcome": f"kept ({why})"}
        if member.base_commit is not None:
            # GitPython, here: `ensemble-tui report` only reads what was saved.
            from ensemble_tui.core.git.commands import GitError
            from ensemble_tui.core.git.work import branch_work

            try:
                work = await asyncio.to_thread(
                    branch_work, coordinator.repo_root, member.base_commit, member.branch
                )
            except GitError:
                work = None
            if work is not None:
                fields |= {
                    "commits": work.commits,
                    "files": [f.path for f in work.files],
                    "additions": work.additions,
                    "deletions": work.deletions,
                }
    return MemberReport(**(asdict(base) | fields))


async def build_report(coordinator: Coordinator, team: Team, reason: str) -> TeamReport:
    """The report of *team* as it stands now, ended for *reason*."""
    store = coordinator.store
    members = store.list_members(team.id)
    tasks = coordinator.board.list_tasks(team.id)
    checks = store.checks.latest_checks(team.id)
    reviews = store.reviews.latest_reviews(team.id)
    spent = store.reviews.list_reviews(team.id)
    merged, refused = _merges(store, team)
    reports = []
    for member in members:
        held = [
            f"{t.id} {t.content} ({t.status.value})" for t in tasks if t.assignee == member.name
        ]
        check = checks.get(member.name)
        said = None
        if check is not None:
            on = f" on {check.commit_sha[:8]}" if check.commit_sha else ""
            said = f"`{check.command}` {check.describe()}{on}"
        review = reviews.get(member.name)
        reviewed = None
        if review is not None:
            reviewed = f"{review.describe()} ({review.tokens:,} tokens, ${review.cost:.2f})"
        reports.append(
            await _member_report(
                coordinator,
                member,
                held,
                merged.get(member.name),
                refused.get(member.name),
                said,
                reviewed,
            )
        )
    open_tasks = [
        f"{t.id} {t.content} ({t.status.value}{', ' + t.assignee if t.assignee else ''})"
        for t in tasks
        if t.status in OPEN_STATUSES
    ]
    return TeamReport(
        team=team.name,
        reason=reason,
        members=reports,
        tasks_done=sum(t.status is TaskStatus.COMPLETED for t in tasks),
        tasks_open=open_tasks,
        # Reviewers are no members: their tokens count in the totals only.
        tokens=sum(r.tokens for r in reports) + sum(r.tokens for r in spent),
        cost=sum(r.cost for r in reports) + sum(r.cost for r in spent),
        seconds=(utc_now() - team.created).total_seconds(),
    )


async def write_report(coordinator: Coordinator, team: Team, reason: str) -> TeamReported:
    """Build the report, save it into the team's log, and keep it for the screen and `run`."""
    event = (await build_report(coordinator, team, reason)).event()
    coordinator.store.append_event(team.id, REPORT_KIND, LEAD_NAME, event.record())
    coordinator.report = event
    return event


def last_report(store: Store) -> TeamReported | None:
    """The newest report saved in this repository's state (for `ensemble-tui report`)."""
    for team in reversed(store.list_teams()):
        for entry in reversed(store.list_events(team.id)):
            if entry.kind == REPORT_KIND:
                found = from_record(entry.detail)
                if isinstance(found, TeamReported):
                    return found
    return None
