"""What the confirmations say: before an action, what it will do; after, what it did."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ensemble_tui.tui.views import format_clock

# Imported by the main screen's actions before the first frame: the types come later.
if TYPE_CHECKING:
    from ensemble_tui.core.git.merge import MergeResult
    from ensemble_tui.core.models import EarlierSession
    from ensemble_tui.core.store.checks import CheckResult
    from ensemble_tui.core.team.forking import ForkView
    from ensemble_tui.core.team.read_model import MemberRow
    from ensemble_tui.opencode.models import MessageWithParts


def _count(number: int, thing: str) -> str:
    return f"{number} {thing}" if number == 1 else f"{number} {thing}s"


def _file_lines(result: MergeResult) -> str:
    lines = []
    for changed in result.files:
        counts = "binary" if changed.binary else f"+{changed.additions} -{changed.deletions}"
        lines.append(f"- `{changed.path}` ({changed.status}, {counts})")
    return "\n".join(lines)


def merge_preview(member: str, result: MergeResult, row: MemberRow | None) -> tuple[str, str, bool]:
    """Title, body and whether the merge can go ahead."""
    from ensemble_tui.core.git.merge import MergeStatus

    if result.status is MergeStatus.CONFLICT:
        conflicts = "\n".join(f"- `{c.path}`: {c.reason}" for c in result.conflicts)
        body = (
            f"Merging **{member}** (`{result.branch}`) would conflict, so nothing will be "
            f"changed and the branch is kept.\n\nConflicting files:\n\n{conflicts}\n\n"
            "Resolve these in your working directory (or ask the teammate to), then try again."
        )
        return f"Cannot merge {member}", body, False
    if result.status is MergeStatus.NOTHING_TO_MERGE:
        body = f"**{member}** has nothing to merge. Its worktree and branch will be removed."
        return f"Merge {member}?", body, True
    body = (
        f"Squash **{member}**'s branch `{result.branch}` into your working directory as "
        f"unstaged changes ({_count(len(result.files), 'file')}):\n\n{_file_lines(result)}\n\n"
        "Your index, your commits and your own changes are not touched. After the merge "
        "its worktree and branch are removed."
    )
    if row is not None and not row.ended and row.status.value != "idle":
        body += f"\n\n**{member} is {row.status.value}**: shut it down first, or the merge waits."
    return f"Merge {member}?", body, True


def check_refusal(member: str, check: CheckResult) -> tuple[str, str]:
    """Title and body when the branch's check did not pass: merging needs the override."""
    on = f" on `{check.commit_sha[:8]}`" if check.commit_sha else ""
    output = f"\n\n```\n{check.output}\n```" if check.output else ""
    body = (
        f"**{member}**'s check `{check.command}` {check.describe()}{on}, so the merge is "
        f"refused and {member} was told.{output}\n\n"
        "You can merge it anyway: its changes come into your working directory as "
        "unstaged changes, unchecked."
    )
    return f"Check failed: {member}", body


def review_refusal(member: str, blocker: str) -> tuple[str, str]:
    """Title and body when no review approved the branch: merging needs the override."""
    body = (
        f"**{member}**'s merge is refused because {blocker}.\n\n"
        "You can merge it anyway: its changes come into your working directory as "
        "unstaged changes, unreviewed."
    )
    return f"Not approved: {member}", body


def shutdown_preview(row: MemberRow) -> tuple[str, str]:
    working = row.status.value not in ("idle", "error", "starting")
    how = (
        "It is working, so it is asked to finish its current step, report, and stop."
        if working
        else "It is not working, so it stops at once."
    )
    body = (
        f"Shut **{row.name}** down. {how} Its uncommitted work is committed to "
        f"`{row.branch or 'its branch'}` and its unfinished tasks go back on the board. "
        "Nothing is merged or deleted: merge it afterwards with `m`."
    )
    return f"Shut down {row.name}?", body


CLEANUP_BODY = (
    "End the team: every teammate is shut down (its work committed to its branch), then "
    "each branch is squash-merged into your working directory as unstaged changes. A "
    "branch that would conflict is **kept**, and named in the report. Then the team is "
    "archived; the lead's session stays."
)


def choose_preview(name: str, views: Sequence[ForkView]) -> tuple[str, str]:
    """What keeping the fork *name* does: its merge, and the others shut down, kept."""
    others = [view for view in views if view.name != name and not view.status.ended]
    kept = ", ".join(f"`{view.branch}`" for view in others if view.branch) or "none"
    body = (
        f"**{name}**'s branch is merged into your working directory as unstaged changes "
        "(nothing is changed if it would conflict).\n\n"
        f"The other forks of its group are shut down, their work committed and their "
        f"branches kept: {kept}."
    )
    return f"Keep {name}?", body


def earlier_session(earlier: EarlierSession, messages: Sequence[MessageWithParts]) -> str:
    """One earlier session as Markdown: when and why it ended, then who said what."""
    from ensemble_tui.opencode.models import TextPart

    lines = [
        f"### {earlier.session_id}",
        f"agent {earlier.agent}, ended {format_clock(earlier.ended)}: {earlier.reason}",
    ]
    for entry in messages:
        said = " ".join(p.text for p in entry.parts if isinstance(p, TextPart) and p.text.strip())
        if said:
            lines.append(f"**{entry.info.role}**: {_clip(said, 400)}")
    return "\n\n".join(lines)


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
