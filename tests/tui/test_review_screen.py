"""The screen and a review: the verdict is shown beside the check in the team list, and a
branch the reviewer did not approve is merged only after the human overrides it (the real
OpenCode, the scripted model, Pilot)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ensemble_tui.composition import RunOptions
from ensemble_tui.core.team.coordinator import CoordinatorSettings
from ensemble_tui.core.team.events import MemberMerged
from ensemble_tui.demo.scenarios import tool
from ensemble_tui.demo.script import script_block
from ensemble_tui.opencode.server import OpenCodeServer
from ensemble_tui.tui.app import make_app
from ensemble_tui.tui.screens.confirm import ConfirmScreen
from ensemble_tui.tui.widgets.teammates import TeammateList
from tests.tui.conftest import (
    LIMIT,
    SIZE,
    carl_writes_app,
    feed_event,
    happened,
    quit_app,
    send_from_prompt,
    settle,
    start,
)

REASON = "name the constant instead of 42"


@pytest.fixture
def reviewed(tmp_path: Path, git_repo: Path, opencode_server: OpenCodeServer) -> RunOptions:
    settings = CoordinatorSettings(
        worktree_root=git_repo.parent / "worktrees", check="true", review_agent="plan"
    )
    return RunOptions(
        repo_root=git_repo,
        prompt="",
        url=opencode_server.url,
        password=opencode_server.password,
        store_path=tmp_path / "state.db",
        settings=settings,
    )


async def test_the_review_is_shown_beside_the_check_and_overridden_only_on_confirmation(
    reviewed: RunOptions, git_repo: Path
) -> None:
    reviewer = script_block(
        tool("ensemble_team_review", verdict="request_changes", reasons=REASON),
        {"text": "Reviewed."},
    )
    lead_script = carl_writes_app("x = 42\n", "done\n" + reviewer)
    app = make_app(reviewed)
    async with app.run_test(size=SIZE) as pilot:
        coordinator = await start(pilot)
        await send_from_prompt(pilot, lead_script)
        await feed_event(coordinator, happened("review.changes_requested", "carl"))
        # carl is told the changes and takes a turn on them: a merge of a teammate still at
        # work is refused ("shut it down first"), which is not what this test is about.
        await coordinator.wait_until_settled(limit=LIMIT)
        await settle(pilot)
        teammates = app.query_one(TeammateList)
        assert str(teammates.cells_shown["carl"]["check"]) == "✗ passed · changes"

        teammates.focus()
        await pilot.press("j")
        assert app.selected == "carl"
        await pilot.press("m")
        await settle(pilot)
        refusal = app.screen
        assert isinstance(refusal, ConfirmScreen)
        assert refusal.title_text == "Not approved: carl"
        assert REASON in refusal.body
        assert refusal.confirm == "Merge anyway"
        await pilot.press("n")
        await settle(pilot)
        assert not (git_repo / "app.txt").exists(), "no merge without the override"

        await pilot.press("m")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        merged = await feed_event(coordinator, happened("member.merged", "carl"))
        assert isinstance(merged, MemberMerged)
        assert merged.review_overridden
        assert not merged.check_overridden
        await settle(pilot)
        await quit_app(pilot)
    assert (git_repo / "app.txt").read_text() == "x = 42\n"
