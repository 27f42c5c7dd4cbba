"""Ending teammates safely: shutdown, squash-merge back, cleanup.

The rule everywhere: a teammate's uncommitted work is committed to its branch before
its session is aborted or its worktree removed, and a branch is deleted only once git
confirms its work is in the user's tree.
"""

from __future__ import annotations

import asyncio
import logging

from ensemble_tui.core.errors import Refused
from ensemble_tui.core.git.commands import GitError
from ensemble_tui.core.git.merge import MergeStatus, merge_branch_into_worktree
from ensemble_tui.core.git.work import count_commits
from ensemble_tui.core.git.worktrees import WorktreeInfo, remove_worktree
from ensemble_tui.core.models import LEAD_NAME, Member, MemberStatus, MemberUpdate, Team
from ensemble_tui.core.team.coordinator import Coordinator
from ensemble_tui.core.team.events import (
    MemberMerged,
    MemberShutdownRequested,
    MergeRefused,
    TeamCleanedUp,
)
from ensemble_tui.core.team.report import write_report
from ensemble_tui.errors import EnsembleError
from ensemble_tui.opencode.client import OpenCodeError

log = logging.getLogger(__name__)

SHUTDOWN_WAIT = 120.0


def _worktree(team: Team, member: Member) -> WorktreeInfo | None:
    if member.worktree_path is None or member.branch is None or member.base_commit is None:
        return None
    return WorktreeInfo(team.name, member.name, member.worktree_path, member.base_commit)


async def shutdown_member(
    coordinator: Coordinator, team: Team, member: Member, *, force: bool
) -> str:
    """Stop a teammate: at once when idle or forced, else after it finishes and reports.

    One branch-changing operation runs at a time; a second one sees the first one's end."""
    async with coordinator.operation_lock:
        _still_active(coordinator, team)
        return await _shutdown(coordinator, team, _fresh(coordinator, team, member), force=force)


def _still_active(coordinator: Coordinator, team: Team) -> None:
    if coordinator.team is None or coordinator.team.id != team.id:
        raise Refused(f"Team {team.name} was already cleaned up; there is nothing left to do.")


def _fresh(coordinator: Coordinator, team: Team, member: Member) -> Member:
    """The member as it is now (an operation that waited for the lock may find it ended)."""
    return coordinator.store.get_member(team.id, member.name) or member


async def _shutdown(coordinator: Coordinator, team: Team, member: Member, *, force: bool) -> str:
    if member.name == LEAD_NAME:
        raise Refused("The lead cannot shut itself down; use team_cleanup to end the team.")
    if member.status.ended:
        return f"{member.name} has already {member.status.value}."
    state = coordinator.session_of(member.name)
    if state is None or state.idle or force:
        if state is not None and not state.idle:
            # Ended before the abort: the turn end the abort causes must not hand the member
            # what waits for it, which would start a new turn after its shutdown.
            coordinator.update_member(member.name, MemberUpdate(status=MemberStatus.SHUT_DOWN))
            try:
                folder = coordinator.session_folder(state.directory)
                await coordinator.client.abort(state.session_id, folder)
            except OpenCodeError as error:
                log.warning("abort of %s failed: %s", member.name, error)
            else:
                state.turn_aborted()
        await coordinator.finish_shutdown(member, "forced" if force else "shutdown")
        return (
            f"{member.name} is shut down; its work is committed on {member.branch or 'no branch'}."
        )
    coordinator.store.update_member(team.id, member.name, MemberUpdate(shutdown_requested=True))
    coordinator.record(MemberShutdownRequested(member=member.name))
    # Queued behind the running turn with whatever waits for it; the session is ended when
    # that turn goes idle.
    coordinator.delivery.notify(
        member.name,
        "The lead asked you to stop: finish the current step, commit your work, "
        "report once to the lead if you have not, and stop.",
    )
    await coordinator.delivery.deliver_pending(state, even_if_busy=True)
    return f"{member.name} will stop after its current turn and report to you."


async def wait_for_stop(coordinator: Coordinator, team: Team, name: str, limit: float) -> Member:
    """Wait (bounded) until a teammate whose shutdown is under way has stopped."""
    async with asyncio.timeout(limit):
        while True:
            member = coordinator.store.get_member(team.id, name)
            state = coordinator.session_of(name)
            if member is None or member.status.ended:
                break
            if state is None or state.idle:
                await coordinator.finish_shutdown(member, "shutdown")
                break
            await asyncio.sleep(0.2)
    found = coordinator.store.get_member(team.id, name)
    assert found is not None
    return found


async def merge_member(
    coordinator: Coordinator, team: Team, member: Member, *, override: bool = False
) -> str:
    """Squash a teammate's branch into the user's working directory as unstaged changes.

    With a `check` set, the branch must pass it first, and with a `review_agent` set, a
    review must approve its commit; *override* (the human's, after a confirmation) merges
    it all the same."""
    async with coordinator.operation_lock:
        _still_active(coordinator, team)
        fresh = _fresh(coordinator, team, member)
        return await _merge(coordinator, team, fresh, override=override)


async def _merge(
    coordinator: Coordinator,
    team: Team,
    member: Member,
    *,
    override: bool = False,
    start_review: bool = True,
) -> str:
    if member.status is MemberStatus.MERGED:
        return f"{member.name} is already merged."
    worktree = _worktree(team, member)
    if worktree is None:
        raise Refused(f"{member.name} has no branch (a read-only teammate): nothing to merge.")
    state = coordinator.session_of(member.name)
    if not member.status.ended and state is not None and not state.idle:
        if not member.shutdown_requested:
            raise Refused(
                f"{member.name} is still working; shut it down first (team_shutdown), then merge."
            )
        try:
            member = await wait_for_stop(coordinator, team, member.name, SHUTDOWN_WAIT)
        except TimeoutError:
            raise Refused(
                f"{member.name} did not stop within {SHUTDOWN_WAIT:.0f}s; try again later "
                "or shut it down with force=true."
            ) from None
    await coordinator.commit_member_work(member, "merge")
    checked = await coordinator.checks.gate_merge(team, member, override=override)
    overridden = checked is not None and not checked.passed
    unapproved = await coordinator.reviews.gate_merge(
        team, member, override=override, start=start_review
    )
    try:
        result = await asyncio.to_thread(
            merge_branch_into_worktree, coordinator.repo_root, worktree.branch
        )
    except GitError as error:
        # A state of the user's repository (an unfinished merge, an orphan branch): say what.
        raise Refused(
            f"Could not merge {member.name}: {error}. Nothing was changed and its branch "
            f"{worktree.branch} is kept."
        ) from None
    if result.status is MergeStatus.CONFLICT:
        conflicts = "; ".join(f"{c.path} ({c.reason})" for c in result.conflicts)
        paths = [c.path for c in result.conflicts]
        coordinator.record(MergeRefused(member=member.name, text=conflicts, files=paths))
        raise Refused(
            f"Merging {member.name} would conflict, so nothing was changed and the branch "
            f"{worktree.branch} is kept. Conflicts: {conflicts}"
        )
    coordinator.end_member(member, MemberStatus.MERGED)
    kept_note = ""
    await coordinator.release_worktree(member, worktree.path)
    try:
        removal = await asyncio.to_thread(
            remove_worktree, coordinator.repo_root, worktree, merged=True, reason="merged"
        )
        if removal.kept is not None:
            kept_note = f" {removal.kept.describe()}."
    except GitError as error:
        log.warning("kept %s's worktree after merging: %s", member.name, error)
    files = [f.path for f in result.files]
    try:
        commits = await asyncio.to_thread(
            count_commits, coordinator.repo_root, result.merge_base, result.branch_commit
        )
    except GitError:
        commits = 0
    coordinator.record(
        MemberMerged(
            member=member.name,
            text=result.message,
            files=files,
            additions=sum(f.additions or 0 for f in result.files),
            deletions=sum(f.deletions or 0 for f in result.files),
            commits=commits,
            check_overridden=overridden,
            review_overridden=unapproved is not None,
        )
    )
    if result.status is MergeStatus.NOTHING_TO_MERGE:
        return f"{member.name} had nothing to merge; its worktree is removed.{kept_note}"
    return (
        f"Merged {member.name} into the working directory as unstaged changes: "
        f"{', '.join(files)}.{kept_note}"
    )


async def cleanup_team(coordinator: Coordinator, team: Team) -> str:
    """Shut everyone down, merge what merges, keep what does not, end the team.

    A branch that cannot be merged is kept and named; the others are merged and the team
    ends all the same."""
    async with coordinator.operation_lock:
        _still_active(coordinator, team)
        lines = await _cleanup(coordinator, team)
        await coordinator.reviews.close(ending="the team was cleaned up before it answered")
        await write_report(coordinator, team, "cleaned up")
        coordinator.store.archive_team(team.id)
        coordinator.record(TeamCleanedUp(member=LEAD_NAME, text=team.name))
        coordinator.end_team()
    return f"Team {team.name} is cleaned up:\n" + ("\n".join(lines) or "- no teammates")


async def _cleanup(coordinator: Coordinator, team: Team) -> list[str]:
    lines: list[str] = []
    teammates = [m for m in coordinator.store.list_members(team.id) if m.name != LEAD_NAME]
    for member in teammates:
        if not member.status.ended:
            try:
                await _shutdown(coordinator, team, member, force=False)
            except EnsembleError as error:
                # Waiting for it below ends it all the same (or keeps its branch).
                log.warning("asking %s to stop failed: %s", member.name, error)
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
            # No review is started now: the team ends before it could answer.
            merged = await _merge(coordinator, team, stopped, start_review=False)
            lines.append(f"- {member.name}: {merged}")
        except Exception as error:
            # One branch that cannot be merged (for any reason) never stops the others.
            if not isinstance(error, EnsembleError):
                log.exception("merging %s on cleanup failed", member.name)
            lines.append(
                f"- {member.name}: KEPT, {error} Inspect it with: git diff "
                f"{stopped.base_commit}...{stopped.branch}"
            )
    return lines
