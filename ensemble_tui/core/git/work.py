"""What a teammate's branch holds: its commits and changed files since its base, for reports."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ensemble_tui.core.git.commands import (
    ChangedFile,
    branch_exists,
    changed_files,
    open_repo,
    resolve_commit,
    run_git,
    run_git_raw,
)


@dataclass(frozen=True)
class BranchWork:
    """The commits and files of a branch since its base."""

    commits: int
    files: tuple[ChangedFile, ...]

    @property
    def additions(self) -> int:
        return sum(f.additions or 0 for f in self.files)

    @property
    def deletions(self) -> int:
        return sum(f.deletions or 0 for f in self.files)


def count_commits(repo_root: Path, base: str, tip: str) -> int:
    """How many commits *tip* has that *base* has not."""
    return int(run_git(open_repo(repo_root), "rev-list", "--count", f"{base}..{tip}") or 0)


def branch_work(repo_root: Path, base: str, branch: str) -> BranchWork | None:
    """The committed work of *branch* since *base* (None once the branch is gone)."""
    repo = open_repo(repo_root)
    if not branch_exists(repo, branch):
        return None
    tip = resolve_commit(repo, f"refs/heads/{branch}", "branch")
    files = tuple(changed_files(repo, base, tip))
    return BranchWork(count_commits(repo_root, base, tip), files)


def commit_diff(repo_root: Path, base: str, commit: str) -> str:
    """The patch from *base* to *commit*, with a summary of the files first (a review reads it)."""
    repo = open_repo(repo_root)
    stat = run_git(repo, "diff-tree", "-r", "-M", "--stat", base, commit)
    patch = run_git_raw(repo, "diff-tree", "-p", "-r", "-M", base, commit)[1]
    return f"{stat}\n\n{patch.decode(errors='replace')}".strip()


def branch_heads(repo_root: Path, prefix: str) -> dict[str, str]:
    """The commit each local branch under *prefix* points at (e.g. `ensemble/<team>/`)."""
    listed = run_git(
        open_repo(repo_root),
        "for-each-ref",
        "--format=%(refname:short) %(objectname)",
        f"refs/heads/{prefix}",
    )
    heads = {}
    for line in listed.splitlines():
        name, _, sha = line.partition(" ")
        heads[name] = sha
    return heads
