"""Shutdown keeps uncommitted work; cleanup merges what merges and keeps what conflicts."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest

from ensemble_tui.core.errors import Refused
from ensemble_tui.core.models import MemberStatus, TeamStatus
from ensemble_tui.core.team.control import TeamControl
from ensemble_tui.core.team.coordinator import Coordinator
from ensemble_tui.core.team.identity import Caller
from ensemble_tui.core.team.team_tools import TeamTools
from ensemble_tui.demo.scenarios import tool
from ensemble_tui.demo.script import script_block
from ensemble_tui.headless import drive_team
from tests.conftest import TEAM, TeamOptions, git, running_team


def writer(path: str, content: str, *, slow: float = 0) -> str:
    """A teammate that writes one file, never commits, and stops."""
    write = tool("write", filePath=path, content=content)
    if slow:
        write["delay"] = slow
    return script_block(write, {"text": f"wrote {path}"})


def lead(*spawns: tuple[str, str]) -> str:
    return script_block(
        tool("ensemble_team_create", name=TEAM),
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
        await drive_team(coord, lead(("alice", writer("notes.md", "draft\n"))), 120)
        control = TeamControl(coord)
        said = await control.shutdown("alice")
        assert "shut down" in said
        alice = coord.store.get_member(coord.team.id, "alice") if coord.team else None
    assert alice is not None
    assert alice.status is MemberStatus.SHUT_DOWN
    assert branch_file(git_repo, f"ensemble/{TEAM}/alice", "notes.md") == "draft\n"
    log = git(git_repo, "log", "-1", "--format=%an %s", f"ensemble/{TEAM}/alice")
    assert log.startswith("ensemble-tui ensemble: work in progress of alice")


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
        await coord.prompt(lead_state, lead(("alice", slow_then_more)))
        await _wait_for_file(coord, git_repo.parent / "worktrees" / TEAM / "alice" / "first.txt")
        said = await TeamControl(coord).shutdown("alice", force=True)
        assert "shut down" in said
    assert branch_file(git_repo, f"ensemble/{TEAM}/alice", "first.txt") == "one\n"


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
        ("alice", writer("alice.txt", "from alice\n")),
        ("bob", writer("README.md", "# bob rewrote this\n")),
    )
    async with running_team(team_options()) as coord:
        await drive_team(coord, story, 120)
        # The user edits the same file as bob meanwhile, without committing.
        (git_repo / "README.md").write_text("# the user's own edit\n")
        report = await TeamControl(coord).cleanup()
        teams = coord.store.list_teams()

    assert "alice: Merged alice" in report
    assert "bob: KEPT" in report
    assert "README.md" in report
    assert "git diff" in report
    assert (git_repo / "alice.txt").read_text() == "from alice\n"
    assert (git_repo / "README.md").read_text() == "# the user's own edit\n"
    branches = git(git_repo, "branch", "--list", "--format=%(refname:short)", f"ensemble/{TEAM}/*")
    assert branches.split() == [f"ensemble/{TEAM}/bob"]
    assert branch_file(git_repo, f"ensemble/{TEAM}/bob", "README.md") == "# bob rewrote this\n"
    assert not (git_repo.parent / "worktrees" / TEAM / "alice").exists()
    assert [team.status for team in teams] == [TeamStatus.ARCHIVED]


def lead_caller(coord: Coordinator) -> Caller:
    """The lead as the team tools see it."""
    assert coord.team is not None
    assert coord.lead is not None
    return Caller("lead", is_lead=True, team_id=coord.team.id, session_id=coord.lead.session_id)


def user_mid_merge(repo: Path) -> None:
    """Leave the user's repository in the middle of a conflicted merge of their own."""
    git(repo, "switch", "-q", "-c", "side")
    (repo / "README.md").write_text("# side\n")
    git(repo, "commit", "-qam", "side")
    git(repo, "switch", "-q", "main")
    (repo / "README.md").write_text("# main\n")
    git(repo, "commit", "-qam", "main")
    with pytest.raises(subprocess.CalledProcessError):
        git(repo, "merge", "side")
    assert (repo / ".git" / "MERGE_HEAD").exists()


async def test_a_merge_while_the_user_is_mid_merge_says_what_to_do_and_cleanup_ends_the_team(
    git_repo: Path, team_options: TeamOptions
) -> None:
    story = lead(("alice", writer("alice.txt", "alice\n")), ("bob", writer("bob.txt", "bob\n")))
    async with running_team(team_options()) as coord:
        await drive_team(coord, story, 120)
        user_mid_merge(git_repo)
        readme = (git_repo / "README.md").read_bytes()
        caller = lead_caller(coord)
        tools = TeamTools(coord)
        with pytest.raises(Refused) as refusal:
            await tools.team_merge(caller, "alice")
        said = str(refusal.value)
        report = await tools.team_cleanup(caller)
        teams = coord.store.list_teams()

    assert said.startswith("Could not merge alice: you are in the middle of a merge in ")
    assert "git merge --abort" in said
    assert f"branch ensemble/{TEAM}/alice is kept" in said
    assert "internal error" not in said
    assert "GitError" not in said
    assert "alice: KEPT, Could not merge alice: you are in the middle of a merge" in report
    assert "bob: KEPT, Could not merge bob: you are in the middle of a merge" in report
    assert [team.status for team in teams] == [TeamStatus.ARCHIVED]
    assert coord.team is None
    branches = git(git_repo, "branch", "--list", "--format=%(refname:short)", f"ensemble/{TEAM}/*")
    assert branches.split() == [f"ensemble/{TEAM}/alice", f"ensemble/{TEAM}/bob"]
    assert (git_repo / ".git" / "MERGE_HEAD").exists(), "the user's merge is left as it was"
    assert (git_repo / "README.md").read_bytes() == readme
    assert not (git_repo / "alice.txt").exists()


@pytest.mark.parametrize("with_commit", [True, False])
async def test_a_merge_onto_an_orphan_branch_says_what_is_wrong_and_what_to_do(
    git_repo: Path, team_options: TeamOptions, with_commit: bool
) -> None:
    async with running_team(team_options()) as coord:
        await drive_team(coord, lead(("alice", writer("alice.txt", "a\n"))), 120)
        git(git_repo, "switch", "-q", "--orphan", "scratch")
        if with_commit:
            git(git_repo, "commit", "-q", "--allow-empty", "-m", "unrelated")
        caller = lead_caller(coord)
        with pytest.raises(Refused) as refusal:
            await TeamTools(coord).team_merge(caller, "alice")
    said = str(refusal.value)
    wrong = "which shares no history with" if with_commit else "which has no commits yet"
    assert said.startswith(f"Could not merge alice: your repository is on branch scratch, {wrong}")
    assert "(git switch main), then merge again" in said
    assert f"branch ensemble/{TEAM}/alice is kept" in said
    assert not (git_repo / "alice.txt").exists()


async def test_cleanup_keeps_a_branch_that_cannot_be_merged_and_merges_the_others(
    git_repo: Path, team_options: TeamOptions
) -> None:
    story = lead(("alice", writer("alice.txt", "alice\n")), ("bob", writer("bob.txt", "bob\n")))
    async with running_team(team_options()) as coord:
        await drive_team(coord, story, 120)
        await TeamControl(coord).shutdown("bob")
        # bob's branch now holds a history of its own: it shares nothing with the user's.
        orphan = git(
            git_repo, "commit-tree", "-m", "unrelated", "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
        )
        git(git_repo, "update-ref", f"refs/heads/ensemble/{TEAM}/bob", orphan.strip())
        report = await TeamControl(coord).cleanup()
        teams = coord.store.list_teams()

    assert "alice: Merged alice" in report
    assert "bob: KEPT, Could not merge bob: " in report
    assert "shares history with none of your branches" in report
    assert (git_repo / "alice.txt").read_text() == "alice\n"
    branches = git(git_repo, "branch", "--list", "--format=%(refname:short)", f"ensemble/{TEAM}/*")
    assert branches.split() == [f"ensemble/{TEAM}/bob"]
    assert [team.status for team in teams] == [TeamStatus.ARCHIVED]


@pytest.fixture(autouse=True)
def _no_user_identity(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Work-in-progress commits must not need the user's git identity."""
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "no-gitconfig"))
