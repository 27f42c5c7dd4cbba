"""A teammate's report that opens with a polite word reaches the lead (it is not parked)."""

from __future__ import annotations

from ensemble_tui.demo.scenarios import tool
from ensemble_tui.demo.script import script_block
from ensemble_tui.headless import drive_team
from ensemble_tui.opencode.models import TextPart
from tests.conftest import TEAM, TeamOptions, running_team

REPORT = "OK, t1 is finished: alice.txt is written and committed on my branch."
ALICE = script_block(
    tool("write", filePath="alice.txt", content="alice\n"),
    tool("ensemble_team_message", to="lead", text=REPORT),
    {"text": "Reported."},
)
LEAD = script_block(
    tool("ensemble_team_create", name=TEAM),
    tool("ensemble_team_spawn", name="alice", prompt="Write alice.txt.\n" + ALICE),
    {"text": "Waiting for alice."},
    {"await": "alice.txt is written and committed", "text": "Alice reported."},
)


async def test_a_report_that_starts_with_ok_is_delivered_to_the_lead(
    team_options: TeamOptions,
) -> None:
    async with running_team(team_options(LEAD)) as coord:
        await drive_team(coord, LEAD, 180)
        lead = coord.session_of("lead")
        assert lead is not None
        heard = [
            part.text
            for entry in await coord.client.messages(lead.session_id, lead.directory)
            if entry.info.role == "user"
            for part in entry.parts
            if isinstance(part, TextPart)
        ]
        kinds = [event.type for event in coord.feed.recent]

    assert "message.parked" not in kinds
    assert any(REPORT in text for text in heard)
