"""Shutdown keeps uncommitted work; cleanup merges what merges and keeps what conflicts."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from ensemble_tui.core.models import MemberStatus, TeamStatus
from ensemble_tui.core.team.control import TeamControl
from ensemble_tui.core.team.coordinator import Coordinator
from ensemble_tui.demo.scenarios import tool
from ensemble_tui.demo.script import script_block
from ensemble_tui.headless import drive_team
from tests.conftest import TeamOptions, git, running_team


def writer(path: str, content: str, *, slow: float = 0) -> str:
    """A teammate that writes one file, never commits, and stops."""
    write = tool("write", filePath=path, content=content)
    if slow:
        write["delay"] = slow
    return script_block(write, {"text": f"wrote {path}"})


def lead(team: str, *spawns: tuple[str, str]) -> str:
    return script_block(
        tool("ensemble_team_create", name=team),
        *(
            tool("ensemble_team_spawn", name=name, prompt="Go.\n" + script)
            for name, script in spawns
        ),
        {"text": "spawned"},
    )


def branch_file(repo: Path, branch: str, path: str) -> str:
    return git(repo, "show", f"{branch}:{path}")


async def test_shutdown_commits_uncommitted_work_to_the_branch(
    git_repo: Path, team_options: TeamOptions
) -> None:
    async with running_team(team_options()) as coord:
        await drive_team(coord, lead("wip", ("erin", writer("notes.md", "draft\n"))), 120)
        control = TeamControl(coord)
        said = await control.shutdown("erin")
        assert "shut down" in said
        erin = coord.store.get_member(coord.team.id, "erin") if coord.team else None
    assert erin is not None
    assert erin.status is MemberStatus.SHUT_DOWN
    assert branch_file(git_repo, "ensemble/wip/erin", "notes.md") == "draft\n"
    log = git(git_repo, "log", "-1", "--format=%an %s", "ensemble/wip/erin")
    assert log.startswith("ensemble-tui ensemble: work in progress of erin")


async def test_a_forced_shutdown_of_a_busy_teammate_keeps_what_it_wrote(
    tmp_path: Path, git_repo: Path, team_options: TeamOptions
) -> None:
    slow_then_more = script_block(
        tool("write", filePath="first.txt", content="one\n"),
        {**tool("write", filePath="second.txt", content="two\n"), "delay": 30},
        {"text": "never reached"},
    )
    async with running_team(team_options()) as coord:
        lead_state = await coord.start_lead()
        await coord.prompt(lead_state, lead("force", ("fred", slow_then_more)))
        await _wait_for_file(coord, tmp_path / "worktrees" / "force" / "fred" / "first.txt")
        said = await TeamControl(coord).shutdown("fred", force=True)
        assert "shut down" in said
    assert branch_file(git_repo, "ensemble/force/fred", "first.txt") == "one\n"


async def _wait_for_file(coord: Coordinator, path: Path) -> None:
    """Wait until a teammate's write shows on disk (it follows the tool part's completion)."""
    done = asyncio.Event()
    coord.add_session_listener(lambda state, event: done.set() if path.exists() else None)
    async with asyncio.timeout(60):
        await done.wait()


async def test_cleanup_merges_the_clean_teammate_and_keeps_the_conflicting_one(
    tmp_path: Path, git_repo: Path, team_options: TeamOptions
) -> None:
    story = lead(
        "mixed",
        ("dina", writer("dina.txt", "from dina\n")),
        ("carl", writer("README.md", "# carl rewrote this\n")),
    )
    async with running_team(team_options()) as coord:
        await drive_team(coord, story, 120)
        # The user edits the same file as carl meanwhile, without committing.
        (git_repo / "README.md").write_text("# the user's own edit\n")
        report = await TeamControl(coord).cleanup()
        teams = coord.store.list_teams()

    assert "dina: Merged dina" in report
    assert "carl: KEPT" in report
    assert "README.md" in report
    assert "git diff" in report
    assert (git_repo / "dina.txt").read_text() == "from dina\n"
    assert (git_repo / "README.md").read_text() == "# the user's own edit\n"
    branches = git(git_repo, "branch", "--list", "--format=%(refname:short)", "ensemble/mixed/*")
    assert branches.split() == ["ensemble/mixed/carl"]
    assert branch_file(git_repo, "ensemble/mixed/carl", "README.md") == "# carl rewrote this\n"
    assert not (tmp_path / "worktrees" / "mixed" / "dina").exists()
    assert [team.status for team in teams] == [TeamStatus.ARCHIVED]


@pytest.fixture(autouse=True)
def _no_user_identity(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Work-in-progress commits must not need the user's git identity."""
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "no-gitconfig"))
