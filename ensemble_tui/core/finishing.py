"""Ending teammates safely: shutdown, squash-merge back, cleanup.

The rule everywhere: a teammate's uncommitted work is committed to its branch before
its session is aborted or its worktree removed, and a branch is deleted only once git
confirms its work is in the user's tree.
"""

from __future__ import annotations

import asyncio
import logging

from ensemble_tui.core.coordinator import Coordinator
from ensemble_tui.core.gitutil import GitError
from ensemble_tui.core.merge import MergeStatus, merge_branch_into_worktree
from ensemble_tui.core.models import Member, MemberStatus, MemberUpdate, Team
from ensemble_tui.core.worktrees import WorktreeInfo, remove_worktree
from ensemble_tui.opencode.client import OpenCodeError
from ensemble_tui.tools.api import ToolError

log = logging.getLogger(__name__)

ENDED = (MemberStatus.SHUT_DOWN, MemberStatus.MERGED, MemberStatus.TIMED_OUT)
SHUTDOWN_WAIT = 120.0


def _worktree(team: Team, member: Member) -> WorktreeInfo | None:
    if member.worktree_path is None or member.branch is None or member.base_commit is None:
        return None
    return WorktreeInfo(team.name, member.name, member.worktree_path, member.base_commit)


async def shutdown_member(
    coordinator: Coordinator, team: Team, member: Member, *, force: bool
) -> str:
    """Stop a teammate: at once when idle or forced, else after it finishes and reports."""
    if member.name == "lead":
        raise ToolError("The lead cannot shut itself down; use team_cleanup to end the team.")
    if member.status in ENDED:
        return f"{member.name} has already {member.status.value}."
    state = coordinator.session_of(member.name)
    if state is None or state.idle or force:
        if state is not None and not state.idle:
            try:
                await coordinator.client.abort(state.session_id, state.directory)
            except OpenCodeError as error:
                log.warning("abort of %s failed: %s", member.name, error)
        await coordinator.finish_shutdown(member, "forced" if force else "shutdown")
        return (
            f"{member.name} is shut down; its work is committed on {member.branch or 'no branch'}."
        )
    coordinator.store.update_member(team.id, member.name, MemberUpdate(shutdown_requested=True))
    coordinator.feed.publish("member.shutdown_requested", member=member.name)
    # Queued behind the running turn with whatever waits for it; the session is ended when
    # that turn goes idle.
    coordinator.notify(
        member.name,
        "The lead asked you to stop: finish the current step, commit your work, "
        "report once to the lead if you have not, and stop.",
    )
    await coordinator.deliver_pending(state, even_if_busy=True)
    return f"{member.name} will stop after its current turn and report to you."


async def wait_for_stop(coordinator: Coordinator, team: Team, name: str, limit: float) -> Member:
    """Wait (bounded) until a teammate whose shutdown is under way has stopped."""
    async with asyncio.timeout(limit):
        while True:
            member = coordinator.store.get_member(team.id, name)
            state = coordinator.session_of(name)
            if member is None or member.status in ENDED:
                break
            if state is None or state.idle:
                await coordinator.finish_shutdown(member, "shutdown")
                break
            await asyncio.sleep(0.2)
    found = coordinator.store.get_member(team.id, name)
    assert found is not None
    return found


async def merge_member(coordinator: Coordinator, team: Team, member: Member) -> str:
    """Squash a teammate's branch into the user's working directory as unstaged changes."""
    if member.status is MemberStatus.MERGED:
        return f"{member.name} is already merged."
    worktree = _worktree(team, member)
    if worktree is None:
        raise ToolError(f"{member.name} has no branch (a read-only teammate): nothing to merge.")
    state = coordinator.session_of(member.name)
    if member.status not in ENDED and state is not None and not state.idle:
        if not member.shutdown_requested:
            raise ToolError(
                f"{member.name} is still working; shut it down first (team_shutdown), then merge."
            )
        try:
            member = await wait_for_stop(coordinator, team, member.name, SHUTDOWN_WAIT)
        except TimeoutError:
            raise ToolError(
                f"{member.name} did not stop within {SHUTDOWN_WAIT:.0f}s; try again later "
                "or shut it down with force=true."
            ) from None
    kept_note = ""
    async with coordinator.merge_lock:
        await coordinator.commit_member_work(member, "merge")
        result = await asyncio.to_thread(
            merge_branch_into_worktree, coordinator.repo_root, worktree.branch
        )
        if result.status is MergeStatus.CONFLICT:
            files = "; ".join(f"{c.path} ({c.reason})" for c in result.conflicts)
            coordinator.feed.publish(
                "merge.refused",
                member=member.name,
                text=files,
                detail={"files": [c.path for c in result.conflicts]},
            )
            raise ToolError(
                f"Merging {member.name} would conflict, so nothing was changed and the branch "
                f"{worktree.branch} is kept. Conflicts: {files}"
            )
        coordinator.board.release_member_tasks(team.id, member.name)
        coordinator.store.update_member(
            team.id, member.name, MemberUpdate(status=MemberStatus.MERGED)
        )
        coordinator.store.append_event(
            team.id,
            "member.merged",
            member.name,
            {"branch": worktree.branch, "files": [f.path for f in result.files]},
        )
        try:
            removal = await asyncio.to_thread(
                remove_worktree, coordinator.repo_root, worktree, merged=True, reason="merged"
            )
            if removal.kept is not None:
                kept_note = f" {removal.kept.describe()}."
        except GitError as error:
            log.warning("kept %s's worktree after merging: %s", member.name, error)
    coordinator.feed.publish(
        "member.merged",
        member=member.name,
        text=result.message,
        detail={"files": [f.path for f in result.files]},
    )
    if result.status is MergeStatus.NOTHING_TO_MERGE:
        return f"{member.name} had nothing to merge; its worktree is removed.{kept_note}"
    names = ", ".join(f.path for f in result.files)
    return (
        f"Merged {member.name} into the working directory as unstaged changes: {names}.{kept_note}"
    )


async def cleanup_team(coordinator: Coordinator, team: Team) -> str:
    """Shut everyone down, merge what merges, keep what does not, archive the team."""
    lines: list[str] = []
    teammates = [m for m in coordinator.store.list_members(team.id) if m.name != "lead"]
    for member in teammates:
        if member.status not in ENDED:
            await shutdown_member(coordinator, team, member, force=False)
    for member in teammates:
        try:
            stopped = await wait_for_stop(coordinator, team, member.name, SHUTDOWN_WAIT)
        except TimeoutError:
            lines.append(f"- {member.name}: kept (did not stop in time); branch {member.branch}")
            continue
        if stopped.status is MemberStatus.MERGED:
            lines.append(f"- {member.name}: already merged")
            continue
        if stopped.branch is None:
            lines.append(f"- {member.name}: read-only, nothing to merge")
            continue
        if not coordinator.settings.merge_on_cleanup:
            lines.append(
                f"- {member.name}: kept (merge_on_cleanup is off); inspect it with: git diff "
                f"{stopped.base_commit}...{stopped.branch}"
            )
            continue
        try:
            lines.append(f"- {member.name}: {await merge_member(coordinator, team, stopped)}")
        except ToolError as refusal:
            lines.append(
                f"- {member.name}: KEPT, {refusal} Inspect it with: git diff "
                f"{stopped.base_commit}...{stopped.branch}"
            )
    coordinator.store.archive_team(team.id)
    coordinator.store.append_event(team.id, "team.archived", "lead", {})
    coordinator.feed.publish("team.cleaned_up", text=team.name)
    coordinator.team = None
    return f"Team {team.name} is cleaned up:\n" + ("\n".join(lines) or "- no teammates")
