"""Small helpers shared by the worktree and merge modules: running git, snapshots, diffs."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import git

from ensemble_tui.errors import EnsembleError

# Commits made by ensemble-tui use this identity, so they work where no git identity is set.
IDENTITY_NAME = "ensemble-tui"
IDENTITY_EMAIL = "ensemble-tui@localhost"
IDENTITY_ENV: Mapping[str, str] = {
    "GIT_AUTHOR_NAME": IDENTITY_NAME,
    "GIT_AUTHOR_EMAIL": IDENTITY_EMAIL,
    "GIT_COMMITTER_NAME": IDENTITY_NAME,
    "GIT_COMMITTER_EMAIL": IDENTITY_EMAIL,
}
# Untracked files above this size stay out of merge snapshots (and so out of `.git`).
SNAPSHOT_UNTRACKED_LIMIT = 32 * 1024 * 1024
# Optional locks would let read-only commands rewrite the user's index to refresh stat data.
_BASE_ENV: Mapping[str, str] = {"GIT_OPTIONAL_LOCKS": "0", "GIT_TERMINAL_PROMPT": "0"}

FileStatus = Literal["added", "deleted", "modified", "renamed", "copied", "type-changed"]
_STATUS_BY_LETTER: Mapping[str, FileStatus] = {
    "A": "added",
    "D": "deleted",
    "M": "modified",
    "R": "renamed",
    "C": "copied",
    "T": "type-changed",
}


class GitError(EnsembleError):
    """A git operation of ensemble-tui failed or was refused; the message says why."""


class InvalidNameError(GitError, ValueError):
    """A team or member name does not match the allowed pattern."""


@dataclass(frozen=True, slots=True)
class ChangedFile:
    """One file changed between two trees, as the diff screen and merge results show it."""

    path: str
    status: FileStatus
    old_path: str | None = None
    additions: int | None = None
    """Added lines, or None for a binary file."""
    deletions: int | None = None
    """Deleted lines, or None for a binary file."""

    @property
    def binary(self) -> bool:
        """Whether git treats the file as binary (no line counts)."""
        return self.additions is None


def open_repo(path: Path) -> git.Repo:
    """Open the repository (or linked worktree) whose top folder is `path`, or raise GitError."""
    try:
        repo = git.Repo(path)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError) as error:
        raise GitError(f"{path} is not the top folder of a git repository") from error
    if repo.bare:
        raise GitError(f"{path} is a bare repository; ensemble-tui needs a working directory")
    return repo


def run_git_raw(
    repo: git.Repo,
    *args: str,
    env: Mapping[str, str] | None = None,
    ok_codes: Collection[int] = (0,),
) -> tuple[int, bytes]:
    """Run `git args...` in the repository's work tree; return (exit code, raw stdout)."""
    command = [git.Git.GIT_PYTHON_GIT_EXECUTABLE or "git", *args]
    status, stdout, stderr = repo.git.execute(
        command,
        with_extended_output=True,
        with_exceptions=False,
        stdout_as_string=False,
        strip_newline_in_stdout=False,
        env={**_BASE_ENV, **(env or {})},
    )
    if status not in ok_codes:
        detail = stderr.strip() or stdout.decode(errors="replace").strip()
        raise GitError(f"`git {' '.join(args[:3])}` failed (exit {status}): {detail}")
    return status, stdout


def run_git(repo: git.Repo, *args: str, env: Mapping[str, str] | None = None) -> str:
    """Run `git args...` and return its stdout as text without the trailing newline."""
    return run_git_raw(repo, *args, env=env)[1].decode(errors="replace").rstrip("\n")


def git_succeeds(repo: git.Repo, *args: str) -> bool:
    """Whether `git args...` exits 0 (for yes/no questions like `merge-base --is-ancestor`)."""
    status, _ = run_git_raw(repo, *args, ok_codes=range(256))
    return status == 0


def resolve_commit(repo: git.Repo, revision: str, what: str) -> str:
    """The full sha of the commit `revision` names, or a GitError naming `what` it was."""
    if revision.startswith("-"):
        raise GitError(f"{what} {revision!r} is not a valid revision")
    status, stdout = run_git_raw(
        repo, "rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}", ok_codes=(0, 1)
    )
    if status != 0:
        raise GitError(f"{what} {revision!r} does not exist (or is not a commit)")
    return stdout.decode().strip()


def branch_exists(repo: git.Repo, branch: str) -> bool:
    """Whether the local branch `branch` exists."""
    return git_succeeds(repo, "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}")


def trees_equal(repo: git.Repo, old: str, new: str) -> bool:
    """Whether two tree-ish revisions have exactly the same content."""
    return run_git(repo, "rev-parse", f"{old}^{{tree}}") == run_git(
        repo, "rev-parse", f"{new}^{{tree}}"
    )


def snapshot_working_tree(repo: git.Repo, *, untracked_limit: int | None = None) -> str:
    """Write the working tree (tracked, untracked, not ignored) as a tree; return its sha.

    A temporary copy of the index is used, so the repository's own index is never written.
    Untracked files larger than `untracked_limit` bytes (default SNAPSHOT_UNTRACKED_LIMIT)
    are left out: hashing them would copy them into `.git` on every merge, and a merge
    only needs them when the branch touches the same path, and then it refuses.
    """
    limit = SNAPSHOT_UNTRACKED_LIMIT if untracked_limit is None else untracked_limit
    real_index = Path(run_git(repo, "rev-parse", "--path-format=absolute", "--git-path", "index"))
    with tempfile.TemporaryDirectory(prefix="ensemble-index-") as scratch:
        temp_index = Path(scratch) / "index"
        env = {"GIT_INDEX_FILE": str(temp_index)}
        if real_index.exists():
            # copy2 keeps the index's mtime, which git's racy-clean check relies on.
            shutil.copy2(real_index, temp_index)
        else:
            run_git(repo, "read-tree", "HEAD", env=env)
        run_git(repo, "-c", "core.splitIndex=false", "add", "--update", env=env)
        small, _ = _split_by_size(repo, untracked_files(repo), limit)
        if small:
            listed = Path(scratch) / "untracked"
            listed.write_bytes(b"".join(os.fsencode(path) + b"\0" for path in small))
            add = ["add", f"--pathspec-from-file={listed}", "--pathspec-file-nul"]
            # Literal: a file named `*.py` or `:(top)` is that file, not a pattern.
            run_git(repo, "--literal-pathspecs", "-c", "core.splitIndex=false", *add, env=env)
        return run_git(repo, "write-tree", env=env)


def untracked_files(repo: git.Repo) -> list[str]:
    """The working tree's untracked files that are not ignored, relative to its top."""
    raw = run_git_raw(repo, "ls-files", "-z", "--others", "--exclude-standard")[1]
    return [path for path in raw.decode(errors="surrogateescape").split("\0") if path]


def _split_by_size(repo: git.Repo, paths: list[str], limit: int) -> tuple[list[str], list[str]]:
    """`paths` as (at most `limit` bytes, larger); unreadable ones count as small."""
    top = Path(str(repo.working_tree_dir))
    small: list[str] = []
    large: list[str] = []
    for path in paths:
        try:
            size = (top / path).lstat().st_size
        except OSError:
            size = 0
        (large if size > limit else small).append(path)
    return small, large


def commit_tree(repo: git.Repo, tree: str, parent: str, message: str) -> str:
    """Create a commit object (no ref points at it) with the ensemble-tui identity."""
    return run_git(
        repo, "commit-tree", "--no-gpg-sign", tree, "-p", parent, "-m", message, env=IDENTITY_ENV
    )


def changed_files(repo: git.Repo, old: str, new: str, *, renames: bool = True) -> list[ChangedFile]:
    """The files that differ between two tree-ish revisions, with status and line counts."""
    rename_flag = "-M" if renames else "--no-renames"
    raw = run_git_raw(repo, "diff-tree", "-r", "-z", rename_flag, "--name-status", old, new)[1]
    fields = raw.decode(errors="surrogateescape").split("\0")
    counts = _line_counts(repo, old, new, rename_flag)
    files: list[ChangedFile] = []
    position = 0
    while position < len(fields) and fields[position]:
        letter = fields[position][0]
        if letter in "RC":
            old_path, path = fields[position + 1], fields[position + 2]
            position += 3
        else:
            old_path, path = None, fields[position + 1]
            position += 2
        additions, deletions = counts.get(path, (None, None))
        status = _STATUS_BY_LETTER.get(letter, "modified")
        files.append(ChangedFile(path, status, old_path, additions, deletions))
    return files


def _line_counts(
    repo: git.Repo, old: str, new: str, rename_flag: str
) -> dict[str, tuple[int | None, int | None]]:
    """Added and deleted line counts per new path (None for binary files), from --numstat."""
    raw = run_git_raw(repo, "diff-tree", "-r", "-z", rename_flag, "--numstat", old, new)[1]
    fields = raw.decode(errors="surrogateescape").split("\0")
    counts: dict[str, tuple[int | None, int | None]] = {}
    position = 0
    while position < len(fields) and fields[position]:
        added, deleted, path = fields[position].split("\t", 2)
        position += 1
        if not path:
            # A rename or copy: the old and the new path follow as separate fields.
            path = fields[position + 1]
            position += 2
        if added == "-":
            counts[path] = (None, None)
        else:
            counts[path] = (int(added), int(deleted))
    return counts
