"""Budgets: the real OpenCode, the scripted model (whose every step counts tokens), real git.

A team token budget crossed mid-team pauses it: no further prompt (the lead's delayed
spawn never happens), the report names the budget, and `run` exits 4. A teammate's own
budget stops that teammate alone, with its work committed and the lead told.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from ensemble_tui.core.team.coordinator import Coordinator
from ensemble_tui.core.team.events import (
    BudgetReached,
    BudgetWarning,
    MessageUndeliverable,
    TeamEvent,
    TeamPaused,
    TeamReported,
)
from ensemble_tui.demo.scenarios import tool
from ensemble_tui.demo.script import script_block
from ensemble_tui.headless import EXIT_BUDGET, RunStopped, drive_team
from tests.conftest import TEAM, TeamOptions, git, running_team


async def test_a_team_token_budget_pauses_the_team_and_run_exits_4(
    team_options: TeamOptions,
) -> None:
    lead = script_block(
        tool("ensemble_team_create", name="costly"),
        tool("ensemble_team_status"),
        {"delay": 5, **tool("ensemble_team_spawn", name="alice", prompt="Never runs.")},
        {"text": "never said"},
    )
    events: list[TeamEvent] = []
    async with running_team(team_options(budget_tokens=1)) as coord:
        coord.feed.subscribe(events.append)
        with pytest.raises(RunStopped) as stopped:
            await drive_team(coord, lead, 120)

    assert stopped.value.exit_code == EXIT_BUDGET == 4
    assert "token budget is used up" in str(stopped.value)
    reached = [e for e in events if isinstance(e, BudgetReached)]
    assert [(e.budget, e.member) for e in reached] == [("tokens", None)]
    assert [e.cause for e in events if isinstance(e, TeamPaused)] == ["budget"]
    assert not any(e.type == "member.spawned" for e in events), "no prompt after the budget"
    report = events[-1]
    assert isinstance(report, TeamReported)
    assert report.reason.startswith("paused: ")
    assert "token budget is used up" in report.reason
    assert report.tokens >= 1


async def test_a_teammate_over_its_budget_is_stopped_with_its_work_committed(
    git_repo: Path, team_options: TeamOptions, tmp_path: Path
) -> None:
    alice = script_block(
        tool("write", filePath="notes.md", content="first notes\n"),
        {"delay": 5, **tool("write", filePath="second.txt", content="too late\n")},
        {"text": "never said"},
    )
    lead = script_block(
        tool("ensemble_team_create", name=TEAM),
        tool("ensemble_team_spawn", name="alice", prompt="Write.\n" + alice),
        {"text": "alice is at work."},
        {
            "await": "alice reached its token budget",
            **tool("ensemble_team_message", to="alice", text="keep going please"),
        },
        {"text": "Understood."},
    )
    events: list[TeamEvent] = []
    notes = git_repo.parent / "worktrees" / TEAM / "alice" / "notes.md"
    async with running_team(team_options()) as coord:
        coord.feed.subscribe(events.append)
        lead_state = await coord.start_lead()
        await coord.prompt(lead_state, lead)
        # Once alice's first write is on disk (its next step waits 5 s), alice's budget is
        # set below what it used: the watcher stops it within a quarter of a second. (Set
        # from the start, it could stop alice between its first step and that step's tool.)
        await wait_for_file(coord, notes)
        coord.settings.member_budget_tokens = 1
        await coord.wait_until_settled(limit=120)

    reached = [e for e in events if isinstance(e, BudgetReached)]
    assert [(e.budget, e.member) for e in reached] == [("member_tokens", "alice")]
    assert not any(isinstance(e, TeamPaused) for e in events), "only alice is stopped"
    assert git(git_repo, "show", f"ensemble/{TEAM}/alice:notes.md") == "first notes\n"
    files = git(git_repo, "ls-tree", "-r", "--name-only", f"ensemble/{TEAM}/alice").split()
    assert "second.txt" not in files
    dropped = [e for e in events if isinstance(e, MessageUndeliverable)]
    assert [e.recipient for e in dropped] == ["alice"]
    assert "alice gets no more prompts" in (dropped[0].text or "")


async def test_80_percent_of_a_budget_warns_the_lead_and_the_human_once(
    team_options: TeamOptions,
) -> None:
    lead = script_block(tool("ensemble_team_create", name="warned"), {"text": "ready"})
    events: list[TeamEvent] = []
    async with running_team(team_options()) as coord:
        coord.feed.subscribe(events.append)
        await drive_team(coord, lead, 120)
        team = coord.require_team()
        used = sum(
            m.input_tokens + m.output_tokens + m.reasoning_tokens
            for m in coord.store.list_members(team.id)
        )
        assert used > 0
        # A budget the team has used 85% of, set now (the watcher sees it at its next look);
        # once it warned, the budget is raised out of reach, since the warning itself wakes
        # the lead, whose turn spends more.
        coord.settings.budget_tokens = round(used / 0.85)

        def raise_budget(event: TeamEvent) -> None:
            if isinstance(event, BudgetWarning):
                coord.settings.budget_tokens = 10**9

        coord.feed.subscribe(raise_budget)
        await feed_event(coord, lambda event: isinstance(event, BudgetWarning))
        await coord.wait_until_settled(limit=60)
        # Looks after the warning do not warn again.
        await asyncio.sleep(1.0)
        lead_state = coord.lead
        assert lead_state is not None
        said = await coord.client.messages(lead_state.session_id, lead_state.directory)
        told = json.dumps([m.model_dump(mode="json") for m in said])

    warnings = [e for e in events if isinstance(e, BudgetWarning)]
    assert [(w.budget, w.used) for w in warnings] == [("tokens", used)]
    assert not any(isinstance(e, BudgetReached) for e in events)
    assert coord.paused is None
    assert told.count("Budget warning: ") == 1
    assert f"Budget warning: {used:,} of the team's" in told


async def wait_for_file(coord: Coordinator, path: Path) -> None:
    """Wait until a teammate's write shows on disk (it follows the tool part's completion)."""
    done = asyncio.Event()
    remove = coord.add_session_listener(lambda state, event: done.set() if path.exists() else None)
    try:
        async with asyncio.timeout(120):
            await done.wait()
    finally:
        remove()


async def feed_event(coord: Coordinator, wanted: Callable[[TeamEvent], bool]) -> TeamEvent:
    """The first feed event (already seen, or to come) that *wanted* accepts."""
    found: asyncio.Future[TeamEvent] = asyncio.get_running_loop().create_future()

    def check(event: TeamEvent) -> None:
        if wanted(event) and not found.done():
            found.set_result(event)

    stop = coord.feed.subscribe(check, replay=True)
    try:
        async with asyncio.timeout(60):
            return await found
    finally:
        stop()


@pytest.fixture(autouse=True)
def _no_user_identity(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Work-in-progress commits must not need the user's git identity."""
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "no-gitconfig"))
