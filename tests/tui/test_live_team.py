"""The screen against a real team: the real `opencode serve`, the scripted model, the
real coordinator, driven with Pilot key presses.

Each test waits on the team's own feed (or a session's events), never on the clock.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.worker import WorkerCancelled

from ensemble_tui.core.team.coordinator import Coordinator
from ensemble_tui.core.team.events import TeamEvent
from ensemble_tui.core.team.sessions import SessionState
from ensemble_tui.core.team.settings import CoordinatorSettings
from ensemble_tui.demo.scenarios import tool, write_and_commit
from ensemble_tui.demo.script import script_block
from ensemble_tui.opencode.events import Event, PartUpdated
from ensemble_tui.opencode.models import TextPart
from ensemble_tui.opencode.server import OpenCodeServer
from ensemble_tui.options import RunOptions
from ensemble_tui.tui.app import EnsembleApp, make_app
from ensemble_tui.tui.screens.confirm import ConfirmScreen
from ensemble_tui.tui.widgets.attention import AttentionBar
from ensemble_tui.tui.widgets.parts import ToolCall, UserText
from ensemble_tui.tui.widgets.session import PromptBox, SessionPane
from ensemble_tui.tui.widgets.teammates import TeammateList
from tests.conftest import git

SIZE = (100, 30)
LIMIT = 120


@pytest.fixture
def options(tmp_path: Path, git_repo: Path, opencode_server: OpenCodeServer) -> RunOptions:
    return RunOptions(
        repo_root=git_repo,
        prompt="",
        url=opencode_server.url,
        password=opencode_server.password,
        store_path=tmp_path / "state.db",
        settings=CoordinatorSettings(worktree_root=tmp_path / "worktrees"),
    )


async def feed_event(coordinator: Coordinator, wanted: Callable[[TeamEvent], bool]) -> TeamEvent:
    """The first feed event (already seen, or to come) that *wanted* accepts."""
    found: asyncio.Future[TeamEvent] = asyncio.get_running_loop().create_future()

    def check(event: TeamEvent) -> None:
        if wanted(event) and not found.done():
            found.set_result(event)

    stop = coordinator.feed.subscribe(check, replay=True)
    try:
        async with asyncio.timeout(LIMIT):
            return await found
    finally:
        stop()


def happened(kind: str, member: str | None = None) -> Callable[[TeamEvent], bool]:
    return lambda event: event.type == kind and (member is None or event.member == member)


async def settle(pilot: Pilot[Any]) -> None:
    """Post what the bridge holds, then let the app and its workers handle it."""
    app = pilot.app
    assert isinstance(app, EnsembleApp)
    for _ in range(3):
        if app.bridge is not None:
            app.bridge.flush()
        # The team's own worker runs until the app quits: wait for the others.
        others = [worker for worker in app.workers if worker.group != "team"]
        if others:
            with contextlib.suppress(WorkerCancelled):
                await app.workers.wait_for_complete(others)
        await pilot.pause()


async def start(pilot: Pilot[Any]) -> Coordinator:
    app = pilot.app
    assert isinstance(app, EnsembleApp)
    async with asyncio.timeout(LIMIT):
        await app.ready.wait()
    await settle(pilot)
    assert app.bridge is not None
    return app.bridge.coordinator


async def send_from_prompt(pilot: Pilot[Any], text: str) -> None:
    """Put *text* in the prompt box (as a paste would) and press enter."""
    prompt = pilot.app.query_one(PromptBox)
    prompt.focus()
    prompt.insert(text)
    await pilot.press("enter")


async def quit_app(pilot: Pilot[Any]) -> None:
    await pilot.press("ctrl+q")
    await pilot.pause()


def members_listed(app: EnsembleApp) -> list[str]:
    return list(app.query_one(TeammateList).rows_shown)


async def test_a_team_appears_and_the_pane_follows_the_chosen_member(options: RunOptions) -> None:
    lead_script = script_block(
        tool("ensemble_team_create", name="live"),
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
    dana = script_block(
        tool("write", filePath=str(outside / "shared.txt"), content="from dana\n"),
        *write_and_commit("dana", "README.md", "# dana's project\n"),
        tool("ensemble_team_message", to="lead", text="dana: README rewritten"),
        {"text": "done"},
    )
    lead_script = script_block(
        tool("ensemble_team_create", name="perm"),
        tool("ensemble_team_spawn", name="dana", prompt="Write it.\n" + dana),
        {"text": "spawned"},
    )
    app = make_app(options)
    async with app.run_test(size=SIZE) as pilot:
        coordinator = await start(pilot)
        await send_from_prompt(pilot, lead_script)
        await feed_event(coordinator, happened("permission.asked", "dana"))
        await settle(pilot)
        attention = app.query_one(AttentionBar)
        assert attention.has_class("-active")
        assert "dana asks to use external_directory" in str(attention.render())

        await pilot.press("escape")
        await pilot.press("a")
        await feed_event(coordinator, happened("permission.answered", "dana"))
        await feed_event(coordinator, happened("member.idle", "dana"))
        await settle(pilot)
        assert (outside / "shared.txt").read_text() == "from dana\n", "dana went on"
        assert not attention.has_class("-active")

        # The user's own change to README.md conflicts with dana's.
        (git_repo / "README.md").write_text("# my own project\n")
        before = git(git_repo, "status", "--porcelain"), git(git_repo, "branch", "--list")
        app.query_one(TeammateList).focus()
        await pilot.press("j")
        assert app.selected == "dana"
        await pilot.press("m")
        await settle(pilot)
        confirm = app.screen
        assert isinstance(confirm, ConfirmScreen)
        assert confirm.title_text == "Cannot merge dana"
        assert "README.md" in confirm.body
        assert confirm.confirm is None, "a conflicting merge offers no button to go on"
        await pilot.press("escape")
        assert (git_repo / "README.md").read_text() == "# my own project\n"
        after = git(git_repo, "status", "--porcelain"), git(git_repo, "branch", "--list")
        assert after == before
        assert "ensemble/perm/dana" in after[1]
        await quit_app(pilot)
