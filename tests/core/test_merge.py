"""Squash merges into the user's working directory, against real git repositories."""

from __future__ import annotations

import stat
import subprocess
from collections.abc import Mapping
from typing import TYPE_CHECKING

import pytest

from ensemble_tui.core.git.commands import GitError
from ensemble_tui.core.git.merge import (
    MERGED_REF_PREFIX,
    MergeStatus,
    merge_branch_into_worktree,
    preview_merge,
)

if TYPE_CHECKING:
    from tests.core.conftest import GitRepo, TeammateFactory


def app_with(changes: Mapping[int, str]) -> str:
    """conftest's APP_TEXT (30 numbered lines) with some 1-based lines replaced."""
    lines = [f"line {number}" for number in range(1, 31)]
    for number, text in changes.items():
        lines[number - 1] = text
    return "\n".join(lines) + "\n"


def test_clean_merge_keeps_the_users_staged_and_unstaged_work(
    user_repo: GitRepo, make_teammate: TeammateFactory
) -> None:
    info = make_teammate("alice", {"app.py": app_with({10: "alice"}), "src/mod.py": "x = 1\n"})
    user_repo.write("notes.txt", "staged note\n")
    user_repo.git("add", "notes.txt")
    user_repo.write("notes.txt", "staged note, then edited\n")
    user_repo.write("README.md", "unstaged readme\n")
    user_repo.write("scratch.txt", "untracked\n")
    index_before = user_repo.index_sha()
    head_before = user_repo.git("rev-parse", "HEAD")

    result = merge_branch_into_worktree(user_repo.path, info.branch)

    assert user_repo.index_sha() == index_before
    assert result.status is MergeStatus.MERGED, result.message
    assert {(file.path, file.status) for file in result.files} == {
        ("app.py", "modified"),
        ("src/mod.py", "added"),
    }
    staged = user_repo.git("diff", "--cached")
    assert staged.startswith("diff --git a/notes.txt b/notes.txt\n")
    assert staged.endswith("\n-first note\n-second note\n+staged note\n")
    assert staged.count("diff --git") == 1
    assert user_repo.read("notes.txt") == b"staged note, then edited\n"
    assert user_repo.read("README.md") == b"unstaged readme\n"
    assert user_repo.read("scratch.txt") == b"untracked\n"
    assert user_repo.read("app.py") == app_with({10: "alice"}).encode()
    assert user_repo.read("src/mod.py") == b"x = 1\n"
    assert user_repo.git("rev-parse", "HEAD") == head_before
    assert user_repo.git("stash", "list") == ""
    # The index is untouched, so a new file of the branch shows up as untracked.
    assert user_repo.git("status", "--porcelain", "--untracked-files=all").splitlines() == [
        " M README.md",
        " M app.py",
        "MM notes.txt",
        "?? scratch.txt",
        "?? src/mod.py",
    ]


def test_conflicts_refuse_name_every_file_and_change_nothing(
    user_repo: GitRepo, make_teammate: TeammateFactory
) -> None:
    info = make_teammate(
        "alice",
        {
            "app.py": app_with({2: "alice"}),
            "notes.txt": "alice's note\n",
            "todo.md": "alice's todo\n",
            "clean.txt": "would merge on its own\n",
        },
    )
    user_repo.write("app.py", app_with({2: "user"}))
    user_repo.commit_all("the user changed line 2 too")
    user_repo.write("notes.txt", "user's own note\n")
    user_repo.write("todo.md", "user's untracked todo\n")
    user_repo.write("README.md", "unstaged readme\n")
    user_repo.write("staged.txt", "staged\n")
    user_repo.git("add", "staged.txt")
    before = user_repo.snapshot()

    preview = preview_merge(user_repo.path, info.branch)
    result = merge_branch_into_worktree(user_repo.path, info.branch)

    assert user_repo.snapshot() == before
    assert preview == result
    assert result.status is MergeStatus.CONFLICT
    reasons = {conflict.path: conflict.reason for conflict in result.conflicts}
    assert sorted(reasons) == ["app.py", "notes.txt", "todo.md"]
    assert "your commits" in reasons["app.py"]
    assert "same lines" in reasons["app.py"]
    assert "uncommitted" in reasons["notes.txt"]
    assert "untracked" in reasons["todo.md"]
    assert "nothing was changed" in result.message
    assert all(path in result.message for path in reasons)
    assert user_repo.git("for-each-ref", MERGED_REF_PREFIX) == ""


def test_two_teammates_changing_nearby_hunks_of_one_file_merge_in_turn(
    user_repo: GitRepo, make_teammate: TeammateFactory
) -> None:
    alice = make_teammate("alice", {"app.py": app_with({3: "alice"})})
    bob = make_teammate("bob", {"app.py": app_with({5: "bob"})})
    user_repo.write("app.py", app_with({20: "user"}))
    index_before = user_repo.index_sha()

    assert merge_branch_into_worktree(user_repo.path, alice.branch).status is MergeStatus.MERGED
    # Bob's plain patch no longer applies: its context includes line 3, which Alice changed.
    bob_patch = user_repo.git("diff", bob.base_commit, bob.branch)
    (user_repo.path.parent / "bob.patch").write_text(bob_patch)
    assert "patch does not apply" in _apply_check(user_repo, "../bob.patch")
    assert merge_branch_into_worktree(user_repo.path, bob.branch).status is MergeStatus.MERGED

    assert user_repo.read("app.py") == app_with({3: "alice", 5: "bob", 20: "user"}).encode()
    assert user_repo.index_sha() == index_before


def _apply_check(repo: GitRepo, patch: str) -> str:
    done = subprocess.run(
        ["git", "apply", "--check", patch], cwd=repo.path, capture_output=True, check=False
    )
    return done.stderr.decode()


def test_adjacent_changes_of_two_teammates_conflict(
    user_repo: GitRepo, make_teammate: TeammateFactory
) -> None:
    alice = make_teammate("alice", {"app.py": app_with({3: "alice"})})
    bob = make_teammate("bob", {"app.py": app_with({4: "bob"})})
    merge_branch_into_worktree(user_repo.path, alice.branch)
    before = user_repo.snapshot()

    result = merge_branch_into_worktree(user_repo.path, bob.branch)

    assert result.status is MergeStatus.CONFLICT
    assert [conflict.path for conflict in result.conflicts] == ["app.py"]
    assert user_repo.snapshot() == before


def test_merge_applies_on_a_head_that_moved(
    user_repo: GitRepo, make_teammate: TeammateFactory
) -> None:
    info = make_teammate("alice", {"app.py": app_with({25: "alice"})})
    user_repo.write("app.py", app_with({1: "user"}))
    user_repo.commit_all("the user kept working")

    result = merge_branch_into_worktree(user_repo.path, info.branch)

    assert result.status is MergeStatus.MERGED
    assert user_repo.read("app.py") == app_with({1: "user", 25: "alice"}).encode()
    assert user_repo.git("diff", "--cached") == ""


def test_untracked_file_the_branch_would_create_refuses(
    user_repo: GitRepo, make_teammate: TeammateFactory
) -> None:
    info = make_teammate("alice", {"src/mod.py": "x = 1\n", "other.txt": "other\n"})
    user_repo.write("src/mod.py", "x = 2  # the user's own file\n")
    before = user_repo.snapshot()

    result = merge_branch_into_worktree(user_repo.path, info.branch)

    assert result.status is MergeStatus.CONFLICT
    assert [conflict.path for conflict in result.conflicts] == ["src/mod.py"]
    assert "untracked" in result.conflicts[0].reason
    assert user_repo.snapshot() == before


def test_untracked_file_identical_to_the_branchs_is_not_in_the_way(
    user_repo: GitRepo, make_teammate: TeammateFactory
) -> None:
    info = make_teammate("alice", {"src/mod.py": "x = 1\n", "other.txt": "other\n"})
    user_repo.write("src/mod.py", "x = 1\n")

    result = merge_branch_into_worktree(user_repo.path, info.branch)

    assert result.status is MergeStatus.MERGED
    assert [file.path for file in result.files] == ["other.txt"]
    assert user_repo.read("src/mod.py") == b"x = 1\n"


def test_ignored_file_in_the_way_refuses(
    user_repo: GitRepo, make_teammate: TeammateFactory
) -> None:
    info = make_teammate("alice")
    checkout = user_repo.at(info.path)
    checkout.write("build/out.txt", "forced in by the teammate\n")
    checkout.git("add", "--force", "build/out.txt")
    checkout.git("commit", "-q", "-m", "add a build output")
    user_repo.write("build/out.txt", "the user's own build output\n")
    before = user_repo.snapshot()

    result = merge_branch_into_worktree(user_repo.path, info.branch)

    assert result.status is MergeStatus.CONFLICT
    assert [(c.path, c.reason) for c in result.conflicts] == [
        ("build/out.txt", "a file ignored by git is in the way")
    ]
    assert user_repo.snapshot() == before


def test_deleted_binary_renamed_and_executable_files_merge(
    user_repo: GitRepo, make_teammate: TeammateFactory
) -> None:
    new_logo = bytes(reversed(range(256))) * 3 + b"\0\xff"
    info = make_teammate(
        "alice", {"notes.txt": None, "logo.bin": new_logo, "data.bin": b"\0\1\2\3"}
    )
    checkout = user_repo.at(info.path)
    (info.path / "docs").mkdir()
    checkout.git("mv", "README.md", "docs/README.md")
    checkout.write("run.sh", "#!/bin/sh\necho hi\n")
    checkout.git("add", "run.sh")
    checkout.git("update-index", "--chmod=+x", "run.sh")
    checkout.git("commit", "-q", "-m", "rename and an executable")
    user_repo.write("app.py", app_with({7: "user"}))

    preview = preview_merge(user_repo.path, info.branch)
    result = merge_branch_into_worktree(user_repo.path, info.branch)

    assert preview.status is MergeStatus.READY
    assert result.status is MergeStatus.MERGED
    assert {(file.path, file.status, file.old_path) for file in result.files} == {
        ("notes.txt", "deleted", None),
        ("logo.bin", "modified", None),
        ("data.bin", "added", None),
        ("docs/README.md", "renamed", "README.md"),
        ("run.sh", "added", None),
    }
    assert not (user_repo.path / "notes.txt").exists()
    assert not (user_repo.path / "README.md").exists()
    assert user_repo.read("docs/README.md") == b"# project\n\nA readme.\n"
    assert user_repo.read("logo.bin") == new_logo
    assert user_repo.read("data.bin") == b"\0\1\2\3"
    assert (user_repo.path / "run.sh").stat().st_mode & stat.S_IXUSR
    assert user_repo.read("app.py") == app_with({7: "user"}).encode()


def test_branch_without_changes_has_nothing_to_merge(
    user_repo: GitRepo, make_teammate: TeammateFactory
) -> None:
    info = make_teammate("alice")
    before = user_repo.snapshot()

    result = merge_branch_into_worktree(user_repo.path, info.branch)

    assert result.status is MergeStatus.NOTHING_TO_MERGE
    assert "no changes" in result.message
    assert result.files == ()
    assert result.conflicts == ()
    assert user_repo.snapshot().files == before.files


def test_merging_twice_finds_nothing_the_second_time(
    user_repo: GitRepo, make_teammate: TeammateFactory
) -> None:
    info = make_teammate("alice", {"app.py": app_with({9: "alice"}), "new.txt": "new\n"})
    assert merge_branch_into_worktree(user_repo.path, info.branch).status is MergeStatus.MERGED
    before = user_repo.snapshot()

    result = merge_branch_into_worktree(user_repo.path, info.branch)

    assert result.status is MergeStatus.NOTHING_TO_MERGE
    assert "already in your working directory" in result.message
    assert user_repo.snapshot() == before


def test_preview_changes_nothing(user_repo: GitRepo, make_teammate: TeammateFactory) -> None:
    info = make_teammate("alice", {"app.py": app_with({9: "alice"})})
    user_repo.write("scratch.txt", "untracked\n")
    before = user_repo.snapshot()

    preview = preview_merge(user_repo.path, info.branch)

    assert preview.status is MergeStatus.READY
    assert [file.path for file in preview.files] == ["app.py"]
    assert preview.merge_base == info.base_commit
    assert user_repo.snapshot() == before


def test_merge_refuses_while_a_merge_is_in_progress(
    user_repo: GitRepo, make_teammate: TeammateFactory
) -> None:
    info = make_teammate("alice", {"notes.txt": "alice\n"})
    user_repo.git("switch", "-q", "-c", "side")
    user_repo.write("notes.txt", "side\n")
    user_repo.commit_all("side")
    user_repo.git("switch", "-q", "main")
    user_repo.write("notes.txt", "main\n")
    user_repo.commit_all("main")
    user_repo.git("merge", "side", check=False)

    with pytest.raises(GitError, match=r"in the middle of a merge .*git merge --abort"):
        merge_branch_into_worktree(user_repo.path, info.branch)


def test_unknown_branch_is_an_error(user_repo: GitRepo) -> None:
    with pytest.raises(GitError, match="branch ensemble/alpha/nobody does not exist"):
        preview_merge(user_repo.path, "ensemble/alpha/nobody")


def test_user_git_config_does_not_break_the_patch(
    user_repo: GitRepo, make_teammate: TeammateFactory
) -> None:
    user_repo.git("config", "diff.noprefix", "true")
    user_repo.git("config", "apply.whitespace", "error")
    info = make_teammate("alice", {"notes.txt": "trailing space   \ntab\t\n", "empty.txt": ""})
    (info.path / "link").symlink_to("notes.txt")
    user_repo.at(info.path).commit_all("a symlink")

    result = merge_branch_into_worktree(user_repo.path, info.branch)

    assert result.status is MergeStatus.MERGED, result.message
    assert user_repo.read("notes.txt") == b"trailing space   \ntab\t\n"
    assert user_repo.read("empty.txt") == b""
    assert (user_repo.path / "link").readlink().as_posix() == "notes.txt"


def test_file_where_the_branch_adds_a_folder_is_named(
    user_repo: GitRepo, make_teammate: TeammateFactory
) -> None:
    info = make_teammate("alice", {"docs/guide.md": "guide\n"})
    user_repo.write("docs", "the user's file called docs\n")
    before = user_repo.snapshot()

    result = merge_branch_into_worktree(user_repo.path, info.branch)

    assert result.status is MergeStatus.CONFLICT
    assert [conflict.path for conflict in result.conflicts] == ["docs"]
    assert "directory" in result.conflicts[0].reason
    assert user_repo.snapshot() == before


def test_folder_renamed_by_the_branch_holding_an_untracked_file_refuses(
    user_repo: GitRepo, make_teammate: TeammateFactory
) -> None:
    info = make_teammate("alice", {"docs/a.md": "a\n", "docs/b.md": "b\n"})
    merge_branch_into_worktree(user_repo.path, info.branch)
    user_repo.commit_all("the docs arrived")
    bob = make_teammate("bob")
    user_repo.at(bob.path).git("mv", "docs", "manual")
    user_repo.at(bob.path).commit_all("rename docs to manual")
    user_repo.write("docs/draft.md", "the user's untracked draft\n")
    before = user_repo.snapshot()

    result = merge_branch_into_worktree(user_repo.path, bob.branch)

    assert result.status is MergeStatus.CONFLICT
    reasons = " ".join(conflict.reason for conflict in result.conflicts)
    assert "docs/draft.md added in your working directory" in reasons
    assert "renamed in ensemble/alpha/bob" in reasons
    assert user_repo.snapshot() == before
