"""`S` stops a member's turn: the end of that turn says it was the human, not a normal end."""

from __future__ import annotations

import asyncio

from ensemble_tui.core.team.control import TeamControl
from ensemble_tui.core.team.events import TeamEvent
from ensemble_tui.demo.scenarios import tool
from ensemble_tui.demo.script import script_block
from tests.conftest import TeamOptions, running_team


async def test_a_turn_stopped_by_the_human_ends_with_stopped_by_you(
    team_options: TeamOptions,
) -> None:
    slow = script_block(
        tool("ensemble_team_create", name="halt"),
        {"text": "a long thought", "delay": 20},
        {"text": "never said"},
    )
    async with running_team(team_options()) as coord:
        control = TeamControl(coord)
        created, ended = asyncio.Event(), asyncio.Event()
        idles: list[TeamEvent] = []

        def watch(event: TeamEvent) -> None:
            if event.type == "team.created":
                created.set()
            if event.type == "member.idle":
                idles.append(event)
                ended.set()

        coord.feed.subscribe(watch)
        lead = await coord.start_lead()
        await coord.prompt(lead, slow)
        async with asyncio.timeout(60):
            await created.wait()
        assert not lead.idle, "the lead is in its slow step"
        await control.abort("lead")
        async with asyncio.timeout(30):
            await ended.wait()
    (idle,) = idles
    assert idle.member == "lead"
    assert idle.text == "stopped by you"
    assert idle.detail == {"stopped": True}
