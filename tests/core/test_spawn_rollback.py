"""A spawn that fails part-way leaves nothing behind; three failures in a row pause spawning."""

from __future__ import annotations

from pathlib import Path

import pytest

from ensemble_tui.core.errors import Refused
from ensemble_tui.core.team.coordinator import Coordinator
from ensemble_tui.core.team.identity import Caller
from ensemble_tui.core.team.spawn import SpawnRequest, spawn_teammate
from ensemble_tui.core.team.team_tools import TeamTools
from tests.conftest import TEAM, TeamOptions, git, running_team


async def lead_with_team(coordinator: Coordinator) -> None:
    lead = await coordinator.start_lead()
    caller = Caller("lead", is_lead=True, team_id=None, session_id=lead.session_id)
    await TeamTools(coordinator).team_create(caller, TEAM)
    assert lead.session_id == caller.session_id


async def test_a_failed_tool_registration_undoes_worktree_branch_session_and_member(
    tmp_path: Path, git_repo: Path, team_options: TeamOptions
) -> None:
    async with running_team(team_options()) as coord:
        await lead_with_team(coord)
        team = coord.team
        assert team is not None
        sessions_before = {s.id for s in await coord.client.list_sessions(str(git_repo))}
        good_url = coord.tool_server_url
        # Nothing listens there: OpenCode reports the MCP server as failed.
        coord.tool_server_url = "http://127.0.0.1:9/mcp"
        for attempt in range(3):
            with pytest.raises(Refused, match=r"Could not spawn alice.*Nothing was left behind"):
                await spawn_teammate(coord, team, SpawnRequest("alice", "do it"))
            assert coord.spawn_failures == attempt + 1

        assert coord.store.get_member(team.id, "alice") is None
        assert f"ensemble/{TEAM}/alice" not in git(git_repo, "branch", "--list")
        assert not (git_repo.parent / "worktrees" / TEAM / "alice").exists()
        assert "alice" not in git(git_repo, "worktree", "list")
        sessions_after = {s.id for s in await coord.client.list_sessions(str(git_repo))}
        assert sessions_after == sessions_before
        assert all(s.member != "alice" for s in coord.sessions)
        assert len(coord.tokens) == 1, "only the lead's token is left"

        coord.tool_server_url = good_url
        with pytest.raises(Refused, match="paused after 3 failed spawns"):
            await spawn_teammate(coord, team, SpawnRequest("alice", "do it"))
        coord.spawn_failures = 0
        member = await spawn_teammate(coord, team, SpawnRequest("alice", "do it"))
        assert member.branch == f"ensemble/{TEAM}/alice"
        assert coord.spawn_failures == 0


async def test_a_worktree_that_cannot_be_made_refuses_before_any_session(
    git_repo: Path, team_options: TeamOptions
) -> None:
    # Inside the repository: the git layer refuses it.
    async with running_team(team_options(worktree_root=git_repo / "trees")) as coord:
        await lead_with_team(coord)
        assert coord.team is not None
        with pytest.raises(Refused, match="inside the repository"):
            await spawn_teammate(coord, coord.team, SpawnRequest("bob", "do it"))
        assert coord.store.get_member(coord.team.id, "bob") is None
        assert len(await coord.client.list_sessions(str(git_repo))) == 1
