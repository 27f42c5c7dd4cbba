"""`p` pauses the team and lifts the pause, `u` turns until-done on and off; the status
bar says both (the real OpenCode, the scripted model, Pilot)."""

from __future__ import annotations

from textual.widgets import Static

from ensemble_tui.composition import RunOptions
from ensemble_tui.demo.scenarios import tool
from ensemble_tui.demo.script import script_block
from ensemble_tui.tui.app import EnsembleApp, make_app
from ensemble_tui.tui.widgets.teammates import TeammateList
from tests.tui.conftest import (
    SIZE,
    feed_event,
    happened,
    quit_app,
    send_from_prompt,
    settle,
    start,
)


def status_text(app: EnsembleApp) -> str:
    return str(app.main.status.query_one(".status-figures", Static).render())


async def test_p_pauses_and_resumes_and_u_turns_until_done_on_and_off(
    options: RunOptions,
) -> None:
    lead_script = script_block(tool("ensemble_team_create", name="keys"), {"text": "ready"})
    app = make_app(options)
    async with app.run_test(size=SIZE) as pilot:
        coordinator = await start(pilot)
        await send_from_prompt(pilot, lead_script)
        await feed_event(coordinator, happened("team.created"))
        await feed_event(coordinator, happened("member.idle", "lead"))
        await settle(pilot)
        app.query_one(TeammateList).focus()
        assert "until done" not in status_text(app)

        await pilot.press("u")
        await feed_event(coordinator, happened("team.until_done"))
        await settle(pilot)
        assert coordinator.until_done
        assert "until done" in status_text(app)

        await pilot.press("p")
        await feed_event(coordinator, happened("team.paused"))
        await settle(pilot)
        assert coordinator.paused is not None
        assert "⏸ paused by you" in status_text(app)
        # The human's own words still go through a pause.
        idle_before = sum(e.type == "member.idle" for e in coordinator.feed.recent)
        await send_from_prompt(pilot, "hello while paused")
        await feed_event(
            coordinator,
            lambda event: (
                event.type == "member.idle"
                and sum(e.type == "member.idle" for e in coordinator.feed.recent) > idle_before
            ),
        )
        lead = coordinator.lead
        assert lead is not None
        said = await coordinator.client.messages(lead.session_id, lead.directory)
        assert "hello while paused" in str([m.model_dump() for m in said])

        app.query_one(TeammateList).focus()
        await pilot.press("p")
        await feed_event(coordinator, happened("team.unpaused"))
        await pilot.press("u")
        await settle(pilot)
        assert coordinator.paused is None
        assert not coordinator.until_done
        assert "⏸" not in status_text(app)
        assert "until done" not in status_text(app)
        await quit_app(pilot)
