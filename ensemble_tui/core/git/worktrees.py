"""Teammate worktrees: one branch `ensemble/<team>/<member>` and one checkout per teammate."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from ensemble_tui.core import models
from ensemble_tui.core.git.commands import (
    IDENTITY_ENV,
    ChangedFile,
    GitError,
    InvalidNameError,
    branch_exists,
    changed_files,
    git_succeeds,
    open_repo,
    resolve_commit,
    run_git,
    run_git_raw,
    snapshot_working_tree,
)
from ensemble_tui.core.git.leftovers import KeptFiles, keep_leftovers
from ensemble_tui.core.git.merge import forget_merge_record, is_branch_merged
from ensemble_tui.paths import private_dir, repo_data_dir

log = logging.getLogger(__name__)

# One lock per worktree: two `git add --all` at once in one checkout fight over index.lock.
_COMMIT_LOCKS: dict[Path, threading.Lock] = {}
_COMMIT_LOCKS_GUARD = threading.Lock()


def _commit_lock(worktree_path: Path) -> threading.Lock:
    with _COMMIT_LOCKS_GUARD:
        return _COMMIT_LOCKS.setdefault(worktree_path.resolve(), threading.Lock())


# One lock per repository for what adds or removes its worktrees: `git worktree add` reads
# every worktree's record under .git/worktrees, and one being written by another add at
# the same moment fails it ("failed to read .git/worktrees/m33/commondir"), which lost
# two of fifty teammates spawned in one call.
_WORKTREE_LOCKS: dict[Path, threading.Lock] = {}


def _worktree_lock(repo_root: Path) -> threading.Lock:
    with _COMMIT_LOCKS_GUARD:
        return _WORKTREE_LOCKS.setdefault(repo_root.resolve(), threading.Lock())


def validate_name(kind: str, value: str) -> str:
    """Return `value` if it is a valid team or member name, else raise InvalidNameError."""
    if not isinstance(value, str):
        raise InvalidNameError(f"a {kind} name must be text, not {type(value).__name__}")
    try:
        return models.validate_name(kind, value)
    except ValueError as error:
        raise InvalidNameError(str(error)) from None


def branch_name(team: str, member: str) -> str:
    """The branch of a teammate, after checking both names."""
    return f"ensemble/{validate_name('team', team)}/{validate_name('member', member)}"


def default_worktree_root(repo_root: Path) -> Path:
    """Where the worktrees of a repository go unless the caller says otherwise."""
    return repo_data_dir(repo_root) / "worktrees"


def wip_message(member: str, reason: str) -> str:
    """The message of the commit that saves a teammate's uncommitted work."""
    return f"ensemble: work in progress of {member} ({reason})"


@dataclass(frozen=True, slots=True)
class WorktreeInfo:
    """A teammate's worktree as the coordinator records it."""

    team: str
    member: str
    path: Path
    base_commit: str
    """The commit the branch started from (the user's HEAD at creation)."""

    @property
    def branch(self) -> str:
        """The teammate's branch, `ensemble/<team>/<member>`."""
        return branch_name(self.team, self.member)


@dataclass(frozen=True, slots=True)
class ListedWorktree:
    """One entry of `git worktree list --porcelain`."""

    path: Path
    head: str | None
    branch: str | None
    """The short branch name, or None when detached or bare."""
    bare: bool = False
    detached: bool = False
    locked: bool = False
    prunable: bool = False


@dataclass(frozen=True, slots=True)
class WorktreeRemoval:
    """What `remove_worktree` did."""

    wip_commit: str | None
    worktree_removed: bool
    branch_deleted: bool
    kept: KeptFiles | None = None
    """Ignored files and submodule checkouts moved aside before the worktree went."""


@dataclass(frozen=True, slots=True)
class BranchDiff:
    """A teammate's changes against its base, committed and not, for the diff screen."""

    branch: str
    base_commit: str
    files: tuple[ChangedFile, ...]
    patch: str
    includes_uncommitted: bool


def create_worktree(repo_root: Path, worktree_root: Path, team: str, member: str) -> WorktreeInfo:
    """Create branch `ensemble/<team>/<member>` at HEAD and its worktree under `worktree_root`.

    The user's uncommitted changes are not in the new worktree: it starts from HEAD.
    """
    branch = branch_name(team, member)
    repo = open_repo(repo_root)
    path = worktree_root.resolve() / team / member
    if path.is_relative_to(Path(str(repo.working_tree_dir)).resolve()):
        raise GitError(f"worktree {path} would be inside the repository; choose a folder outside")
    if not git_succeeds(repo, "rev-parse", "--verify", "--quiet", "HEAD^{commit}"):
        raise GitError(f"{repo_root} has no commits yet; commit once so teammates have a base")
    base_commit = resolve_commit(repo, "HEAD", "HEAD")
    if branch_exists(repo, branch):
        raise GitError(f"branch {branch} already exists; remove it or choose another name")
    if path.exists() or path.is_symlink():
        raise GitError(f"worktree folder {path} already exists; remove it or choose another name")
    # Private: a teammate's checkout may hold secrets the user's own tree keeps from others.
    private_dir(path.parent)
    # The identity signs the new branch's reflog entry on machines without one.
    add = ["worktree", "add", "--quiet", "-b", branch, str(path), base_commit]
    with _worktree_lock(repo_root):
        run_git(repo, *add, env=IDENTITY_ENV)
    return WorktreeInfo(team=team, member=member, path=path, base_commit=base_commit)


def commit_work_in_progress(worktree_path: Path, message: str) -> str | None:
    """Commit everything in the worktree (untracked too, ignored files not); return the sha.

    Returns None when there is nothing to commit. Hooks and signing are skipped so an
    unattended commit can neither block nor fail on them.
    """
    if not message.strip():
        raise GitError("a work-in-progress commit needs a message")
    repo = open_repo(worktree_path)
    # A shutdown can finish from two paths at once; the second finds nothing to commit.
    with _commit_lock(worktree_path):
        run_git(repo, "add", "--all")
        if git_succeeds(repo, "diff-index", "--cached", "--quiet", "HEAD", "--"):
            return None
        commit = ["commit", "--quiet", "--no-verify", "--no-gpg-sign", "-m", message]
        run_git(repo, *commit, env=IDENTITY_ENV)
        return resolve_commit(repo, "HEAD", "HEAD")


def list_worktrees(repo_root: Path) -> list[ListedWorktree]:
    """All worktrees of the repository, the main one first, from `git worktree list`."""
    raw = run_git_raw(open_repo(repo_root), "worktree", "list", "--porcelain", "-z")[1]
    worktrees: list[ListedWorktree] = []
    record: dict[str, str] = {}
    for field in raw.decode(errors="surrogateescape").split("\0"):
        if field:
            key, _, value = field.partition(" ")
            record[key] = value
        elif record:
            worktrees.append(_listed_worktree(record))
            record = {}
    return worktrees


def _listed_worktree(record: dict[str, str]) -> ListedWorktree:
    branch = record.get("branch")
    return ListedWorktree(
        path=Path(record["worktree"]),
        head=record.get("HEAD"),
        branch=branch.removeprefix("refs/heads/") if branch else None,
        bare="bare" in record,
        detached="detached" in record,
        locked="locked" in record,
        prunable="prunable" in record,
    )


def remove_worktree(
    repo_root: Path, worktree: WorktreeInfo, *, merged: bool = False, reason: str = "removed"
) -> WorktreeRemoval:
    """Commit the teammate's uncommitted work, then remove its worktree.

    The branch is deleted only when `merged` is True and git confirms that its work is in
    the user's tree; if `merged` is True but it is not, GitError is raised after the
    work-in-progress commit and before anything is removed. Otherwise the branch is kept.
    Files the commit cannot hold (ignored ones, submodule checkouts) are moved to a kept
    folder beside the worktree first, and the result names it.
    """
    branch = worktree.branch
    repo = open_repo(repo_root)
    path = worktree.path.resolve()
    listed = next((entry for entry in list_worktrees(repo_root) if entry.path == path), None)
    wip_commit = None
    if listed is None and path.exists():
        raise GitError(f"{path} is not a worktree of {repo_root}; refusing to delete it")
    if listed is not None and path.exists():
        if listed.branch != branch:
            actual = listed.branch or "a detached HEAD"
            raise GitError(f"worktree {path} is on {actual}, not {branch}; refusing to remove it")
        wip_commit = commit_work_in_progress(path, wip_message(worktree.member, reason))
    has_branch = branch_exists(repo, branch)
    if merged and has_branch and not is_branch_merged(repo_root, branch, worktree.base_commit):
        raise GitError(
            f"branch {branch} has work that is not in your working directory; "
            "merge it first or remove the worktree without deleting the branch"
        )
    kept = None
    if listed is not None:
        if path.exists():
            kept = keep_leftovers(path)
            if kept is not None:
                log.warning("%s", kept.describe())
            # With its submodules moved out their folders are missing, which git calls
            # unclean; everything else was committed or kept just above.
            force = ("--force",) if kept is not None and kept.submodules else ()
            with _worktree_lock(repo_root):
                run_git(repo, "worktree", "remove", *force, str(path))
        else:
            # The folder is already gone: forget git's record of it.
            with _worktree_lock(repo_root):
                run_git(repo, "worktree", "prune")
    if merged and has_branch:
        run_git(repo, "branch", "--delete", "--force", branch)
        forget_merge_record(repo_root, branch)
    return WorktreeRemoval(
        wip_commit=wip_commit,
        worktree_removed=listed is not None,
        branch_deleted=merged and has_branch,
        kept=kept,
    )


def branch_diff(repo_root: Path, branch: str, base: str) -> BranchDiff:
    """A teammate's changes since `base`: its commits plus its worktree's uncommitted files.

    Uncommitted work is read through a temporary index, so the teammate's index is untouched.
    """
    repo = open_repo(repo_root)
    base_commit = resolve_commit(repo, base, "base commit")
    if not branch_exists(repo, branch):
        raise GitError(f"branch {branch} does not exist")
    checkout = next((entry for entry in list_worktrees(repo_root) if entry.branch == branch), None)
    includes_uncommitted = checkout is not None and checkout.path.is_dir()
    if checkout is not None and includes_uncommitted:
        target = snapshot_working_tree(open_repo(checkout.path))
    else:
        target = resolve_commit(repo, f"refs/heads/{branch}", "branch")
    patch = run_git_raw(repo, "diff-tree", "-p", "-r", "-M", base_commit, target)[1]
    return BranchDiff(
        branch=branch,
        base_commit=base_commit,
        files=tuple(changed_files(repo, base_commit, target)),
        patch=patch.decode(errors="replace"),
        includes_uncommitted=includes_uncommitted,
    )
