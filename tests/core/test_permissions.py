"""A teammate's permission request reaches the human's control, and the answer lets it go on."""

from __future__ import annotations

import asyncio
from pathlib import Path

from ensemble_tui.core.models import MemberStatus
from ensemble_tui.core.team.control import TeamControl
from ensemble_tui.core.team.events import PermissionAsked, QuestionAsked
from ensemble_tui.demo.scenarios import permission_story, tool
from ensemble_tui.demo.script import script_block
from ensemble_tui.opencode.models import ToolCompleted, ToolPart
from tests.conftest import TEAM, TeamOptions, running_team


async def test_an_allowed_permission_lets_the_teammate_continue(
    tmp_path: Path, team_options: TeamOptions
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    async with running_team(team_options()) as coord:
        control = TeamControl(coord)
        asked = asyncio.Event()
        coord.feed.subscribe(
            lambda event: asked.set() if isinstance(event, PermissionAsked) else None
        )
        lead = await coord.start_lead()
        await coord.prompt(lead, permission_story(outside, TEAM, "dina"))
        async with asyncio.timeout(60):
            await asked.wait()
        (request,) = control.pending()
        assert request.member == "dina"
        assert request.permission is not None
        assert request.permission.permission == "external_directory"
        assert "dina asks to use external_directory" in request.describe()
        assert coord.team is not None
        dina = coord.store.get_member(coord.team.id, "dina")
        assert dina is not None
        assert dina.status is MemberStatus.NEEDS_PERMISSION
        assert not coord.settled(), "a pending permission keeps the team unsettled"

        assert await control.answer_permission(request, "once") == "Allowed once."
        await coord.wait_until_settled(limit=120)
        assert (outside / "shared.txt").read_text() == "from dina\n"
        assert control.pending() == []
        kinds = [event.type for event in coord.feed.recent]
        assert kinds.index("permission.asked") < kinds.index("permission.answered")
        sent = [e for e in coord.feed.recent if e.type == "message.sent"]
        assert [(e.sender, e.recipient) for e in sent] == [("dina", "lead")]


async def test_a_teammates_question_waits_for_the_humans_answer(
    team_options: TeamOptions,
) -> None:
    ask = tool(
        "question",
        questions=[
            {
                "question": "Which colour?",
                "header": "Colour",
                "options": [
                    {"label": "red", "description": "warm"},
                    {"label": "blue", "description": "cool"},
                ],
            }
        ],
    )
    teammate = script_block(ask, {"text": "noted"})
    lead = script_block(
        tool("ensemble_team_create", name=TEAM),
        tool("ensemble_team_spawn", name="alice", prompt="Ask.\n" + teammate),
        {"text": "spawned"},
    )
    async with running_team(team_options()) as coord:
        control = TeamControl(coord)
        asked = asyncio.Event()
        coord.feed.subscribe(
            lambda event: asked.set() if isinstance(event, QuestionAsked) else None
        )
        lead_state = await coord.start_lead()
        await coord.prompt(lead_state, lead)
        async with asyncio.timeout(60):
            await asked.wait()
        (request,) = control.pending()
        assert request.question is not None
        assert request.describe() == "alice asks: Which colour?"
        assert coord.team is not None
        alice = coord.store.get_member(coord.team.id, "alice")
        assert alice is not None
        assert alice.status is MemberStatus.NEEDS_ANSWER

        assert await control.answer_question(request, [["blue"]]) == "Answered."
        await coord.wait_until_settled(limit=120)
        state = coord.session_of("alice")
        assert state is not None
        outputs = [
            part.state.output
            for entry in await coord.client.messages(state.session_id, state.directory)
            for part in entry.parts
            if isinstance(part, ToolPart) and isinstance(part.state, ToolCompleted)
        ]
    assert any('"Which colour?"="blue"' in output for output in outputs), outputs
