"""Removing a teammate's worktree keeps what its branch cannot hold, and says where."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ensemble_tui.core.git.worktrees import remove_worktree

if TYPE_CHECKING:
    from tests.core.conftest import GitRepo, TeammateFactory

FILE_PROTOCOL = ("-c", "protocol.file.allow=always")


def test_ignored_files_are_moved_to_a_kept_folder_that_is_named(
    user_repo: GitRepo, make_teammate: TeammateFactory
) -> None:
    info = make_teammate("alice", {"app.py": "changed\n"})
    checkout = user_repo.at(info.path)
    checkout.write("debug.log", "what alice logged\n")
    checkout.write("build/out.bin", b"\x00\x01built")
    checkout.write("src/new.py", "tracked once committed\n")

    removal = remove_worktree(user_repo.path, info)

    assert removal.worktree_removed
    assert not info.path.exists()
    kept = removal.kept
    assert kept is not None
    assert kept.folder == info.path.with_name("alice.kept")
    assert sorted(kept.paths) == ["build/", "debug.log"]
    assert (kept.folder / "debug.log").read_text() == "what alice logged\n"
    assert (kept.folder / "build" / "out.bin").read_bytes() == b"\x00\x01built"
    assert str(kept.folder) in kept.describe()
    # The untracked, not ignored file went into the work-in-progress commit, not aside.
    assert "src/new.py" in user_repo.git("show", "--name-only", "ensemble/alpha/alice")
    assert not (kept.folder / "src").exists()


def test_a_worktree_with_nothing_untracked_keeps_nothing(
    user_repo: GitRepo, make_teammate: TeammateFactory
) -> None:
    info = make_teammate("alice", {"app.py": "changed\n"})
    removal = remove_worktree(user_repo.path, info)
    assert removal.kept is None
    assert not info.path.with_name("alice.kept").exists()


def test_a_checked_out_submodule_is_kept_with_its_own_history(
    user_repo: GitRepo, make_teammate: TeammateFactory, tmp_path: Path
) -> None:
    library = user_repo.at(tmp_path / "library")
    library.path.mkdir()
    library.git("init", "-q", "-b", "main")
    library.write("lib.txt", "library\n")
    library.commit_all("library")
    user_repo.git(*FILE_PROTOCOL, "submodule", "add", "-q", str(library.path), "lib")
    user_repo.git("commit", "-q", "-m", "add the library")
    info = make_teammate("bob")
    checkout = user_repo.at(info.path)
    checkout.git(*FILE_PROTOCOL, "submodule", "update", "--init", "-q")
    sub = checkout.at(info.path / "lib")
    sub.write("lib.txt", "bob's fix\n")
    fix = sub.commit_all("bob's fix inside the library")
    sub.write("scratch.txt", "not committed anywhere\n")

    removal = remove_worktree(user_repo.path, info)

    assert removal.worktree_removed
    assert not info.path.exists()
    kept = removal.kept
    assert kept is not None
    assert kept.submodules == ("lib",)
    kept_sub = checkout.at(kept.folder / "lib")
    assert (kept_sub.path / "scratch.txt").read_text() == "not committed anywhere\n"
    assert kept_sub.git("rev-parse", "HEAD").strip() == fix
    assert kept_sub.git("status", "--porcelain") == "?? scratch.txt\n"
