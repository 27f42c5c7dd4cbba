"""Checks before merge: the real OpenCode, the scripted model, a real `check` command.

A teammate's branch fails the check: it is told the failing output, the lead's merge is
refused naming the failure, and after its fix the check passes and the merge goes through.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from ensemble_tui.core.store.checks import CheckOutcome
from ensemble_tui.core.team.checks import run_check_command
from ensemble_tui.core.team.coordinator import Coordinator
from ensemble_tui.core.team.events import TeamEvent
from ensemble_tui.demo.scenarios import tool, write_and_commit
from ensemble_tui.demo.script import script_block
from ensemble_tui.headless import drive_team
from tests.conftest import TEAM, TeamOptions, git, running_team

CHECK = 'grep -q fixed app.txt || { echo "app.txt is not fixed yet"; exit 3; }'
FIX_NOW = "fix it now"


def carl_script() -> str:
    """Carl commits a broken app.txt and completes t1; told of the failure, he waits for
    the lead's word, then fixes it and reports."""
    return script_block(
        tool("ensemble_team_claim", task_id="t1"),
        *write_and_commit("carl", "app.txt", "broken\n"),
        tool("ensemble_team_tasks_complete", task_id="t1", result="app.txt written"),
        {"text": "t1 is done."},
        {"await": FIX_NOW, **write_and_commit("carl", "app.txt", "fixed\n")[0]},
        write_and_commit("carl", "app.txt", "fixed\n")[1],
        tool("ensemble_team_message", to="lead", text="carl: app.txt fixed and committed"),
        {"text": "fixed"},
    )


def lead_start() -> str:
    return script_block(
        tool("ensemble_team_create", name=TEAM),
        tool("ensemble_team_tasks_add", tasks=[{"content": "Write app.txt"}]),
        tool("ensemble_team_spawn", name="carl", prompt="Do t1.\n" + carl_script()),
        {"text": "carl is at work."},
    )


def lead_merges() -> str:
    return script_block(
        tool("ensemble_team_merge", member="carl"),
        tool("ensemble_team_message", to="carl", text=f"Your check failed: {FIX_NOW}."),
        {"await": "carl: app.txt fixed", **tool("ensemble_team_shutdown", member="carl")},
        tool("ensemble_team_merge", member="carl"),
        {"text": "carl is merged."},
    )


async def transcript_text(coord: Coordinator, member: str) -> str:
    state = coord.session_of(member)
    assert state is not None
    messages = await coord.client.messages(state.session_id, state.directory)
    return json.dumps([m.model_dump(mode="json") for m in messages])


async def test_a_failing_check_is_told_blocks_the_merge_and_passes_after_the_fix(
    git_repo: Path, team_options: TeamOptions
) -> None:
    events: list[TeamEvent] = []
    async with running_team(team_options(check=CHECK, check_timeout=60)) as coord:
        coord.feed.subscribe(events.append)
        await drive_team(coord, lead_start(), 120)
        team = coord.require_team()
        failed = coord.store.checks.latest_check(team.id, "carl")
        assert failed is not None
        assert failed.outcome is CheckOutcome.FAILED
        assert failed.exit_code == 3
        assert "app.txt is not fixed yet" in failed.output
        told = await transcript_text(coord, "carl")
        assert "Your check failed" in told
        assert "app.txt is not fixed yet" in told

        lead = coord.lead
        assert lead is not None
        await coord.prompt(lead, lead_merges())
        await coord.wait_until_settled(limit=120)
        said_to_lead = await transcript_text(coord, "lead")
        checks = coord.store.checks.list_checks(team.id)

    assert "The merge of carl is refused because the check" in said_to_lead
    assert "failed (exit 3)" in said_to_lead
    assert "app.txt is not fixed yet" in said_to_lead
    kinds = [(event.type, event.member) for event in events]
    assert kinds.index(("check.failed", "carl")) < kinds.index(("merge.blocked", "carl"))
    assert kinds.index(("merge.blocked", "carl")) < kinds.index(("check.passed", "carl"))
    assert kinds.index(("check.passed", "carl")) < kinds.index(("member.merged", "carl"))
    assert [c.outcome for c in checks] == [CheckOutcome.FAILED, CheckOutcome.PASSED]
    assert checks[0].commit_sha != checks[1].commit_sha
    # The fixed file came back as an unstaged change.
    assert (git_repo / "app.txt").read_text() == "fixed\n"
    assert "app.txt" in git(git_repo, "status", "--porcelain")


async def test_a_check_past_its_limit_is_stopped_with_its_children(tmp_path: Path) -> None:
    child = tmp_path / "child-pid"
    command = f"sleep 30 & echo $! > {child}; sleep 30"
    run = await run_check_command(command, tmp_path, 2.0)
    assert run.outcome is CheckOutcome.TIMED_OUT
    assert run.seconds < 5
    assert child.exists(), "the premise: the check started its child before its limit"
    pid = int(child.read_text())
    # Killed with the check, it ends at once (a zombie until reaped); left alone, it would
    # sleep on for half a minute.
    deadline = time.monotonic() + 10
    while _alive(pid):
        assert time.monotonic() < deadline, "the check's background child was killed with it"
        await asyncio.sleep(0.05)


async def test_a_command_that_fails_at_once_keeps_its_last_lines(tmp_path: Path) -> None:
    command = "for i in $(seq 1 100); do echo line $i; done; echo oops >&2; exit 2"
    run = await run_check_command(command, tmp_path, 30)
    assert run.outcome is CheckOutcome.FAILED
    assert run.exit_code == 2
    lines = run.output.splitlines()
    assert lines[-1] == "oops"
    assert lines[0] == "line 62"
    assert len(lines) == 40


def _alive(pid: int) -> bool:
    """Whether process *pid* runs (not ended, nor a zombie waiting to be reaped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.fixture(autouse=True)
def _no_user_identity(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Work-in-progress commits must not need the user's git identity."""
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "no-gitconfig"))
