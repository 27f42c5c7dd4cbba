"""ensemble-tui's own files are the user's alone, and its OpenCode server wants a password.

On a shared machine the team's state (prompts, messages, the agents' output) must not be
readable by other users, and a server whose agents run shell commands must not answer
whoever finds its port.
"""

from __future__ import annotations

import stat
from pathlib import Path

import httpx
import pytest

from ensemble_tui.composition import opencode_client
from ensemble_tui.core.git.worktrees import create_worktree, default_worktree_root
from ensemble_tui.core.store.store import Store
from ensemble_tui.options import RunOptions
from ensemble_tui.paths import data_home, repo_data_dir
from ensemble_tui.tui.runtime import attach_command


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def own_data_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A data home as a fresh user has it: not there yet, under a world-readable parent."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "share"))
    return data_home()


def test_the_state_file_and_its_folders_are_private(git_repo: Path) -> None:
    path = repo_data_dir(git_repo) / "state.db"
    with Store(path) as store:
        store.create_team("alpha", git_repo, "ses_lead")
        modes = {file.name: mode(file) for file in [path, *path.parent.glob("state.db-*")]}
    assert set(modes) >= {"state.db", "state.db-wal"}
    assert modes == dict.fromkeys(modes, 0o600)
    for folder in (data_home(), data_home() / "repos", path.parent):
        assert mode(folder) == 0o700, folder


def test_an_old_world_readable_state_is_made_private_at_open(git_repo: Path) -> None:
    path = repo_data_dir(git_repo) / "state.db"
    path.parent.mkdir(parents=True, mode=0o755)
    Store(path).close()
    path.chmod(0o644)
    path.parent.chmod(0o755)
    Store(path).close()
    assert mode(path) == 0o600
    assert mode(path.parent) == 0o700


def test_worktree_folders_are_private(git_repo: Path, tmp_path: Path) -> None:
    default = create_worktree(git_repo, default_worktree_root(git_repo), "alpha", "alice")
    assert mode(default_worktree_root(git_repo)) == 0o700
    assert mode(default.path.parent) == 0o700

    chosen = tmp_path / "mine" / "worktrees"
    create_worktree(git_repo, chosen, "alpha", "bob")
    assert mode(chosen) == 0o700
    assert mode(chosen / "alpha") == 0o700
    # A folder of the user's that existed before keeps the mode the user gave it.
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    create_worktree(git_repo, shared, "beta", "carol")
    assert mode(shared) == 0o755
    assert mode(shared / "beta") == 0o700


async def test_the_started_server_wants_the_password_only_ensemble_tui_knows(
    git_repo: Path, opencode_bin: str, opencode_env: dict[str, str]
) -> None:
    options = RunOptions(
        repo_root=git_repo, prompt="", opencode_bin=opencode_bin, server_env=opencode_env
    )
    async with opencode_client(options) as client:
        async with httpx.AsyncClient(base_url=client.base_url) as http:
            anonymous = await http.get("/global/health")
            guessed = await http.get("/global/health", auth=("opencode", "opencode"))
            assert anonymous.status_code == 401
            assert guessed.status_code == 401
            assert client.password
            known = await http.get("/global/health", auth=("opencode", client.password))
            assert known.status_code == 200

        attach = attach_command(client.base_url, "ses_1", str(git_repo), password=client.password)
        assert attach.env["OPENCODE_SERVER_PASSWORD"] == client.password
        assert client.password not in " ".join(attach.argv)

    log = repo_data_dir(git_repo) / "opencode.log"
    assert mode(log) == 0o600
    assert mode(log.parent) == 0o700
    assert client.password not in log.read_text()
