"""The team at a glance: activity sparklines, the timeline and the spend chart.

The scene tests use the fixed scenes of `scenes.py`; the live test runs the real app
against the real `opencode serve` and the scripted model.
"""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Sparkline

from ensemble_tui.demo.scenarios import tool
from ensemble_tui.demo.script import script_block
from ensemble_tui.options import RunOptions
from ensemble_tui.tui.app import make_app
from ensemble_tui.tui.screens.detail import DetailScreen
from ensemble_tui.tui.widgets.activity import ActivityColumn, SpendChart
from ensemble_tui.tui.widgets.teammates import TeammateList
from ensemble_tui.tui.widgets.timeline import Timeline
from tests.tui.conftest import (
    feed_event,
    happened,
    quit_app,
    send_from_prompt,
    settle,
    start,
)
from tests.tui.scenes import build_scene
from tests.tui.scenes import settle as settle_scene

SIZE = (100, 30)


async def test_each_member_has_a_sparkline_and_a_quiet_worker_shows_it(tmp_path: Path) -> None:
    app = build_scene(tmp_path, "team").app
    async with app.run_test(size=SIZE) as pilot:
        await settle_scene(pilot)
        column = app.query_one(ActivityColumn)
        assert column.names == ["lead", "alice", "bob"], "row for row with the team list"
        lines = dict(zip(column.names, column.query(Sparkline), strict=True))
        assert lines["bob"].has_class("-quiet"), "bob works but has been silent for 50 s"
        assert not lines["lead"].has_class("-quiet")
        assert not lines["alice"].has_class("-quiet"), "alice is idle, not quiet"
        assert list(lines["bob"].data or [])[-3:] == [0, 0, 0]
        spend = app.query_one(SpendChart)
        assert spend.border_subtitle == "52.2k $0.12"
        assert spend.query_one(Sparkline).data, "the spend history is drawn"


async def test_the_timeline_names_the_selected_event_and_opens_it(tmp_path: Path) -> None:
    app = build_scene(tmp_path, "team").app
    async with app.run_test(size=SIZE) as pilot:
        await settle_scene(pilot)
        timeline = app.query_one(Timeline)
        assert [event.type for event in timeline.events][:2] == ["team.created", "task.added"]
        assert "lead → everyone · message" in str(timeline.border_subtitle), "the newest"
        timeline.focus()
        await pilot.press("left", "left", "right")
        assert "bob · task claimed t2" in str(timeline.border_subtitle)
        await pilot.press("enter")
        await settle_scene(pilot)
        assert isinstance(app.screen, DetailScreen)
        assert "bob" in app.screen.title_text
        assert "task: t2" in app.screen.facts
        await pilot.press("escape")
        await pilot.press("end")
        assert "lead → everyone" in str(timeline.border_subtitle)


async def test_t_and_the_palette_hide_and_show_the_timeline(tmp_path: Path) -> None:
    app = build_scene(tmp_path, "team").app
    async with app.run_test(size=SIZE) as pilot:
        await settle_scene(pilot)
        strip = app.main.query_one("#glance")
        await pilot.press("escape")
        assert isinstance(app.focused, TeammateList)
        await pilot.press("t")
        assert not strip.display
        await pilot.press("ctrl+p")
        await pilot.press(*"timeline")
        await settle_scene(pilot)
        await pilot.press("enter")
        await settle_scene(pilot)
        assert strip.display, "the palette's entry shows it again"


async def test_a_live_turn_rises_in_the_sparkline_and_lands_on_the_timeline(
    options: RunOptions,
) -> None:
    lead_script = script_block(
        tool("ensemble_team_create", name="glance"),
        {"text": "A team, and a reply streamed in chunks. " * 6},
    )
    app = make_app(options)
    async with app.run_test(size=SIZE) as pilot:
        coordinator = await start(pilot)
        await send_from_prompt(pilot, lead_script)
        await feed_event(coordinator, happened("team.created"))
        await feed_event(coordinator, happened("member.idle", "lead"))
        await settle(pilot)
        app.refresh_team()
        column = app.query_one(ActivityColumn)
        lead_line = column.query(Sparkline).first()
        assert sum(lead_line.data or []) > 0, "the lead's streamed turn was counted"
        assert "team.created" in [event.type for event in app.query_one(Timeline).events]
        await quit_app(pilot)


async def test_the_sparklines_stay_beside_their_rows_when_the_list_scrolls(
    tmp_path: Path,
) -> None:
    app = build_scene(tmp_path, "team").app
    async with app.run_test(size=(100, 14)) as pilot:
        await settle_scene(pilot)
        teammates = app.query_one(TeammateList)
        await pilot.press("escape", "j", "j")
        await settle_scene(pilot)
        assert teammates.scroll_y > 0, "the list is too short for three rows"
        app.refresh_team()
        await settle_scene(pilot)
        first = round(teammates.scroll_y)
        assert app.query_one(ActivityColumn).names == ["lead", "alice", "bob"][first:]
