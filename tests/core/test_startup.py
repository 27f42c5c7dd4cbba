"""What a start does with an unfinished team, a named team, or an existing session."""

from __future__ import annotations

from pathlib import Path

import pytest

from ensemble_tui.core.headless import drive_team
from ensemble_tui.core.startup import StartRefused, start_or_resume
from ensemble_tui.demo.scenarios import tool
from ensemble_tui.demo.script import script_block
from tests.conftest import TeamOptions, running_team

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
