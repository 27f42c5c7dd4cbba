"""Teammate worktrees against real git repositories: create, list, commit, diff and remove."""

from __future__ import annotations

import shutil
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from ensemble_tui.core.git.commands import GitError, InvalidNameError
from ensemble_tui.core.git.merge import MERGED_REF_PREFIX, merge_branch_into_worktree
from ensemble_tui.core.git.worktrees import (
    branch_diff,
    commit_work_in_progress,
    create_worktree,
    list_worktrees,
    remove_worktree,
    validate_name,
    wip_message,
)

if TYPE_CHECKING:
    from tests.core.conftest import GitRepo, TeammateFactory

BAD_NAMES = ["../evil", "Alice", "a b", "", "a" * 32, "1abc", "abc\n", "-rf", "a/b", "a.b", "é"]


def branches(repo: GitRepo) -> list[str]:
    return list(repo.git("for-each-ref", "--format=%(refname)", "refs/heads").split())


def test_create_worktree_branches_from_head(user_repo: GitRepo, worktree_root: Path) -> None:
    user_repo.write("README.md", "uncommitted edit of the user\n")

    info = create_worktree(user_repo.path, worktree_root, "alpha", "alice")

    assert info.path == worktree_root.resolve() / "alpha" / "alice"
    assert info.branch == "ensemble/alpha/alice"
    assert info.base_commit == user_repo.git("rev-parse", "HEAD").strip()
    checkout = user_repo.at(info.path)
    assert checkout.git("branch", "--show-current").strip() == "ensemble/alpha/alice"
    # The teammate starts from HEAD: the user's uncommitted edit is not in its worktree.
    assert checkout.read("README.md") == b"# project\n\nA readme.\n"
    assert checkout.read("app.py") == user_repo.git("show", "HEAD:app.py").encode()


def test_list_worktrees_shows_main_and_teammates(
    user_repo: GitRepo, make_teammate: TeammateFactory
) -> None:
    alice = make_teammate("alice")
    bob = make_teammate("bob", {"b.txt": "b\n"})

    listed = list_worktrees(user_repo.path)

    assert [entry.path for entry in listed] == [user_repo.path.resolve(), alice.path, bob.path]
    assert [entry.branch for entry in listed] == ["main", alice.branch, bob.branch]
    assert listed[1].head == alice.base_commit
    assert listed[2].head == user_repo.git("rev-parse", bob.branch).strip()
    assert not any(entry.detached or entry.bare or entry.locked for entry in listed)


def test_create_refuses_an_existing_branch(user_repo: GitRepo, worktree_root: Path) -> None:
    user_repo.git("branch", "ensemble/alpha/alice")

    with pytest.raises(GitError, match="branch ensemble/alpha/alice already exists"):
        create_worktree(user_repo.path, worktree_root, "alpha", "alice")
    assert not (worktree_root / "alpha" / "alice").exists()


def test_create_refuses_an_existing_folder(user_repo: GitRepo, worktree_root: Path) -> None:
    (worktree_root / "alpha" / "alice").mkdir(parents=True)

    with pytest.raises(GitError, match="already exists"):
        create_worktree(user_repo.path, worktree_root, "alpha", "alice")
    assert branches(user_repo) == ["refs/heads/main"]


def test_create_refuses_a_folder_inside_the_repository(user_repo: GitRepo) -> None:
    with pytest.raises(GitError, match="inside the repository"):
        create_worktree(user_repo.path, user_repo.path / "teams", "alpha", "alice")
    assert branches(user_repo) == ["refs/heads/main"]


@pytest.mark.parametrize("bad", BAD_NAMES)
@pytest.mark.parametrize("kind", ["team", "member"])
def test_bad_names_are_refused_before_touching_disk(
    user_repo: GitRepo, worktree_root: Path, kind: str, bad: str
) -> None:
    team, member = (bad, "bob") if kind == "team" else ("alpha", bad)

    with pytest.raises(InvalidNameError, match=f"{kind.capitalize()} name .* is not allowed"):
        create_worktree(user_repo.path, worktree_root, team, member)
    # Validation comes first: even a missing repository is not looked at.
    with pytest.raises(InvalidNameError):
        create_worktree(worktree_root / "no-repo", worktree_root, team, member)
    assert not worktree_root.exists()
    assert not (worktree_root.parent / "evil").exists()
    assert branches(user_repo) == ["refs/heads/main"]


def test_validate_name_accepts_the_documented_pattern() -> None:
    for good in ["a", "a" * 31, "api-tests", "x9", "lead"]:
        assert validate_name("member", good) == good
    with pytest.raises(ValueError, match="Team name 'Alice' is not allowed"):
        validate_name("team", "Alice")


def test_wip_commit_captures_modified_and_untracked_files(
    user_repo: GitRepo, make_teammate: TeammateFactory
) -> None:
    info = make_teammate("alice")
    checkout = user_repo.at(info.path)
    checkout.write("app.py", "changed\n")
    checkout.write("src/new.py", "print('new')\n")
    checkout.write("debug.log", "ignored by .gitignore\n")
    (info.path / "notes.txt").unlink()
    # The environment has no identity, so a plain commit fails and ours must bring its own.
    assert "Author identity unknown" in _commit_without_identity(checkout)

    sha = commit_work_in_progress(info.path, wip_message("alice", "shut down"))

    assert sha == checkout.git("rev-parse", "HEAD").strip()
    shown = checkout.git("show", "--name-status", "--format=%an <%ae>|%cn <%ce>|%s", sha)
    header, _, names = shown.partition("\n")
    assert header == (
        "ensemble-tui <ensemble-tui@localhost>|ensemble-tui <ensemble-tui@localhost>|"
        "ensemble: work in progress of alice (shut down)"
    )
    assert sorted(names.split("\n")[1:-1]) == ["A\tsrc/new.py", "D\tnotes.txt", "M\tapp.py"]
    assert checkout.git("status", "--porcelain", "--ignored") == "!! debug.log\n"
    assert commit_work_in_progress(info.path, wip_message("alice", "again")) is None


def test_concurrent_wip_commits_of_one_worktree_make_one_commit(
    user_repo: GitRepo, make_teammate: TeammateFactory
) -> None:
    """A shutdown that finishes from two paths at once: no index.lock error, one commit."""
    info = make_teammate("alice")
    checkout = user_repo.at(info.path)
    for round_number in range(6):
        for index in range(40):
            checkout.write(f"work/{round_number}/{index}.txt", f"file {index}\n" * 50)
        start = threading.Barrier(4)

        def commit(
            caller: int, round_number: int = round_number, start: threading.Barrier = start
        ) -> str | None:
            start.wait()
            return commit_work_in_progress(info.path, f"wip {round_number} from {caller}")

        with ThreadPoolExecutor(4) as pool:
            made = [sha for sha in pool.map(commit, range(4)) if sha is not None]
        assert len(made) == 1
        assert checkout.git("status", "--porcelain") == ""


def test_worktrees_created_all_at_once_are_all_made(
    user_repo: GitRepo, worktree_root: Path
) -> None:
    """Fifty spawns in one call make their worktrees at once: `git worktree add` reading
    another add's half-written record failed two of them before adds took turns."""
    names = [f"m{number:02d}" for number in range(1, 25)]
    start = threading.Barrier(len(names))

    def create(name: str) -> Path:
        start.wait()
        return create_worktree(user_repo.path, worktree_root, "many", name).path

    with ThreadPoolExecutor(len(names)) as pool:
        made = list(pool.map(create, names))
    assert [path.name for path in made] == names
    listed = {entry.path for entry in list_worktrees(user_repo.path)}
    assert set(made) <= listed


def _commit_without_identity(checkout: GitRepo) -> str:
    done = subprocess.run(
        ["git", "commit", "--allow-empty", "-m", "probe"],
        cwd=checkout.path,
        capture_output=True,
        check=False,
    )
    assert done.returncode != 0
    return done.stderr.decode()


def test_remove_keeps_an_unmerged_branch_with_the_uncommitted_work(
    user_repo: GitRepo, make_teammate: TeammateFactory
) -> None:
    info = make_teammate("alice", {"a.txt": "committed\n"})
    (info.path / "b.txt").write_text("uncommitted\n")

    removal = remove_worktree(user_repo.path, info, reason="timed out")

    assert removal.worktree_removed
    assert not removal.branch_deleted
    assert not info.path.exists()
    assert [entry.path for entry in list_worktrees(user_repo.path)] == [user_repo.path.resolve()]
    assert removal.wip_commit == user_repo.git("rev-parse", info.branch).strip()
    assert user_repo.git("show", f"{info.branch}:b.txt") == "uncommitted\n"
    assert user_repo.git("log", "-1", "--format=%s", info.branch).strip() == (
        "ensemble: work in progress of alice (timed out)"
    )


def test_remove_refuses_to_delete_an_unmerged_branch(
    user_repo: GitRepo, make_teammate: TeammateFactory
) -> None:
    info = make_teammate("alice", {"a.txt": "not merged\n"})

    with pytest.raises(GitError, match="not in your working directory"):
        remove_worktree(user_repo.path, info, merged=True)

    assert info.path.is_dir()
    assert f"refs/heads/{info.branch}" in branches(user_repo)


def test_remove_deletes_the_branch_once_merged(
    user_repo: GitRepo, make_teammate: TeammateFactory
) -> None:
    info = make_teammate("alice", {"a.txt": "merged\n"})
    merge_branch_into_worktree(user_repo.path, info.branch)
    assert user_repo.git("for-each-ref", MERGED_REF_PREFIX)

    removal = remove_worktree(user_repo.path, info, merged=True)

    assert removal.worktree_removed
    assert removal.branch_deleted
    assert removal.wip_commit is None
    assert not info.path.exists()
    assert branches(user_repo) == ["refs/heads/main"]
    assert user_repo.git("for-each-ref", MERGED_REF_PREFIX) == ""
    assert user_repo.read("a.txt") == b"merged\n"


def test_remove_refuses_when_work_followed_the_merge(
    user_repo: GitRepo, make_teammate: TeammateFactory
) -> None:
    info = make_teammate("alice", {"a.txt": "merged\n"})
    merge_branch_into_worktree(user_repo.path, info.branch)
    (info.path / "later.txt").write_text("written after the merge\n")

    with pytest.raises(GitError, match="not in your working directory"):
        remove_worktree(user_repo.path, info, merged=True)

    assert user_repo.git("show", f"{info.branch}:later.txt") == "written after the merge\n"


def test_remove_deletes_a_branch_without_changes(
    user_repo: GitRepo, make_teammate: TeammateFactory
) -> None:
    info = make_teammate("alice")

    removal = remove_worktree(user_repo.path, info, merged=True)

    assert removal.branch_deleted
    assert branches(user_repo) == ["refs/heads/main"]


def test_remove_forgets_a_worktree_whose_folder_is_gone(
    user_repo: GitRepo, make_teammate: TeammateFactory
) -> None:
    info = make_teammate("alice", {"a.txt": "kept on the branch\n"})
    shutil.rmtree(info.path)

    removal = remove_worktree(user_repo.path, info)

    assert removal.worktree_removed
    assert not removal.branch_deleted
    assert [entry.path for entry in list_worktrees(user_repo.path)] == [user_repo.path.resolve()]
    assert user_repo.git("show", f"{info.branch}:a.txt") == "kept on the branch\n"


def test_remove_refuses_a_worktree_on_another_branch(
    user_repo: GitRepo, make_teammate: TeammateFactory
) -> None:
    info = make_teammate("alice")
    user_repo.at(info.path).git("switch", "-q", "-c", "elsewhere")

    with pytest.raises(GitError, match="is on elsewhere, not ensemble/alpha/alice"):
        remove_worktree(user_repo.path, info)
    assert info.path.is_dir()


def test_branch_diff_shows_committed_and_uncommitted_work(
    user_repo: GitRepo, make_teammate: TeammateFactory
) -> None:
    info = make_teammate("alice", {"app.py": "rewritten\n", "logo.bin": b"\0new binary\0"})
    checkout = user_repo.at(info.path)
    checkout.write("README.md", "# project\n\nA better readme.\n")
    checkout.write("draft.md", "untracked draft\n")
    (info.path / "notes.txt").unlink()
    status_before = checkout.git("status", "--porcelain")

    diff = branch_diff(user_repo.path, info.branch, info.base_commit)

    assert diff.includes_uncommitted
    assert {(file.path, file.status) for file in diff.files} == {
        ("app.py", "modified"),
        ("logo.bin", "modified"),
        ("README.md", "modified"),
        ("draft.md", "added"),
        ("notes.txt", "deleted"),
    }
    by_path = {file.path: file for file in diff.files}
    assert by_path["logo.bin"].binary
    assert (by_path["README.md"].additions, by_path["README.md"].deletions) == (1, 1)
    assert "+A better readme." in diff.patch
    assert "+untracked draft" in diff.patch
    assert "-line 30" in diff.patch
    # Reading uncommitted work must not stage anything in the teammate's index.
    assert checkout.git("status", "--porcelain") == status_before


def test_branch_diff_of_a_branch_without_worktree(
    user_repo: GitRepo, make_teammate: TeammateFactory
) -> None:
    info = make_teammate("alice", {"old.txt": "moved\n"})
    checkout = user_repo.at(info.path)
    checkout.git("mv", "old.txt", "new.txt")
    remove_worktree(user_repo.path, info)

    diff = branch_diff(user_repo.path, info.branch, info.base_commit)

    assert not diff.includes_uncommitted
    assert [(file.path, file.status) for file in diff.files] == [("new.txt", "added")]
    with pytest.raises(GitError, match="does not exist"):
        branch_diff(user_repo.path, "ensemble/alpha/nobody", info.base_commit)
