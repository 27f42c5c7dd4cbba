"""Forking, choosing and handing off from the screen, against the real OpenCode: `F` forks
the lead two ways, `K` compares the forks and keeps one, `H` hands the lead off, and `P`
reads the session a `new` hand-off left behind."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Input, Select, TextArea

from ensemble_tui.composition import RunOptions
from ensemble_tui.core.models import LEAD_NAME, MemberStatus
from ensemble_tui.core.team.events import HandoffDone
from ensemble_tui.demo.scenarios import tool
from ensemble_tui.demo.script import script_block
from ensemble_tui.opencode.models import UserMessage
from ensemble_tui.tui.app import make_app
from ensemble_tui.tui.screens.confirm import ConfirmScreen
from ensemble_tui.tui.screens.forks import CompareScreen, ForkScreen, HandoffScreen
from ensemble_tui.tui.widgets.session import SessionPane
from ensemble_tui.tui.widgets.teammates import FORK_MARK, TeammateList
from tests.tui.conftest import (
    SIZE,
    feed_event,
    happened,
    members_listed,
    options,
    quit_app,
    send_from_prompt,
    settle,
    start,
)

__all__ = ["options"]


async def test_fork_compare_keep_and_hand_off_from_the_keys(
    options: RunOptions, git_repo: Path
) -> None:
    app = make_app(options)
    async with app.run_test(size=SIZE) as pilot:
        coordinator = await start(pilot)
        await send_from_prompt(
            pilot, script_block(tool("ensemble_team_create", name="keys"), {"text": "ready"})
        )
        await feed_event(coordinator, happened("member.idle", LEAD_NAME))
        await settle(pilot)

        # F on the lead (selected by default): a base name, then one prompt per line.
        await pilot.press("escape", "F")
        assert isinstance(app.screen, ForkScreen)
        app.screen.query_one(Input).value = "alt"
        app.screen.query_one(TextArea).insert("Design it as a monolith\nDesign it as services")
        await pilot.press("ctrl+s")
        await feed_event(coordinator, happened("member.idle", "alt-2"))
        await settle(pilot)
        assert members_listed(app) == ["lead", "alt-1", "alt-2"]
        name_cell = str(app.query_one(TeammateList).get_cell("alt-1", "name"))
        assert FORK_MARK in name_cell

        # K on a fork: the group side by side; keep alt-2 (one confirmation).
        await pilot.press("j")
        assert app.selected == "alt-1"
        await pilot.press("K")
        await settle(pilot)
        compare = app.screen
        assert isinstance(compare, CompareScreen)
        assert [view.name for view in compare.views] == ["alt-1", "alt-2"]
        await pilot.press("l", "k")
        assert isinstance(app.screen, ConfirmScreen)
        assert "alt-2" in app.screen.title_text
        await pilot.press("y")
        await feed_event(coordinator, happened("fork.chosen", "alt-2"))
        await settle(pilot)
        assert coordinator.team is not None
        members = {m.name: m for m in coordinator.store.list_members(coordinator.team.id)}
        assert members["alt-2"].status is MemberStatus.MERGED
        assert members["alt-1"].status is MemberStatus.SHUT_DOWN
        await pilot.press("escape")  # close the report of what was kept

        # H on the lead: the same conversation goes on as the plan agent.
        await pilot.press("escape")
        await settle(pilot)
        await pilot.press("H")
        assert isinstance(app.screen, HandoffScreen)
        app.screen.query_one("#handoff-agent", Input).value = "plan"
        app.screen.query_one(TextArea).insert("Review what was kept.")
        await pilot.press("ctrl+s")
        await feed_event(coordinator, happened("handoff.done", LEAD_NAME))
        lead = coordinator.session_of(LEAD_NAME)
        assert lead is not None
        messages = await coordinator.client.messages(lead.session_id, lead.directory)
        users = [m.info for m in messages if isinstance(m.info, UserMessage)]
        assert users[-1].agent == "plan"

        # H again, mode new: a fresh session; the old one is a key away.
        await feed_event(coordinator, happened("member.idle", LEAD_NAME))
        await settle(pilot)
        old_session = lead.session_id
        await pilot.press("H")
        assert isinstance(app.screen, HandoffScreen)
        app.screen.query_one(Select).value = "new"
        app.screen.query_one(TextArea).insert("Start the next phase.")
        await pilot.press("ctrl+s")
        await feed_event(coordinator, lambda e: isinstance(e, HandoffDone) and e.mode == "new")
        await settle(pilot)
        assert "1 earlier session" in str(app.query_one(SessionPane).border_subtitle)
        await pilot.press("P")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen)
        assert old_session in app.screen.body
        assert "Review what was kept." in app.screen.body
        await pilot.press("escape")
        await quit_app(pilot)
