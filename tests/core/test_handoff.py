"""Hand-offs through the real OpenCode: another agent, a fresh session, a summary.

Each teammate asks for its own hand-off with team_handoff in the middle of its turn; the
call returns at once and the hand-off happens when that turn ends."""

from __future__ import annotations

import asyncio
from pathlib import Path

from ensemble_tui.core.errors import Refused
from ensemble_tui.core.models import LEAD_NAME
from ensemble_tui.core.team.control import TeamControl
from ensemble_tui.core.team.events import TeamEvent
from ensemble_tui.core.team.startup import start_or_resume
from ensemble_tui.demo.scenarios import tool
from ensemble_tui.demo.script import script_block
from ensemble_tui.demo.scripted_model import ScriptedModel
from ensemble_tui.headless import drive_team
from ensemble_tui.opencode.models import CompactionPart, TextPart, UserMessage
from tests.conftest import TEAM, Holds, TeamOptions, first_request_playing, running_team


def handing_off(mode: str, then: str, **extra: str) -> str:
    """A teammate that hands itself off in *mode*; the next turn plays the step *then*."""
    follow_up = f"Go on ({mode}).\n" + script_block({"text": then})
    return script_block(
        tool("ensemble_team_handoff", mode=mode, text=follow_up, **extra),
        {"text": f"handing off ({mode})"},
    )


LEAD = script_block(
    tool("ensemble_team_create", name=TEAM),
    tool(
        "ensemble_team_spawn",
        name="alice",
        prompt="Go.\n" + handing_off("message", "as plan", agent="plan"),
    ),
    tool("ensemble_team_spawn", name="bob", prompt="Go.\n" + handing_off("new", "fresh start")),
    tool(
        "ensemble_team_spawn", name="carl", prompt="Go.\n" + handing_off("compact", "after summary")
    ),
    {"text": "spawned"},
)


async def test_the_three_hand_offs_happen_when_the_turn_ends(
    git_repo: Path, tmp_path: Path, team_options: TeamOptions, scripted_model: ScriptedModel
) -> None:
    since = len(scripted_model.requests)
    async with running_team(team_options()) as coord:
        await drive_team(coord, LEAD, 240)
        control = TeamControl(coord)
        assert coord.team is not None
        alice, bob, carl = (
            coord.store.get_member(coord.team.id, n) for n in ("alice", "bob", "carl")
        )
        alice_messages = await control.transcript("alice")
        bob_messages = await control.transcript("bob")
        carl_messages = await control.transcript("carl")
        bob_state = coord.session_of("bob")
        earlier = coord.store.earlier_sessions(coord.team.id, "bob")
        kinds = [event.type for event in coord.feed.recent]
        # The agent sticks: the next prompt runs as plan too.
        await control.send("alice", "And again.")
        await coord.wait_until_settled(limit=60)
        again = await control.transcript("alice")
    assert alice is not None
    assert bob is not None
    assert carl is not None

    # message: the next turn ran as the plan agent, in the same session.
    users = [m.info for m in alice_messages if isinstance(m.info, UserMessage)]
    assert [u.agent for u in users][-1] == "plan"
    assert alice.agent == "plan"
    assert alice_messages[-1].info.model_dump(by_alias=True).get("agent") == "plan"
    later = [m.info for m in again if isinstance(m.info, UserMessage)]
    assert len(later) == len(users) + 1
    assert later[-1].agent == "plan"

    # new: a fresh session in the same worktree started with the note; the old one is kept.
    worktree = git_repo.parent / "worktrees" / TEAM / "bob"
    assert bob_state is not None
    assert bob_state.directory == str(worktree)
    assert bob.session_id == bob_state.session_id
    assert [e.session_id for e in earlier] != [bob.session_id]
    assert len(earlier) == 1
    first_text = "".join(p.text for p in bob_messages[0].parts if isinstance(p, TextPart))
    assert "handed the work over to you" in first_text
    assert "Go on (new)" in first_text
    assert f"You are bob, a teammate in team {TEAM}" in first_text
    assert len(bob_messages) == 2

    # compact: a compaction and its summary come before the follow-up, which carries the
    # team context again.
    compaction_at = next(
        i
        for i, m in enumerate(carl_messages)
        if any(isinstance(p, CompactionPart) for p in m.parts)
    )
    follow_up_at = next(
        i
        for i, m in enumerate(carl_messages)
        if any(isinstance(p, TextPart) and p.text.startswith("[ensemble] Your") for p in m.parts)
    )
    assert compaction_at + 1 < follow_up_at
    assert carl_messages[compaction_at + 1].info.role == "assistant"
    request = first_request_playing(scripted_model, since, text="after summary")
    assert request["last_user"].startswith("[ensemble] Your conversation was summarized")
    assert f"You are carl, a teammate in team {TEAM}" in request["last_user"]

    assert kinds.count("handoff.queued") == kinds.count("handoff.done") == 3
    assert "member.compacted" in kinds


async def test_bad_hand_offs_are_refused_and_change_nothing(team_options: TeamOptions) -> None:
    async with running_team(team_options()) as coord:
        await drive_team(
            coord, script_block(tool("ensemble_team_create", name="bad"), {"text": "ok"}), 60
        )
        control = TeamControl(coord)
        lead_session = coord.session_of(LEAD_NAME)
        refusals = {}
        for what, call in {
            "agent": control.handoff(LEAD_NAME, "message", "go", "no-such-agent"),
            "no agent": control.handoff(LEAD_NAME, "message", "go"),
            "member": control.handoff("nobody", "new", "go"),
            "mode": control.handoff(LEAD_NAME, "sideways", "go"),
        }.items():
            try:
                await call
            except Refused as refusal:
                refusals[what] = str(refusal)
        assert coord.session_of(LEAD_NAME) is lead_session
    assert "no agent 'no-such-agent'" in refusals["agent"]
    assert "plan" in refusals["agent"]
    assert "name it" in refusals["no agent"]
    assert "no member 'nobody'" in refusals["member"]
    assert "Unknown mode 'sideways'" in refusals["mode"]


async def test_after_a_compaction_from_outside_the_next_prompt_says_who_it_is(
    team_options: TeamOptions, scripted_model: ScriptedModel
) -> None:
    """A compaction ensemble-tui did not ask for (OpenCode's own, or /compact in its TUI)
    is learnt from the session.compacted event."""
    lead = script_block(
        tool("ensemble_team_create", name=TEAM),
        tool("ensemble_team_spawn", name="alice", prompt="Go.\n" + script_block({"text": "ready"})),
        {"text": "spawned"},
    )
    since = len(scripted_model.requests)
    async with running_team(team_options()) as coord:
        await drive_team(coord, lead, 120)
        alice = coord.session_of("alice")
        assert alice is not None
        assert alice.model is not None
        compacted: asyncio.Future[TeamEvent] = asyncio.get_running_loop().create_future()

        def note(event: TeamEvent) -> None:
            if event.type == "member.compacted" and not compacted.done():
                compacted.set_result(event)

        stop = coord.feed.subscribe(note)
        await coord.client.summarize(alice.session_id, alice.directory, alice.model)
        # The event, not the summarize call's answer, is how a compaction is learnt.
        async with asyncio.timeout(60):
            event = await compacted
        stop()
        await TeamControl(coord).send("alice", "Carry on.\n" + script_block({"text": "carried on"}))
        await coord.wait_until_settled(limit=60)
    assert event.member == "alice"
    request = first_request_playing(scripted_model, since, text="carried on")
    assert request["last_user"].startswith("[ensemble] Your conversation was summarized")
    assert f"You are alice, a teammate in team {TEAM}" in request["last_user"]
    assert event.member == "alice"


def lead_of_alice(turn_ends: str) -> str:
    """A lead spawning alice, whose turn after its hand-off call is held until the test
    releases *turn_ends* (a scripted-model hold)."""
    alice = script_block(
        tool(
            "ensemble_team_handoff",
            mode="new",
            text="Go on after the restart.\n" + script_block({"text": "fresh after restart"}),
        ),
        {"hold": turn_ends, "text": "handing off (new)"},
    )
    return script_block(
        tool("ensemble_team_create", name=TEAM),
        tool("ensemble_team_spawn", name="alice", prompt="Go.\n" + alice),
        {"text": "spawned"},
    )


async def test_a_hand_off_waiting_for_its_turn_survives_a_restart(
    team_options: TeamOptions, holds: Holds
) -> None:
    """ensemble-tui stops between the queued hand-off and the end of the turn (before, the
    hand-off lived only in memory and was lost); the resumed team still carries it out.
    alice's turn ends only once the team has been resumed."""
    options = team_options()
    turn_ends = holds.new("alice-turn-ends")
    async with running_team(options) as first:
        queued = asyncio.Event()
        first.feed.subscribe(lambda event: queued.set() if event.type == "handoff.queued" else None)
        lead = await first.start_lead()
        await first.prompt(lead, lead_of_alice(turn_ends))
        async with asyncio.timeout(120):
            await queued.wait()
        assert first.team is not None
        before = first.store.get_member(first.team.id, "alice")

    async with running_team(options) as again:
        await start_or_resume(again)
        holds.release(turn_ends)
        await again.wait_until_settled(limit=120)
        assert again.team is not None
        alice = again.store.get_member(again.team.id, "alice")
        transcript = await TeamControl(again).transcript("alice")
        done = [e for e in again.feed.recent if e.type == "handoff.done" and e.member == "alice"]

    assert before is not None
    assert alice is not None
    assert len(done) == 1
    assert alice.session_id != before.session_id
    first_text = "".join(p.text for p in transcript[0].parts if isinstance(p, TextPart))
    assert "Go on after the restart" in first_text
