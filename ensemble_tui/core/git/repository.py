"""Finding the user's repository and refusing clearly when it cannot be used."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from ensemble_tui.errors import EnsembleError


class RepositoryError(EnsembleError):
    """The folder cannot host a team; the message says why and what to do."""


def _git(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "-C", str(path), *args], capture_output=True, text=True, check=False
    )


def found_repository(path: Path) -> Path | None:
    """The folder at or above *path* that holds `.git` (a folder, or the file of a linked
    worktree or a submodule), found without starting git: where `git rev-parse
    --show-toplevel` points in a checkout (the screen's first frame does not wait for a
    git process; `resolve_repository` asks git itself, after it). None when nothing is
    found, or when git would look elsewhere (GIT_DIR or GIT_WORK_TREE set)."""
    if not path.exists():
        raise RepositoryError(f"{path} does not exist.")
    if not path.is_dir():
        raise RepositoryError(f"{path} is not a folder.")
    if os.environ.get("GIT_DIR") or os.environ.get("GIT_WORK_TREE"):
        return None
    for folder in (path, *path.parents):
        if (folder / ".git").exists():
            return folder
    return None


def resolve_repository(path: Path) -> Path:
    """The top folder of the git repository at *path*, which must have a commit."""
    if not path.exists():
        raise RepositoryError(f"{path} does not exist.")
    if not path.is_dir():
        raise RepositoryError(f"{path} is not a folder.")
    try:
        # One git for both questions (the screen's start waits for it): the top folder is
        # printed first, and the status says whether HEAD is a commit.
        found = _git(path, "rev-parse", "--show-toplevel", "--verify", "--quiet", "HEAD^{commit}")
    except FileNotFoundError:
        raise RepositoryError("git is not installed (ensemble-tui needs git on PATH).") from None
    lines = found.stdout.splitlines()
    if not lines:
        raise RepositoryError(
            f"{path} is not inside a git repository; teammates work on git branches. "
            "Run `git init` and commit once, or start ensemble-tui in a repository."
        )
    root = Path(lines[0])
    if found.returncode != 0:
        raise RepositoryError(
            f"{root} has no commit yet; teammates branch from HEAD. Commit once "
            "(git add -A && git commit -m 'initial commit') and start again."
        )
    return root
