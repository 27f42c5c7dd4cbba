"""Broken local state and bad settings give one clear message, never a traceback.

Each case runs the real command line in a subprocess. A stand-in `opencode` that answers
`--version` with an unsupported version stops each start right after the checks under
test, so no server is needed to see that a start went past them.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from ensemble_tui.paths import repo_key
from tests.conftest import cli, isolated

OLD_VERSION_SAID = "OpenCode 1.10.0 is not supported"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    old = tmp_path / "old-opencode"
    old.write_text("#!/bin/sh\necho 1.10.0\n")
    old.chmod(0o755)
    return isolated(tmp_path, ENSEMBLE_OPENCODE_BIN=str(old))


def state_path(env: dict[str, str], repo: Path) -> Path:
    return Path(env["XDG_DATA_HOME"]) / "ensemble-tui" / "repos" / repo_key(repo) / "state.db"


def write_state(path: Path, build: str) -> bytes:
    """A state file made by `build` (SQL), or raw bytes when it starts with 'RAW:'."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if build.startswith("RAW:"):
        path.write_bytes(build[4:].encode() * 200)
    else:
        with sqlite3.connect(path) as db:
            db.executescript(build)
        db.close()
    return path.read_bytes()


def corrupt_pages(path: Path) -> bytes:
    """A real database with one of its B-tree pages overwritten."""
    write_state(
        path,
        "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); CREATE INDEX tv ON t (v);"
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000) "
        "INSERT INTO t (v) SELECT 'value ' || i || printf('%.40c', 'x') FROM n;",
    )
    with path.open("r+b") as file:
        file.seek(4096 * 3)
        file.write(b"\xff" * 4096)
    return path.read_bytes()


@pytest.mark.parametrize("command", [["run", "do it"], []])
@pytest.mark.parametrize("damage", ["not a database", "corrupt pages"])
def test_a_broken_state_file_is_moved_aside_and_a_fresh_one_started(
    git_repo: Path, tmp_path: Path, env: dict[str, str], damage: str, command: list[str]
) -> None:
    path = state_path(env, git_repo)
    if damage == "not a database":
        content = write_state(path, "RAW:this is not a database ")
    else:
        content = corrupt_pages(path)

    done = cli(command, git_repo, env)

    assert "Traceback" not in done.stderr
    assert f"The team state {path} was damaged" in done.stderr
    moved = [
        file
        for file in path.parent.glob("state.db.broken-*")
        if not file.name.endswith(("-wal", "-shm"))
    ]
    assert len(moved) == 1
    assert f"moved aside to {moved[0]}" in done.stderr
    assert moved[0].read_bytes() == content
    # The start went on past the state file: the next check (OpenCode's version) spoke.
    assert OLD_VERSION_SAID in " ".join(done.stderr.split())


@pytest.mark.parametrize("command", [["run", "do it"], []])
def test_a_state_file_from_a_newer_version_is_left_alone_with_a_message(
    git_repo: Path, env: dict[str, str], command: list[str]
) -> None:
    """The screen checks the state file in its start-up worker (after the first frame):
    the same refusal, message and exit status as `run`."""
    path = state_path(env, git_repo)
    content = write_state(path, "CREATE TABLE future (x); PRAGMA user_version = 999;")

    done = cli(command, git_repo, env)

    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "schema version 999" in done.stderr
    assert str(path) in done.stderr
    assert "upgrade ensemble-tui" in done.stderr
    assert path.read_bytes() == content
    assert not list(path.parent.glob("state.db.broken-*"))


@pytest.mark.parametrize(
    ("setting", "how"),
    [
        ("rate_limit = inf", "file"),
        ("rate_limit=nan", "flag"),
        ("inf", "environment"),
        ("timeout = inf", "file"),
    ],
)
def test_a_number_that_is_not_finite_is_refused(
    git_repo: Path, env: dict[str, str], setting: str, how: str
) -> None:
    args = ["config"]
    if how == "file":
        (git_repo / ".ensemble.toml").write_text(setting + "\n")
    elif how == "flag":
        args += ["--set", setting]
    else:
        env = {**env, "ENSEMBLE_RATE_LIMIT": setting}

    done = cli(args, git_repo, env)

    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "is not allowed" in done.stderr
    if "inf" in setting:
        assert "a finite number is needed" in done.stderr


def test_a_settings_file_that_is_not_utf8_is_named(git_repo: Path, env: dict[str, str]) -> None:
    (git_repo / ".ensemble.toml").write_bytes("timeout = '5m' # caf\xe9\n".encode("latin-1"))

    done = cli([], git_repo, env)

    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert ".ensemble.toml is not UTF-8 text" in done.stderr


@pytest.mark.parametrize("url", ["http://[::1", "127.0.0.1:4096", "ftp://127.0.0.1"])
def test_a_bad_url_is_refused_as_a_usage_error(
    git_repo: Path, env: dict[str, str], url: str
) -> None:
    for command in (["run", "--url", url, "do it"], ["--url", url]):
        done = cli(command, git_repo, env)
        assert done.returncode == 2
        assert "Traceback" not in done.stderr
        assert f"--url {url!r} is not" in done.stderr
