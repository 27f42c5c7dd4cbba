"""Only `max_starting` teammates start at once: a spawn holds a slot from its new session
until the teammate's first step, so OpenCode's start-ups for new folders do not pile up
(fifty at once stalled one OpenCode process for minutes)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from ensemble_tui.core.team.events import MemberSpawned, TeamEvent
from ensemble_tui.core.team.identity import Caller
from ensemble_tui.core.team.sessions import SessionState
from ensemble_tui.core.team.spawn import SpawnRequest
from ensemble_tui.core.team.starts import SessionListener, StartGate
from ensemble_tui.core.team.team_tools import TeamTools
from ensemble_tui.opencode.events import Event, PartDelta
from tests.conftest import TEAM, TeamOptions, running_team


async def test_with_one_slot_a_teammate_starts_only_after_the_one_before_has(
    team_options: TeamOptions,
) -> None:
    async with running_team(team_options(max_starting=1)) as coord:
        lead = await coord.start_lead()
        caller = Caller("lead", is_lead=True, team_id=None, session_id=lead.session_id)
        tools = TeamTools(coord)
        await tools.team_create(caller, TEAM)
        assert coord.team is not None
        caller = Caller("lead", is_lead=True, team_id=coord.team.id, session_id=lead.session_id)
        # At each spawn done: who else had a session then, and whether it had started.
        seen: list[tuple[str, dict[str, bool]]] = []

        def on_event(event: TeamEvent) -> None:
            if isinstance(event, MemberSpawned) and event.member is not None:
                others = {
                    state.member: state.produced_output or state.idle
                    for state in coord.sessions
                    if state.member not in ("lead", event.member)
                }
                seen.append((event.member, others))

        coord.feed.subscribe(on_event)
        answer = await tools.team_spawn(
            caller,
            "alice",
            "Do alice.",
            "build",
            None,
            True,
            False,
            [SpawnRequest("bob", "Do bob.")],
        )
        assert answer.count("Spawned ") == 2, answer
        (first, before_first), (second, before_second) = seen
        assert before_first == {}, "the second made its session while the first was starting"
        assert before_second == {first: True}, "the second started before the first had"
        assert {first, second} == {"alice", "bob"}


def gate(wait: float = 60.0) -> tuple[StartGate, list[SessionListener]]:
    """A gate of one slot, with the listeners it adds kept in a list (the coordinator's
    role), so a test can hand it a session's events."""
    listeners: list[SessionListener] = []

    def add(listener: SessionListener) -> Callable[[], None]:
        listeners.append(listener)
        return lambda: listeners.remove(listener)

    return StartGate(1, add, wait=wait), listeners


def delta(session_id: str) -> Event:
    return PartDelta.model_validate(
        {
            "type": PartDelta.TYPE,
            "sessionID": session_id,
            "messageID": "msg_1",
            "partID": "prt_1",
            "field": "text",
            "delta": "hi",
        }
    )


async def test_a_failed_start_gives_its_slot_back_at_once() -> None:
    starts, _ = gate()
    try:
        async with starts.slot():
            raise RuntimeError("the session could not be made")
    except RuntimeError:
        pass
    async with asyncio.timeout(1):
        async with starts.slot():
            assert starts.starting == 1


async def test_a_slot_is_held_until_the_session_says_something() -> None:
    starts, listeners = gate()
    state = SessionState("abe", "ses_abe", "/tmp/abe")
    async with starts.slot() as slot:
        state.prompt_sent()
        slot.hold_until_started(state)
    next_start = asyncio.create_task(starts.slot().__aenter__())
    await asyncio.sleep(0.05)
    assert not next_start.done(), "the next start went ahead of the first one's first step"
    event = delta("ses_abe")
    state.apply(event)
    for listener in list(listeners):
        listener(state, event)
    async with asyncio.timeout(1):
        await next_start
    assert listeners == [], "the gate stops listening when no start waits"


async def test_a_start_that_never_says_anything_holds_its_slot_only_so_long() -> None:
    starts, _ = gate(wait=0.1)
    state = SessionState("abe", "ses_abe", "/tmp/abe")
    async with starts.slot() as slot:
        state.prompt_sent()
        slot.hold_until_started(state)
    async with asyncio.timeout(2):
        async with starts.slot():
            assert starts.starting == 1
