"""After a clean-up the screen keeps the ended team in view with its report (the real
OpenCode, the scripted model, Pilot)."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Static

from ensemble_tui.composition import RunOptions
from ensemble_tui.demo.scenarios import tool, write_and_commit
from ensemble_tui.demo.script import script_block
from ensemble_tui.tui.app import make_app
from ensemble_tui.tui.screens.confirm import ConfirmScreen
from ensemble_tui.tui.screens.detail import DetailScreen
from ensemble_tui.tui.widgets.teammates import TeammateList
from tests.conftest import TEAM
from tests.tui.conftest import (
    SIZE,
    feed_event,
    happened,
    quit_app,
    send_from_prompt,
    settle,
    start,
)


async def test_the_ended_team_stays_in_view_and_r_shows_its_report(
    options: RunOptions, git_repo: Path
) -> None:
    dina = script_block(*write_and_commit("dina", "dina.txt", "from dina\n"), {"text": "done"})
    lead_script = script_block(
        tool("ensemble_team_create", name=TEAM),
        tool("ensemble_team_spawn", name="dina", prompt="Write it.\n" + dina),
        {"text": "spawned"},
    )
    app = make_app(options)
    async with app.run_test(size=SIZE) as pilot:
        coordinator = await start(pilot)
        await send_from_prompt(pilot, lead_script)
        await feed_event(coordinator, happened("member.idle", "dina"))
        await settle(pilot)
        assert not app.main.check_action("report", ()), "no report before the team ends"

        app.query_one(TeammateList).focus()
        await pilot.press("C")
        await settle(pilot)
        await pilot.press("y")
        await feed_event(coordinator, happened("team.cleaned_up"))
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen), "the clean-up says what it did"
        await pilot.press("escape")
        await settle(pilot)

        figures = str(app.main.status.query_one(".status-figures", Static).render())
        assert f"team {TEAM} ended" in figures
        assert "no team yet" not in figures
        rows = app.query_one(TeammateList).rows_shown
        assert rows["dina"].status.value == "merged"

        await pilot.press("R")
        await settle(pilot)
        report = app.screen
        assert isinstance(report, DetailScreen)
        assert report.title_text == f"Report: team {TEAM}"
        assert f"# Team {TEAM}: cleaned up" in report.body
        assert "`dina.txt`" in report.body
        await pilot.press("escape")
        await quit_app(pilot)
    assert (git_repo / "dina.txt").read_text() == "from dina\n"
