"""The screen and a failing check: shown in the team list, refused on `m`, and merged only
after the human confirms the override (the real OpenCode, the scripted model, Pilot)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ensemble_tui.composition import RunOptions
from ensemble_tui.core.team.coordinator import CoordinatorSettings
from ensemble_tui.core.team.events import MemberMerged
from ensemble_tui.opencode.server import OpenCodeServer
from ensemble_tui.tui.app import make_app
from ensemble_tui.tui.screens.confirm import ConfirmScreen
from ensemble_tui.tui.widgets.session import SessionPane
from ensemble_tui.tui.widgets.teammates import TeammateList
from tests.conftest import git
from tests.tui.conftest import (
    SIZE,
    carl_writes_app,
    feed_event,
    happened,
    quit_app,
    send_from_prompt,
    settle,
    start,
)

CHECK = 'grep -q fixed app.txt || { echo "app.txt is not fixed yet"; exit 3; }'


@pytest.fixture
def checked(tmp_path: Path, git_repo: Path, opencode_server: OpenCodeServer) -> RunOptions:
    return RunOptions(
        repo_root=git_repo,
        prompt="",
        url=opencode_server.url,
        password=opencode_server.password,
        store_path=tmp_path / "state.db",
        settings=CoordinatorSettings(worktree_root=git_repo.parent / "worktrees", check=CHECK),
    )


async def test_a_failed_check_is_shown_and_merged_only_when_the_human_overrides(
    checked: RunOptions, git_repo: Path
) -> None:
    lead_script = carl_writes_app("broken\n", "app.txt written")
    app = make_app(checked)
    async with app.run_test(size=SIZE) as pilot:
        coordinator = await start(pilot)
        await send_from_prompt(pilot, lead_script)
        await feed_event(coordinator, happened("check.failed", "carl"))
        await settle(pilot)
        teammates = app.query_one(TeammateList)
        assert str(teammates.cells_shown["carl"]["check"]) == "✗ failed"

        teammates.focus()
        await pilot.press("j")
        assert app.selected == "carl"
        await pilot.press("enter")
        await settle(pilot)
        assert "check failed (exit 3)" in str(app.query_one(SessionPane).border_subtitle)

        await pilot.press("escape")
        await pilot.press("j")
        await pilot.press("m")
        await settle(pilot)
        refusal = app.screen
        assert isinstance(refusal, ConfirmScreen)
        assert refusal.title_text == "Check failed: carl"
        assert "app.txt is not fixed yet" in refusal.body
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
        assert merged.check_overridden
        await settle(pilot)
        await quit_app(pilot)
    assert (git_repo / "app.txt").read_text() == "broken\n"
    assert "app.txt" in git(git_repo, "status", "--porcelain")
