"""The team events that happen only on a bad day, each made to happen through the real
OpenCode: README's `--json` table promises them, so each is shown to be produced."""

from __future__ import annotations

import asyncio
import shutil

from ensemble_tui.core.team.coordinator import Coordinator
from ensemble_tui.core.team.events import (
    DeliveryFailed,
    MemberLost,
    MemberRateLimited,
    MemberViewed,
    MessageDelivered,
    MessageParked,
    MessageSent,
    MessageUndeliverable,
    TeamResumed,
)
from ensemble_tui.core.team.identity import Caller
from ensemble_tui.core.team.startup import start_or_resume
from ensemble_tui.core.team.team_tools import TeamTools
from ensemble_tui.demo.scenarios import tool
from ensemble_tui.demo.script import script_block
from ensemble_tui.demo.scripted_model import ScriptedModel
from ensemble_tui.headless import drive_team
from ensemble_tui.opencode.models import TextPart
from tests.conftest import TEAM, TeamOptions, running_team


async def _heard_by(coord: Coordinator, name: str) -> list[str]:
    """Every user text that reached *name*'s session."""
    state = coord.session_of(name)
    assert state is not None
    return [
        part.text
        for entry in await coord.client.messages(state.session_id, state.directory)
        if entry.info.role == "user"
        for part in entry.parts
        if isinstance(part, TextPart)
    ]


async def _until_recorded(coord: Coordinator, kind: str, limit: float = 90) -> None:
    seen = asyncio.Event()
    stop = coord.feed.subscribe(lambda event: seen.set() if event.type == kind else None)
    try:
        if kind not in {event.type for event in coord.feed.recent}:
            async with asyncio.timeout(limit):
                await seen.wait()
    finally:
        stop()


def _lead_caller(coord: Coordinator) -> Caller:
    assert coord.team is not None
    assert coord.lead is not None
    return Caller("lead", is_lead=True, team_id=coord.team.id, session_id=coord.lead.session_id)


THANKS = "Thanks, lead!"
ALICE_REPORTS = script_block(
    tool("ensemble_team_message", to="lead", text=THANKS),
    tool("ensemble_team_message", to="lead", text="alice is done: the notes are written"),
    {"text": "Reported."},
)
LEAD_VIEWS = script_block(
    tool("ensemble_team_create", name=TEAM),
    tool("ensemble_team_spawn", name="alice", prompt="Report.\n" + ALICE_REPORTS),
    {"text": "Waiting for alice."},
    {"await": "the notes are written", **tool("ensemble_team_view", member="alice")},
    {"text": "Seen."},
)


async def test_a_bare_thanks_is_parked_and_the_lead_can_show_a_member(
    team_options: TeamOptions,
) -> None:
    async with running_team(team_options(LEAD_VIEWS)) as coord:
        await drive_team(coord, LEAD_VIEWS, 180)
        heard = await _heard_by(coord, "lead")
        recorded = list(coord.feed.recent)

    parked = [e for e in recorded if isinstance(e, MessageParked)]
    assert [(e.sender, e.recipient) for e in parked] == [("alice", "lead")]
    # The lead's own prompt holds the whole script; what reached it later is deliveries.
    delivered = heard[1:]
    assert not any(THANKS in text for text in delivered)
    assert any("the notes are written" in text for text in delivered)
    assert [e.member for e in recorded if isinstance(e, MemberViewed)] == ["alice"]


ALICE_SLOW = script_block(
    tool("ensemble_team_message", to="lead", text="alice is starting on the notes"),
    {"delay": 30, "text": "Too late."},
)
LEAD_STOPS = script_block(
    tool("ensemble_team_create", name=TEAM),
    tool("ensemble_team_spawn", name="alice", prompt="Work slowly.\n" + ALICE_SLOW),
    {"text": "Waiting for alice."},
    {"await": "starting on the notes", **tool("ensemble_team_message", to="alice", text="Also x.")},
    tool("ensemble_team_shutdown", member="alice", force=True),
    {"text": "Stopped alice."},
)


async def test_a_message_waiting_for_a_member_stopped_mid_turn_is_undeliverable(
    team_options: TeamOptions, scripted_model: ScriptedModel
) -> None:
    start = len(scripted_model.requests)
    """Alice is busy when the lead writes to her, so the message waits for her turn to end;
    the lead then stops her at once, and the message is recorded as never delivered (before,
    the abort's turn end delivered it and alice worked on after her shutdown)."""
    async with running_team(team_options(LEAD_STOPS)) as coord:
        await drive_team(coord, LEAD_STOPS, 180)
        recorded = list(coord.feed.recent)

    sent = [e for e in recorded if isinstance(e, MessageSent) and e.recipient == "alice"]
    late = [e for e in recorded if isinstance(e, MessageUndeliverable)]
    assert len(sent) == 1
    assert [(e.recipient, e.message) for e in late] == [("alice", sent[0].message)]
    assert not any(isinstance(e, MessageDelivered) and e.recipient == "alice" for e in recorded)
    # The abort ended alice's turn; nothing started another one after her shutdown.
    slow = [r for r in scripted_model.requests[start:] if r["step"].get("delay")]
    assert len(slow) == 1


LEAD_SPAWNS = script_block(
    tool("ensemble_team_create", name=TEAM),
    tool("ensemble_team_spawn", name="alice", prompt="Wait.\n" + script_block({"text": "ok"})),
    {"text": "Spawned alice."},
)


async def test_a_delivery_opencode_refuses_is_recorded_and_kept_for_later(
    team_options: TeamOptions,
) -> None:
    async with running_team(team_options(LEAD_SPAWNS)) as coord:
        await drive_team(coord, LEAD_SPAWNS, 120)
        alice = coord.session_of("alice")
        assert alice is not None
        assert coord.team is not None
        # The session goes away behind ensemble-tui's back (deleted with `opencode`).
        assert await coord.client.delete_session(alice.session_id, alice.directory)
        answer = await TeamTools(coord).team_message(_lead_caller(coord), "alice", "Still there?")
        waiting = coord.store.list_undelivered(coord.team.id, "alice")
        failed = [e for e in coord.feed.recent if isinstance(e, DeliveryFailed)]

    assert answer.startswith("Message ")
    assert [e.member for e in failed] == ["alice"]
    assert [m.text for m in waiting] == ["Still there?"]


async def test_a_member_whose_worktree_vanished_is_lost_on_resume(
    team_options: TeamOptions,
) -> None:
    options = team_options(LEAD_SPAWNS)
    async with running_team(options) as first:
        await drive_team(first, LEAD_SPAWNS, 120)
        assert first.team is not None
        alice = first.store.get_member(first.team.id, "alice")
        assert alice is not None
        assert alice.worktree_path is not None
    shutil.rmtree(alice.worktree_path)

    async with running_team(options) as again:
        said = await start_or_resume(again)
        assert again.team is not None
        resumed = [e for e in again.feed.recent if isinstance(e, TeamResumed)]
        lost = [e for e in again.feed.recent if isinstance(e, MemberLost)]
        assert again.team is not None
        kept = again.store.get_member(again.team.id, "alice")

    assert said == f"Resumed the unfinished team {TEAM}."
    assert [note.split(":")[0] for note in resumed[-1].notes] == ["alice"]
    assert [e.member for e in lost] == ["alice"]
    assert "worktree" in (lost[0].text or "")
    assert kept is not None
    assert kept.status.value == "error"


LEAD_BUSY_MODEL = script_block(
    tool("ensemble_team_create", name=TEAM),
    tool("ensemble_team_spawn", name="alice", prompt="Hello\n" + script_block({"fail": 503})),
    {"text": "Spawned alice."},
)


async def test_a_busy_provider_is_reported_as_rate_limited(team_options: TeamOptions) -> None:
    """503 is a provider that is busy for now: OpenCode retries, and the feed says when."""
    async with running_team(team_options(LEAD_BUSY_MODEL)) as coord:
        lead = await coord.start_lead()
        await coord.prompt(lead, LEAD_BUSY_MODEL)
        await _until_recorded(coord, "member.rate_limited")
        limited = [e for e in coord.feed.recent if isinstance(e, MemberRateLimited)]
        alice = coord.session_of("alice")
        assert alice is not None
        await coord.client.abort(alice.session_id, alice.directory)

    assert limited[0].member == "alice"
    assert limited[0].next_attempt
