"""Two real teammates claim the same task at the same moment: exactly one wins."""

from __future__ import annotations

from ensemble_tui.core.models import TaskStatus
from ensemble_tui.demo.scenarios import tool
from ensemble_tui.demo.script import script_block
from ensemble_tui.opencode.models import ToolCompleted, ToolPart
from tests.conftest import TEAM, TeamOptions, running_team

RACER = script_block(
    {"await": "GO-RACE", **tool("ensemble_team_claim", task_id="t1")},
    {"text": "claimed or not"},
)
LEAD = script_block(
    tool("ensemble_team_create", name=TEAM),
    tool("ensemble_team_tasks_add", tasks=[{"content": "the only task"}]),
    tool("ensemble_team_spawn", name="alice", prompt="Race.\n" + RACER),
    tool("ensemble_team_spawn", name="bob", prompt="Race.\n" + RACER, worktree=False),
    {"text": "ready"},
)


async def test_exactly_one_of_two_simultaneous_claims_wins(team_options: TeamOptions) -> None:
    async with running_team(team_options(LEAD)) as coord:
        # Not drive_team: the team waits with its task open here, which `run` calls a failure.
        await coord.prompt(await coord.start_lead(), LEAD)
        await coord.wait_until_settled(limit=120)
        racers = [coord.session_of(name) for name in ("alice", "bob")]
        assert all(racers)
        # Both prompts are sent back to back; their claims reach the server together.
        for state in racers:
            assert state is not None
            await coord.prompt(state, "GO-RACE")
        await coord.wait_until_settled(limit=120)

        outcomes = {}
        for state in racers:
            assert state is not None
            for message in await coord.client.messages(state.session_id, state.directory):
                for part in message.parts:
                    if isinstance(part, ToolPart) and part.tool == "ensemble_team_claim":
                        won = isinstance(part.state, ToolCompleted)
                        text = getattr(part.state, "output" if won else "error", "")
                        outcomes[state.member] = (won, text)
        assert coord.team is not None
        (task,) = coord.board.list_tasks(coord.team.id)

    assert sorted(won for won, _ in outcomes.values()) == [False, True]
    winner = next(name for name, (won, _) in outcomes.items() if won)
    loser_text = next(text for won, text in outcomes.values() if not won)
    assert task.status is TaskStatus.IN_PROGRESS
    assert task.assignee == winner
    assert winner in loser_text
