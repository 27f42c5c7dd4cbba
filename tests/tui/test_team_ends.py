"""How a team's end looks on the screen (issue 12, items 3, 5 and 10): a merge says what came
back in one toast and swallows no key; `C` racing the lead's own `team_cleanup` leaves the
lead a plain answer, never an internal error; the ended team stays shown with its totals.
Against the real `opencode serve` and the scripted model."""

from __future__ import annotations

import asyncio

from textual.widgets import Static

from ensemble_tui.composition import RunOptions
from ensemble_tui.core.team.coordinator import Coordinator
from ensemble_tui.core.team.sessions import SessionState
from ensemble_tui.demo.scenarios import tool, write_and_commit
from ensemble_tui.demo.script import script_block
from ensemble_tui.opencode.events import Event, PartUpdated
from ensemble_tui.opencode.models import ToolCompleted, ToolFailed, ToolPart, ToolPending, ToolState
from ensemble_tui.tui.app import make_app
from ensemble_tui.tui.screens.confirm import ConfirmScreen
from ensemble_tui.tui.widgets.session import PromptBox
from ensemble_tui.tui.widgets.statusbar import StatusBar
from ensemble_tui.tui.widgets.teammates import TeammateList
from tests.conftest import TEAM, Holds
from tests.tui.conftest import (
    LIMIT,
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


def answer(state: ToolState) -> str | None:
    """What a finished tool call answered: its output, or its error (None if unfinished)."""
    if isinstance(state, ToolCompleted):
        return state.output
    if isinstance(state, ToolFailed):
        return state.error
    return None


def tool_running(coordinator: Coordinator, tool_name: str) -> asyncio.Future[None]:
    """A future done once a call of *tool_name* runs in any session: OpenCode has called
    the tool (it marks the call running as it sends it to ensemble-tui)."""
    found: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def listen(_state: SessionState, event: Event) -> None:
        if (
            isinstance(event, PartUpdated)
            and isinstance(event.part, ToolPart)
            and event.part.tool == tool_name
            and not isinstance(event.part.state, ToolPending)
            and not found.done()
        ):
            found.set_result(None)

    coordinator.add_session_listener(listen)
    return found


def tool_output(coordinator: Coordinator, tool_name: str) -> asyncio.Future[str]:
    """A future for what the next finished call of *tool_name* in any session answered
    (a refusal is an error result)."""
    found: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    def listen(_state: SessionState, event: Event) -> None:
        if (
            isinstance(event, PartUpdated)
            and isinstance(event.part, ToolPart)
            and event.part.tool == tool_name
            and answer(event.part.state) is not None
            and not found.done()
        ):
            found.set_result(answer(event.part.state) or "")

    coordinator.add_session_listener(listen)
    return found


async def test_merge_toast_then_cleanup_racing_the_lead_then_the_ended_team_stays(
    options: RunOptions, holds: Holds
) -> None:
    alice = script_block(
        *write_and_commit("alice", "alice.txt", "from alice\n"),
        {"text": "alice: done"},
    )
    # bob thinks (its only answer is held) until the lead's own team_cleanup has been
    # called, so the human's clean-up is still waiting for bob when the lead's arrives.
    bob_thinks = holds.new("bob-thinks")
    bob = script_block({"text": "bob: thought it over", "hold": bob_thinks})
    lead_script = script_block(
        tool("ensemble_team_create", name=TEAM),
        tool("ensemble_team_spawn", name="alice", prompt="Write it.\n" + alice),
        tool("ensemble_team_spawn", name="bob", prompt="Think.\n" + bob),
        {"text": "spawned"},
    )
    app = make_app(options)
    async with app.run_test(size=SIZE) as pilot:
        coordinator = await start(pilot)
        await send_from_prompt(pilot, lead_script)
        await feed_event(coordinator, happened("member.idle", "alice"))
        await feed_event(coordinator, happened("member.spawned", "bob"))
        await settle(pilot)

        # A merge: one toast naming what came back, no dialog to swallow the next key.
        app.query_one(TeammateList).focus()
        await pilot.press("j")
        assert app.selected == "alice"
        await pilot.press("m")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await feed_event(coordinator, happened("member.merged", "alice"))
        await settle(pilot)
        assert not isinstance(app.screen, ConfirmScreen), "the toast is enough"
        told = [str(notice.message) for notice in app._notifications]
        assert any("alice is merged" in text and "alice.txt" in text for text in told), told
        await pilot.press("j")
        assert app.selected == "bob", "the key after the merge reached the team list"

        # `C` while bob still thinks; the lead calls team_cleanup meanwhile.
        await pilot.press("C")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await feed_event(coordinator, happened("member.shutdown_requested", "bob"))
        lead_cleans_up = script_block(tool("ensemble_team_cleanup"), {"text": "all done"})
        answered = tool_output(coordinator, "ensemble_team_cleanup")
        called = tool_running(coordinator, "ensemble_team_cleanup")
        await send_from_prompt(pilot, "Clean up.\n" + lead_cleans_up)
        async with asyncio.timeout(LIMIT):
            await called
        holds.release(bob_thinks)
        await feed_event(coordinator, happened("team.cleaned_up"))
        async with asyncio.timeout(LIMIT):
            cleanup_said = await answered
        assert f"Team {TEAM} was already cleaned up" in cleanup_said
        lead = coordinator.lead
        assert lead is not None
        said = await coordinator.client.messages(lead.session_id, lead.directory)
        outputs = [
            answer(part.state) or ""
            for message in said
            for part in message.parts
            if isinstance(part, ToolPart)
        ]
        assert not any("internal error" in output for output in outputs), outputs
        await settle(pilot)
        if isinstance(app.screen, ConfirmScreen):
            assert f"Team {TEAM} is cleaned up" in app.screen.body
            await pilot.press("escape")

        # The ended team stays shown, read-only, with its totals.
        assert members_listed(app) == ["lead", "alice", "bob"]
        figures = str(app.query_one(StatusBar).query_one(".status-figures", Static).render())
        assert f"team {TEAM} ended" in figures, figures
        assert "no team yet" not in figures
        snapshot = app.snapshot
        assert snapshot is not None
        assert snapshot.totals.tokens > 0
        app.query_one(TeammateList).focus()
        await pilot.press("j", "j", "enter")
        await settle(pilot)
        assert app.shown == "bob"
        placeholder = str(app.query_one(PromptBox).placeholder)
        assert "bob has ended" in placeholder
        assert "Message bob" not in placeholder
        await quit_app(pilot)
