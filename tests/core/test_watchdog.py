"""The watchdog with thresholds of seconds, against real quiet teammates."""

from __future__ import annotations

import asyncio
from pathlib import Path

from ensemble_tui.core.models import MemberStatus, TaskStatus
from ensemble_tui.core.team.events import TeamEvent
from ensemble_tui.core.team.sessions import SessionState
from ensemble_tui.demo.scenarios import tool
from ensemble_tui.demo.script import script_block
from ensemble_tui.opencode.events import Event, PartUpdated
from ensemble_tui.opencode.models import StepFinishPart
from tests.conftest import TEAM, TeamOptions, git, running_team

QUIET = script_block(
    tool("ensemble_team_claim", task_id="t1"),
    tool("write", filePath="partial.txt", content="half done\n"),
    # The model then thinks for a minute without a word: the watchdog steps in.
    {**tool("write", filePath="never.txt", content="x\n"), "delay": 60},
    {"text": "never reached"},
)
LEAD = script_block(
    tool("ensemble_team_create", name=TEAM),
    tool("ensemble_team_tasks_add", tasks=[{"content": "something long"}]),
    tool("ensemble_team_spawn", name="bob", prompt="Work.\n" + QUIET),
    {"text": "spawned"},
)


async def test_a_quiet_teammate_is_marked_stalled_then_timed_out_with_its_work_kept(
    git_repo: Path, team_options: TeamOptions
) -> None:
    async with running_team(team_options(LEAD)) as coord:
        timed_out = asyncio.Event()
        kinds: list[TeamEvent] = []

        def watch(event: TeamEvent) -> None:
            kinds.append(event)
            if event.type == "member.timed_out":
                timed_out.set()

        finished_steps: set[str] = set()

        def silent_step_begins(state: SessionState, event: Event) -> None:
            # Thresholds of seconds once bob starts its long silent step: its start-up
            # and the gaps between its quick steps (slow on a busy machine) are not
            # what this test watches. The silence begins after the last output of the
            # write's step, its step-finish (the shared server has OpenCode's snapshots
            # off, so no patch part follows it; with them on, one arriving a second late
            # ended the first stall and made a second, legitimate one).
            if state.member != "bob" or not isinstance(event, PartUpdated):
                return
            if isinstance(event.part, StepFinishPart):
                finished_steps.add(event.part.id)
            if len(finished_steps) == 2:  # the claim's step, then the write's
                coord.settings.stall_threshold = 1.0
                coord.settings.timeout = 4.0

        coord.add_session_listener(silent_step_begins)
        coord.feed.subscribe(watch)
        lead = await coord.start_lead()
        await coord.prompt(lead, LEAD)
        async with asyncio.timeout(90):
            await timed_out.wait()
        assert coord.team is not None
        bob = coord.store.get_member(coord.team.id, "bob")
        (task,) = coord.board.list_tasks(coord.team.id)
        lead_heard = [n.text for n in coord.store.undelivered_notices(coord.team.id, "lead")]
        await coord.wait_until_settled(limit=60)
        transcript = await coord.client.messages(lead.session_id, lead.directory)

    types = [event.type for event in kinds]
    assert types.index("member.stalled") < types.index("member.timed_out")
    assert types.count("member.stalled") == 1, "one nudge only"
    assert bob is not None
    assert bob.status is MemberStatus.TIMED_OUT
    assert task.status is TaskStatus.PENDING
    assert task.assignee is None
    shown = git(git_repo, "show", f"ensemble/{TEAM}/bob:partial.txt")
    assert shown == "half done\n"
    told = " ".join(str(p.model_dump()) for m in transcript for p in m.parts) + " ".join(lead_heard)
    assert "bob looks stalled" in told
    assert "bob timed out" in told


async def test_a_model_that_fails_to_start_is_reported(team_options: TeamOptions) -> None:
    # The model exists (a spawn naming one that does not is refused) but rejects the request.
    lead_script = script_block(
        tool("ensemble_team_create", name=TEAM),
        tool("ensemble_team_spawn", name="alice", prompt="Hello\n" + script_block({"fail": 400})),
        {"text": "spawned"},
    )
    async with running_team(team_options(lead_script)) as coord:
        lead = await coord.start_lead()
        await coord.prompt(lead, lead_script)
        await coord.wait_until_settled(limit=90)
        errors = [e.text or "" for e in coord.feed.recent if e.type == "member.error"]
        assert coord.team is not None
        alice = coord.store.get_member(coord.team.id, "alice")
    assert any("the model failed to start" in text for text in errors), errors
    assert alice is not None
    assert alice.status is MemberStatus.ERROR


async def test_messages_to_a_timed_out_member_are_refused_and_the_team_still_settles(
    team_options: TeamOptions,
) -> None:
    """A timed-out member is ended: a direct message is refused (the sender is told why), a
    broadcast leaves it out, and nothing waits for delivery to it, so `run` can finish."""
    lead_script = script_block(
        tool("ensemble_team_create", name=TEAM),
        tool("ensemble_team_spawn", name="alice", prompt="Wait.\n" + script_block({"text": "ok"})),
        tool(
            "ensemble_team_spawn",
            name="bob",
            prompt="Think.\n" + script_block({"text": "never", "delay": 60}),
        ),
        {"text": "spawned"},
        {**tool("ensemble_team_message", to="bob", text="still there?"), "await": "bob timed out"},
        tool("ensemble_team_broadcast", text="bob is gone; carry on"),
        {"text": "done"},
    )
    async with running_team(team_options(lead_script)) as coord:

        def short_timeout_once_alice_is_idle(event: TeamEvent) -> None:
            # Not before: a slow start of alice on a busy machine must not time it out too.
            if event.type == "member.idle" and event.member == "alice":
                coord.settings.timeout = 2.0

        coord.feed.subscribe(short_timeout_once_alice_is_idle)
        lead = await coord.start_lead()
        await coord.prompt(lead, lead_script)
        await coord.wait_until_settled(limit=120)
        assert coord.team is not None
        bob = coord.store.get_member(coord.team.id, "bob")
        undelivered = coord.store.count_undelivered(coord.team.id)
        story = "\n".join(e.to_line() for e in coord.feed.recent)
        broadcasts = [e for e in coord.feed.recent if e.type == "message.sent" and not e.recipient]
        assert len(broadcasts) == 1, story
        broadcast = broadcasts[0]
        delivered = {
            e.recipient
            for e in coord.feed.recent
            if e.type == "message.delivered"
            and e.detail.get("message") == broadcast.detail["message"]
        }
        transcript = await coord.client.messages(lead.session_id, lead.directory)

    assert bob is not None
    assert bob.status is MemberStatus.TIMED_OUT
    assert undelivered == 0
    assert delivered == {"alice"}
    told = " ".join(str(p.model_dump()) for m in transcript for p in m.parts)
    assert "bob has ended (timed-out)" in told
