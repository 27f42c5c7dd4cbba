"""A large untracked file of the user's is not copied into `.git` by a merge's snapshot.

The snapshot of the user's uncommitted work used to hash every untracked file into the
object store, so a 300 MB file grew `.git` by 300 MB on every merge.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from ensemble_tui.core.git.commands import SNAPSHOT_UNTRACKED_LIMIT
from ensemble_tui.core.git.merge import MergeStatus, merge_branch_into_worktree

if TYPE_CHECKING:
    from tests.core.conftest import GitRepo, TeammateFactory

# Random bytes: git would compress a file of zeros to almost nothing.
BIG = SNAPSHOT_UNTRACKED_LIMIT + 1024 * 1024


def object_store_size(repo: GitRepo) -> int:
    objects = repo.path / ".git" / "objects"
    return sum(path.stat().st_size for path in objects.rglob("*") if path.is_file())


def test_a_large_untracked_file_is_not_hashed_into_git_by_a_merge(
    user_repo: GitRepo, make_teammate: TeammateFactory
) -> None:
    info = make_teammate("alice", {"app.py": "changed by alice\n"})
    big = os.urandom(BIG)
    user_repo.write("data/recording.bin", big)
    user_repo.write("small-notes.txt", "the user's small untracked file\n")
    before = object_store_size(user_repo)

    result = merge_branch_into_worktree(user_repo.path, info.branch)

    assert result.status is MergeStatus.MERGED
    assert [file.path for file in result.files] == ["app.py"]
    assert object_store_size(user_repo) - before < BIG // 10
    assert user_repo.read("data/recording.bin") == big
    assert user_repo.read("app.py") == b"changed by alice\n"
    assert "?? data/" in user_repo.git("status", "--porcelain")


def test_a_large_untracked_file_where_the_branch_adds_one_refuses(
    user_repo: GitRepo, make_teammate: TeammateFactory
) -> None:
    info = make_teammate("alice", {"data/recording.bin": "alice's tiny version\n"})
    big = os.urandom(BIG)
    user_repo.write("data/recording.bin", big)
    before = user_repo.snapshot()

    result = merge_branch_into_worktree(user_repo.path, info.branch)

    assert result.status is MergeStatus.CONFLICT
    assert [conflict.path for conflict in result.conflicts] == ["data/recording.bin"]
    assert "untracked" in result.conflicts[0].reason
    assert user_repo.snapshot() == before
    assert Path(user_repo.path / "data/recording.bin").read_bytes() == big
