"""A plan-approval teammate cannot write until the lead approves its plan."""

from __future__ import annotations

from pathlib import Path

from ensemble_tui.demo.scenarios import tool
from ensemble_tui.demo.script import script_block
from ensemble_tui.headless import drive_team
from ensemble_tui.opencode.models import ToolCompleted, ToolPart
from tests.conftest import TEAM, TeamOptions, running_team

PLANNER = script_block(
    tool("write", filePath="early.txt", content="too soon\n"),
    tool("ensemble_team_message", to="lead", text="plan: write plan.txt with the design"),
    {"text": "Waiting for approval."},
    {"await": "plan is approved", **tool("write", filePath="plan.txt", content="the design\n")},
    {"text": "Done as planned."},
)
LEAD = script_block(
    tool("ensemble_team_create", name=TEAM),
    tool("ensemble_team_spawn", name="alice", prompt="Plan first.\n" + PLANNER, plan_approval=True),
    {"text": "Waiting for alice's plan."},
    {
        "await": "plan: write plan.txt",
        **tool("ensemble_team_message", to="alice", text="Approved."),
    },
    {"text": "Approved alice."},
)


async def test_write_access_comes_with_the_approval(
    git_repo: Path, team_options: TeamOptions
) -> None:
    async with running_team(team_options(LEAD)) as coord:
        await drive_team(coord, LEAD, 180)
        alice = coord.session_of("alice")
        assert alice is not None
        calls = [
            part
            for entry in await coord.client.messages(alice.session_id, alice.directory)
            for part in entry.parts
            if isinstance(part, ToolPart) and not part.tool.startswith("ensemble_")
        ]
        assert coord.team is not None
        member = coord.store.get_member(coord.team.id, "alice")
        kinds = [event.type for event in coord.feed.recent]

    worktree = git_repo.parent / "worktrees" / TEAM / "alice"
    # Before the approval OpenCode does not even offer the write tool.
    early, later = calls
    assert early.tool == "invalid"
    assert isinstance(early.state, ToolCompleted)
    assert "unavailable tool 'write'" in early.state.output
    assert (later.tool, type(later.state)) == ("write", ToolCompleted)
    assert not (worktree / "early.txt").exists()
    assert (worktree / "plan.txt").read_text() == "the design\n"
    assert member is not None
    assert not member.plan_approval
    assert kinds.index("member.plan_approved") > kinds.index("member.spawned")
