"""The screen against a real team: the real `opencode serve`, the scripted model, the
real coordinator, driven with Pilot key presses.

Each test waits on the team's own feed (or a session's events), never on the clock.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from ensemble_tui.core.team.coordinator import Coordinator
from ensemble_tui.core.team.sessions import SessionState
from ensemble_tui.demo.scenarios import tool, write_and_commit
from ensemble_tui.demo.script import script_block
from ensemble_tui.opencode.events import Event, PartUpdated
from ensemble_tui.opencode.models import TextPart
from ensemble_tui.options import RunOptions
from ensemble_tui.tui.app import make_app
from ensemble_tui.tui.screens.confirm import ConfirmScreen
from ensemble_tui.tui.widgets.attention import AttentionBar
from ensemble_tui.tui.widgets.parts import ToolCall, UserText
from ensemble_tui.tui.widgets.session import PromptBox, SessionPane
from ensemble_tui.tui.widgets.teammates import TeammateList
from tests.conftest import TEAM, git
from tests.tui.conftest import (
    LIMIT,
    SIZE,
    feed_event,
    happened,
    members_listed,
    quit_app,
    send_from_prompt,
    settle,
    start,
)


async def test_a_team_appears_and_the_pane_follows_the_chosen_member(options: RunOptions) -> None:
    lead_script = script_block(
        tool("ensemble_team_create", name=TEAM),
        tool(
            "ensemble_team_spawn",
            name="alice",
            prompt="Write it.\n"
            + script_block(
                tool("write", filePath="alice.txt", content="a\n"),
                {"text": "alice: wrote alice.txt"},
            ),
        ),
        tool("ensemble_team_spawn", name="bob", prompt="Wait.\n" + script_block({"text": "ok"})),
        {"text": "Both are spawned."},
    )
    app = make_app(options)
    async with app.run_test(size=SIZE) as pilot:
        coordinator = await start(pilot)
        assert members_listed(app) == ["lead"], "the lead's row is there before any team"
        assert isinstance(app.focused, PromptBox), "focus starts in the prompt box"

        await send_from_prompt(pilot, lead_script)
        await feed_event(coordinator, happened("member.spawned", "bob"))
        await feed_event(coordinator, happened("member.idle", "alice"))
        await settle(pilot)
        assert members_listed(app) == ["lead", "alice", "bob"]

        await pilot.press("escape")
        assert isinstance(app.focused, TeammateList)
        await pilot.press("j")
        await pilot.press("enter")
        await settle(pilot)
        assert app.shown == "alice"
        assert "alice" in str(app.query_one(SessionPane).border_title)
        tools = [call.part.tool for call in app.query(ToolCall)]
        assert "write" in tools, f"alice's transcript is shown, not the lead's: {tools}"

        # What is typed in the prompt box reaches the shown session.
        alice = coordinator.session_of("alice")
        assert alice is not None
        arrived = said_in(coordinator, alice, "hello alice")
        await pilot.press("i")
        await pilot.press(*[" " if c == " " else c for c in "hello alice"])
        await pilot.press("enter")
        async with asyncio.timeout(LIMIT):
            await arrived
        await settle(pilot)
        assert any("hello alice" in text.text for text in app.query(UserText))

        await pilot.press("escape")
        await pilot.press("escape")
        await settle(pilot)
        assert app.shown == "lead"
        assert "lead" in str(app.query_one(SessionPane).border_title)
        await quit_app(pilot)


def said_in(coordinator: Coordinator, state: SessionState, text: str) -> asyncio.Future[None]:
    """A future set when a text part containing *text* appears in *state*'s session."""
    found: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def listen(session: SessionState, event: Event) -> None:
        if (
            session.session_id == state.session_id
            and isinstance(event, PartUpdated)
            and isinstance(event.part, TextPart)
            and text in event.part.text
            and not found.done()
        ):
            found.set_result(None)

    coordinator.add_session_listener(listen)
    return found


async def test_a_permission_is_answered_and_a_conflicting_merge_changes_nothing(
    options: RunOptions, tmp_path: Path, git_repo: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    dina = script_block(
        tool("write", filePath=str(outside / "shared.txt"), content="from dina\n"),
        *write_and_commit("dina", "README.md", "# dina's project\n"),
        tool("ensemble_team_message", to="lead", text="dina: README rewritten"),
        {"text": "done"},
    )
    lead_script = script_block(
        tool("ensemble_team_create", name=TEAM),
        tool("ensemble_team_spawn", name="dina", prompt="Write it.\n" + dina),
        {"text": "spawned"},
    )
    app = make_app(options)
    async with app.run_test(size=SIZE) as pilot:
        coordinator = await start(pilot)
        await send_from_prompt(pilot, lead_script)
        await feed_event(coordinator, happened("permission.asked", "dina"))
        await settle(pilot)
        attention = app.query_one(AttentionBar)
        assert attention.has_class("-active")
        assert "dina asks to use external_directory" in str(attention.render())

        await pilot.press("escape")
        await pilot.press("a")
        await feed_event(coordinator, happened("permission.answered", "dina"))
        await feed_event(coordinator, happened("member.idle", "dina"))
        await settle(pilot)
        assert (outside / "shared.txt").read_text() == "from dina\n", "dina went on"
        assert not attention.has_class("-active")

        # The user's own change to README.md conflicts with dina's.
        (git_repo / "README.md").write_text("# my own project\n")
        before = git(git_repo, "status", "--porcelain"), git(git_repo, "branch", "--list")
        app.query_one(TeammateList).focus()
        await pilot.press("j")
        assert app.selected == "dina"
        await pilot.press("m")
        await settle(pilot)
        confirm = app.screen
        assert isinstance(confirm, ConfirmScreen)
        assert confirm.title_text == "Cannot merge dina"
        assert "README.md" in confirm.body
        assert confirm.confirm is None, "a conflicting merge offers no button to go on"
        await pilot.press("escape")
        assert (git_repo / "README.md").read_text() == "# my own project\n"
        after = git(git_repo, "status", "--porcelain"), git(git_repo, "branch", "--list")
        assert after == before
        assert f"ensemble/{TEAM}/dina" in after[1]
        await quit_app(pilot)
