"""What a start does with an unfinished team, a named team, or an existing session."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ensemble_tui.core.git.worktrees import create_worktree
from ensemble_tui.core.models import Member
from ensemble_tui.core.team.startup import StartRefused, start_or_resume
from ensemble_tui.demo.scenarios import tool
from ensemble_tui.demo.script import script_block
from ensemble_tui.headless import drive_team
from tests.conftest import TeamOptions, git, running_team

LEAD = script_block(tool("ensemble_team_create", name="kept"), {"text": "made"})


async def test_a_new_start_picks_up_the_unfinished_team(team_options: TeamOptions) -> None:
    options = team_options(LEAD)
    async with running_team(options) as first:
        await drive_team(first, LEAD, 60)
        lead_session = first.lead.session_id if first.lead else None

    async with running_team(options) as again:
        said = await start_or_resume(again)
        assert said == "Resumed the unfinished team kept."
        assert again.team is not None
        assert again.lead is not None
        assert again.lead.session_id == lead_session
        # The feed of the resumed team starts with its history, read back from its log.
        history = [e.type for e in again.feed.recent]
        assert history.index("team.created") < history.index("team.resumed")
        with pytest.raises(StartRefused, match=r"no unfinished team 'other'.*kept"):
            await start_or_resume(again, team_name="other")


async def test_an_existing_session_can_be_continued_as_the_lead(
    git_repo: Path, team_options: TeamOptions
) -> None:
    async with running_team(team_options(LEAD)) as coord:
        session = await coord.client.create_session(str(git_repo), title="mine")
        said = await start_or_resume(coord, session_id=session.id)
        assert said == f"Continuing session {session.id} as the lead."
        assert coord.lead is not None
        assert coord.lead.session_id == session.id
        with pytest.raises(StartRefused, match="Cannot continue session ses_nope"):
            await start_or_resume(coord, session_id="ses_nope")


async def test_a_spawn_cut_short_by_a_crash_is_undone_and_the_lead_told(
    tmp_path: Path, git_repo: Path, team_options: TeamOptions
) -> None:
    options = team_options(LEAD)
    async with running_team(options) as first:
        await drive_team(first, LEAD, 60)
        assert first.team is not None
        # What a crash between the worktree and the session leaves: a row and a worktree.
        info = create_worktree(git_repo, git_repo.parent / "worktrees", "kept", "half")
        first.store.add_member(
            Member(
                team_id=first.team.id,
                name="half",
                worktree_path=info.path,
                branch=info.branch,
                base_commit=info.base_commit,
            )
        )

    async with running_team(options) as again:
        assert await start_or_resume(again) == "Resumed the unfinished team kept."
        assert again.team is not None
        assert again.store.get_member(again.team.id, "half") is None
        assert not info.path.exists()
        assert "ensemble/kept/half" not in git(git_repo, "branch", "--list")
        told = [n.text for n in again.store.undelivered_notices(again.team.id, "lead")]
        told += [e.text or "" for e in again.feed.recent if e.type == "member.spawn_failed"]
        lead = again.lead
        assert lead is not None
        transcript = await again.client.messages(lead.session_id, lead.directory)
    said = json.dumps([m.model_dump(mode="json") for m in transcript]) + " ".join(told)
    assert "The spawn of half was interrupted by a restart" in said
