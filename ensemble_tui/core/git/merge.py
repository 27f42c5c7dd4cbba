"""Squash a teammate's branch into the user's working directory as unstaged changes.

The merge is computed entirely in git's object store and only then written to the working
tree with `git apply` (no `--index`), so the user's index, HEAD and stash are never touched:
1. `merge-tree HEAD branch` predicts conflicts with the user's commits.
2. The working tree (tracked, untracked, minus ignored) is snapshotted through a temporary
   index into a throwaway commit on top of HEAD, and `merge-tree snapshot branch` merges the
   branch into it. This 3-way merge is what lets two teammates that changed different hunks
   of one file be merged one after the other.
3. If nothing conflicts, the difference between the snapshot and that merge is applied to
   the working tree; it applies exactly because the snapshot is the working tree.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path

import git

from ensemble_tui.core.git.commands import (
    ChangedFile,
    GitError,
    branch_exists,
    changed_files,
    commit_tree,
    git_succeeds,
    open_repo,
    resolve_commit,
    run_git,
    run_git_raw,
    snapshot_working_tree,
    trees_equal,
)
from ensemble_tui.core.git.merge_tree import merge_trees

# A ref per merged branch records which commit is in the user's tree, for safe deletion.
MERGED_REF_PREFIX = "refs/ensemble/merged/"
# What each marker of an unfinished git operation means, and how the user finishes it.
_IN_PROGRESS = {
    "MERGE_HEAD": ("a merge", "commit it (git commit) or abort it (git merge --abort)"),
    "CHERRY_PICK_HEAD": (
        "a cherry-pick",
        "finish it (git cherry-pick --continue) or abort it (git cherry-pick --abort)",
    ),
    "REVERT_HEAD": (
        "a revert",
        "finish it (git revert --continue) or abort it (git revert --abort)",
    ),
    "rebase-merge": (
        "a rebase",
        "finish it (git rebase --continue) or abort it (git rebase --abort)",
    ),
    "rebase-apply": (
        "a rebase or git am",
        "finish it (git rebase --continue) or abort it (git rebase --abort, git am --abort)",
    ),
}


class MergeStatus(StrEnum):
    """The outcome of a merge or of its preview."""

    READY = "ready"
    """Preview only: the merge would apply cleanly."""
    MERGED = "merged"
    NOTHING_TO_MERGE = "nothing-to-merge"
    CONFLICT = "conflict"


@dataclass(frozen=True, slots=True)
class MergeConflict:
    """A file that blocks the merge, and why."""

    path: str
    reason: str


@dataclass(frozen=True, slots=True)
class MergeResult:
    """What a merge did (or, from `preview_merge`, would do) to the user's working directory."""

    status: MergeStatus
    branch: str
    branch_commit: str
    merge_base: str
    message: str
    files: tuple[ChangedFile, ...] = ()
    """The files the merge changes in the working directory."""
    conflicts: tuple[MergeConflict, ...] = ()


@dataclass(frozen=True, slots=True)
class _MergePlan:
    result: MergeResult
    snapshot_tree: str = ""
    merged_tree: str = ""


def preview_merge(repo_root: Path, branch: str) -> MergeResult:
    """Check whether `branch` can be merged into the working directory; change nothing.

    The status is READY, NOTHING_TO_MERGE or CONFLICT (with every conflicting file named).
    """
    return _plan_merge(open_repo(repo_root), branch).result


def merge_branch_into_worktree(repo_root: Path, branch: str) -> MergeResult:
    """Squash `merge-base(HEAD, branch)..branch` into the working directory as unstaged changes.

    On a conflict nothing is changed and the result (status CONFLICT) names every file.
    The user's staged and unstaged work is kept; new files of the branch appear untracked.
    """
    repo = open_repo(repo_root)
    plan = _plan_merge(repo, branch)
    if plan.result.status is MergeStatus.CONFLICT:
        return plan.result
    if plan.result.status is MergeStatus.READY:
        _apply_to_working_tree(repo, plan.snapshot_tree, plan.merged_tree)
    run_git(repo, "update-ref", MERGED_REF_PREFIX + branch, plan.result.branch_commit)
    if plan.result.status is MergeStatus.NOTHING_TO_MERGE:
        return plan.result
    count = len(plan.result.files)
    message = (
        f"Merged {branch} into your working directory as unstaged changes "
        f"({count} file{'s' if count != 1 else ''})."
    )
    return replace(plan.result, status=MergeStatus.MERGED, message=message)


def is_branch_merged(repo_root: Path, branch: str, base_commit: str) -> bool:
    """Whether the work of `branch` is in the user's tree, so deleting it loses nothing.

    True when the branch has no changes since `base_commit`, is an ancestor of HEAD, or
    its current tip is the commit that `merge_branch_into_worktree` last merged.
    """
    repo = open_repo(repo_root)
    tip = resolve_commit(repo, f"refs/heads/{branch}", "branch")
    if trees_equal(repo, base_commit, tip):
        return True
    if git_succeeds(repo, "merge-base", "--is-ancestor", tip, "HEAD"):
        return True
    status, recorded = run_git_raw(
        repo, "rev-parse", "--verify", "--quiet", MERGED_REF_PREFIX + branch, ok_codes=(0, 1)
    )
    return status == 0 and recorded.decode().strip() == tip


def forget_merge_record(repo_root: Path, branch: str) -> None:
    """Delete the record that `branch` was merged (once the branch itself is deleted)."""
    repo = open_repo(repo_root)
    if git_succeeds(repo, "rev-parse", "--verify", "--quiet", MERGED_REF_PREFIX + branch):
        run_git(repo, "update-ref", "-d", MERGED_REF_PREFIX + branch)


def _plan_merge(repo: git.Repo, branch: str) -> _MergePlan:
    """Run every check and compute the merged working tree, writing only git objects."""
    _refuse_during_operation(repo)
    if not branch_exists(repo, branch):
        raise GitError(f"branch {branch} does not exist")
    tip = resolve_commit(repo, f"refs/heads/{branch}", "branch")
    if not git_succeeds(repo, "rev-parse", "--verify", "--quiet", "HEAD^{commit}"):
        raise GitError(
            f"your repository is on {_current_branch(repo)}, which has no commits yet (a new "
            f"or orphan branch), so there is nothing to merge {branch} into; "
            f"{_switch_back_hint(repo, branch, tip)}"
        )
    head = resolve_commit(repo, "HEAD", "HEAD")
    status, base_output = run_git_raw(repo, "merge-base", head, tip, ok_codes=(0, 1))
    if status != 0:
        raise GitError(
            f"your repository is on {_current_branch(repo)}, which shares no history with "
            f"{branch} (an orphan or unrelated branch); {_switch_back_hint(repo, branch, tip)}"
        )
    base = base_output.decode().strip()
    nothing = MergeResult(
        status=MergeStatus.NOTHING_TO_MERGE,
        branch=branch,
        branch_commit=tip,
        merge_base=base,
        message=f"Nothing to merge: {branch} has no changes since {base[:8]}.",
    )
    if trees_equal(repo, base, tip):
        return _MergePlan(nothing)

    conflicts: dict[str, str] = {}
    committed = merge_trees(repo, head, tip, ours_label="HEAD", theirs_label=branch)
    for path, why in committed.conflicts.items():
        conflicts[path] = f"also changed in your commits since the branch started: {why}"
    branch_paths = _changed_paths(repo, base, tip)
    snapshot = snapshot_working_tree(repo)
    untracked = sorted(branch_paths & _untracked_paths(repo))
    if untracked:
        # An untracked file that already holds the branch's version (a repeated merge) is fine.
        on_disk, on_branch = _entries(repo, snapshot, untracked), _entries(repo, tip, untracked)
        for path in untracked:
            if on_disk.get(path) != on_branch.get(path):
                conflicts.setdefault(path, "an untracked file of yours is in the way")
    snapshot_commit = commit_tree(repo, snapshot, head, "ensemble: snapshot of working directory")
    combined = merge_trees(
        repo, snapshot_commit, tip, ours_label="your working directory", theirs_label=branch
    )
    for path, why in combined.conflicts.items():
        conflicts.setdefault(path, f"conflicts with your uncommitted changes: {why}")
    files = changed_files(repo, snapshot, combined.tree) if not conflicts else []
    _check_working_tree_paths(repo, files, branch_paths, conflicts)

    if conflicts:
        listed = "\n".join(f"  {path}: {why}" for path, why in sorted(conflicts.items()))
        message = (
            f"Cannot merge {branch}: {len(conflicts)} conflicting "
            f"file{'s' if len(conflicts) != 1 else ''}; nothing was changed.\n{listed}"
        )
        found = tuple(MergeConflict(path, why) for path, why in sorted(conflicts.items()))
        return _MergePlan(
            replace(nothing, status=MergeStatus.CONFLICT, message=message, conflicts=found)
        )
    if not files:
        message = (
            f"Nothing to merge: the changes of {branch} are already in your working directory."
        )
        return _MergePlan(replace(nothing, message=message))
    message = f"{branch} can be merged: {len(files)} file{'s' if len(files) != 1 else ''} change."
    return _MergePlan(
        replace(nothing, status=MergeStatus.READY, message=message, files=tuple(files)),
        snapshot_tree=snapshot,
        merged_tree=combined.tree,
    )


def _check_working_tree_paths(
    repo: git.Repo, files: list[ChangedFile], branch_paths: set[str], conflicts: dict[str, str]
) -> None:
    """Add conflicts for paths that the snapshot cannot see or the branch did not change."""
    work_dir = Path(str(repo.working_tree_dir))
    for changed in files:
        touched = [changed.path] if changed.old_path is None else [changed.old_path, changed.path]
        for path in touched:
            if path not in branch_paths:
                # A directory rename on the branch would move one of the user's own files.
                conflicts.setdefault(path, "the branch would move this file of yours")
        if changed.status in ("added", "renamed", "copied") and os.path.lexists(
            work_dir / changed.path
        ):
            conflicts.setdefault(changed.path, "a file ignored by git is in the way")


def _refuse_during_operation(repo: git.Repo) -> None:
    """Refuse to merge while the user is in the middle of a merge, rebase or cherry-pick."""
    markers = list(_IN_PROGRESS)
    args = ["rev-parse", "--path-format=absolute"]
    for marker in markers:
        args += ["--git-path", marker]
    for marker, path in zip(markers, run_git(repo, *args).splitlines(), strict=True):
        if os.path.lexists(path):
            operation, how = _IN_PROGRESS[marker]
            raise GitError(
                f"you are in the middle of {operation} in {repo.working_tree_dir} (git's "
                f"{marker} is there), and ensemble-tui does not merge into an unfinished "
                f"operation: {how}, then merge again"
            )


def _current_branch(repo: git.Repo) -> str:
    """The branch HEAD is on, as the user would name it ('a detached HEAD' if none)."""
    status, name = run_git_raw(repo, "symbolic-ref", "--quiet", "--short", "HEAD", ok_codes=(0, 1))
    return f"branch {name.decode().strip()}" if status == 0 else "a detached HEAD"


def _switch_back_hint(repo: git.Repo, branch: str, tip: str) -> str:
    """What to do instead: switch to a branch the teammate's work grew from, if any."""
    names = run_git(repo, "for-each-ref", "--format=%(refname:short)", "refs/heads").splitlines()
    related = [
        name
        for name in names
        if not name.startswith("ensemble/") and git_succeeds(repo, "merge-base", name, tip)
    ]
    if not related:
        return (
            f"{branch} shares history with none of your branches, so it cannot be merged; "
            f"look at it with git log {branch} and take what you need by hand"
        )
    target = "main" if "main" in related else related[0]
    return (
        f"switch back to a branch the team's work started from (git switch {target}), "
        "then merge again"
    )


def _changed_paths(repo: git.Repo, old: str, new: str) -> set[str]:
    """Every path that differs between two commits, renames counted as delete plus add."""
    raw = run_git_raw(repo, "diff-tree", "-r", "-z", "--no-renames", "--name-only", old, new)[1]
    return {path for path in raw.decode(errors="surrogateescape").split("\0") if path}


def _entries(repo: git.Repo, tree: str, paths: list[str]) -> dict[str, str]:
    """The mode, type and object id of each of `paths` that exists in `tree`."""
    raw = run_git_raw(repo, "ls-tree", "-z", "--full-tree", tree, "--", *paths)[1]
    entries: dict[str, str] = {}
    for line in raw.decode(errors="surrogateescape").split("\0"):
        if line:
            mode_type_id, _, path = line.partition("\t")
            entries[path] = mode_type_id
    return entries


def _untracked_paths(repo: git.Repo) -> set[str]:
    """The user's untracked files that are not ignored."""
    raw = run_git_raw(repo, "ls-files", "-z", "--others", "--exclude-standard")[1]
    return {path for path in raw.decode(errors="surrogateescape").split("\0") if path}


def _apply_to_working_tree(repo: git.Repo, snapshot_tree: str, merged_tree: str) -> None:
    """Write the difference between two trees into the working tree only (not the index)."""
    patch = run_git_raw(
        repo, "diff-tree", "-p", "-r", "--binary", "--full-index", "--no-renames",
        snapshot_tree, merged_tree,
    )[1]  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="ensemble-merge-") as scratch:
        patch_file = Path(scratch) / "branch.patch"
        patch_file.write_bytes(patch)
        try:
            # git apply checks every hunk before writing any file, so a failure changes nothing.
            run_git(repo, "apply", "--whitespace=nowarn", str(patch_file))
        except GitError as error:
            raise GitError(
                f"your working directory changed while merging; nothing was changed ({error})"
            ) from error
