"""Until done: the real OpenCode, the scripted model, real git.

A lead that says it is finished while two tasks are open is told exactly what remains and
the team finishes the work; without until-done the same script ends with the tasks open.
A lead that never makes progress is paused after `no_progress_limit` rounds, and `run`
exits 3 with the reason.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from ensemble_tui.core.team.events import TeamContinued, TeamEvent, TeamPaused, TeamReported
from ensemble_tui.demo.scenarios import tool, write_and_commit
from ensemble_tui.demo.script import script_block
from ensemble_tui.headless import EXIT_NO_PROGRESS, RunFailed, RunStopped, drive_team
from tests.conftest import TEAM, TeamOptions, git, running_team

TASKS = [{"content": "Write a.txt"}, {"content": "Write b.txt"}]


def worker(name: str, task: str, path: str) -> str:
    return script_block(
        tool("ensemble_team_claim", task_id=task),
        *write_and_commit(name, path, f"{name} wrote this\n"),
        tool("ensemble_team_tasks_complete", task_id=task, result=f"{path} written"),
        tool("ensemble_team_message", to="lead", text=f"{name}: {task} done"),
        {"text": f"{task} is done."},
    )


def lead_that_stops_early() -> str:
    """It adds two tasks and says it is finished; told what remains, it does the work."""
    return script_block(
        tool("ensemble_team_create", name=TEAM),
        tool("ensemble_team_tasks_add", tasks=TASKS),
        {"text": "All done!"},
        tool(
            "ensemble_team_spawn", name="alice", prompt="Do t1.\n" + worker("alice", "t1", "a.txt")
        ),
        tool("ensemble_team_spawn", name="bob", prompt="Do t2.\n" + worker("bob", "t2", "b.txt")),
        {"text": "Both are at work."},
        {"await": ["alice: t1 done", "bob: t2 done"], **tool("ensemble_team_cleanup")},
        {"text": "Everything is merged."},
    )


async def test_a_lead_that_stops_early_is_told_what_remains_and_finishes(
    git_repo: Path, team_options: TeamOptions
) -> None:
    events: list[TeamEvent] = []
    async with running_team(team_options(until_done=True)) as coord:
        coord.feed.subscribe(events.append)
        await drive_team(coord, lead_that_stops_early(), 180)

    continued = [e for e in events if isinstance(e, TeamContinued)]
    assert len(continued) == 1
    said = continued[0].text or ""
    assert "- t1 [pending, unclaimed]: Write a.txt" in said
    assert "- t2 [pending, unclaimed]: Write b.txt" in said
    assert "Idle teammates: none." in said
    assert continued[0].remaining == ["t1", "t2"]
    report = events[-1]
    assert isinstance(report, TeamReported)
    assert report.reason == "cleaned up"
    assert report.tasks_open == []
    outcomes = {m["name"]: m["outcome"] for m in report.members}
    assert outcomes == {"lead": "works in your tree", "alice": "merged", "bob": "merged"}
    assert (git_repo / "a.txt").read_text() == "alice wrote this\n"
    assert (git_repo / "b.txt").read_text() == "bob wrote this\n"
    assert git(git_repo, "branch", "--list", f"ensemble/{TEAM}/*") == ""


async def test_without_until_done_the_same_lead_stops_with_the_tasks_open(
    team_options: TeamOptions,
) -> None:
    events: list[TeamEvent] = []
    async with running_team(team_options()) as coord:
        coord.feed.subscribe(events.append)
        with pytest.raises(RunFailed) as failed:
            await drive_team(coord, lead_that_stops_early(), 120)
        tasks = coord.board.list_tasks(coord.require_team().id)

    assert not any(isinstance(e, TeamContinued) for e in events)
    assert not any(e.type == "member.spawned" for e in events)
    assert "2 unfinished tasks (t1 pending, t2 pending)" in str(failed.value)
    assert [task.status.value for task in tasks] == ["pending", "pending"]


async def test_a_lead_that_never_makes_progress_is_paused_and_run_exits_3(
    team_options: TeamOptions,
) -> None:
    lead = script_block(
        tool("ensemble_team_create", name="stuck"),
        tool("ensemble_team_tasks_add", tasks=TASKS[:1]),
        {"text": "Done, I think."},
    )
    events: list[TeamEvent] = []
    async with running_team(team_options(until_done=True, no_progress_limit=2)) as coord:
        coord.feed.subscribe(events.append)
        with pytest.raises(RunStopped) as stopped:
            await drive_team(coord, lead, 120)

    assert stopped.value.exit_code == EXIT_NO_PROGRESS == 3
    assert "2 until-done rounds in a row changed nothing" in str(stopped.value)
    rounds = [e for e in events if isinstance(e, TeamContinued)]
    assert [e.round for e in rounds] == [1, 2]
    assert [e.without_progress for e in rounds] == [0, 1]
    paused = [e for e in events if isinstance(e, TeamPaused)]
    assert [p.cause for p in paused] == ["no_progress"]
    report = events[-1]
    assert isinstance(report, TeamReported)
    assert report.reason.startswith("paused: 2 until-done rounds in a row changed nothing")
    assert report.tasks_open == ["t1 Write a.txt (pending)"]


def run_command(repo: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`ensemble-tui run` as a user runs it (it starts its own OpenCode)."""
    return subprocess.run(
        [sys.executable, "-m", "ensemble_tui", "run", *args],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


async def test_run_until_done_exits_3_with_the_reason_when_nothing_moves(
    git_repo: Path, opencode_bin: str, opencode_env_without_snapshots: dict[str, str]
) -> None:
    lead = script_block(
        tool("ensemble_team_create", name="cli"),
        tool("ensemble_team_tasks_add", tasks=TASKS[:1]),
        {"text": "Done."},
    )
    env = dict(opencode_env_without_snapshots, ENSEMBLE_OPENCODE_BIN=opencode_bin)
    args = ("--until-done", "--set", "no_progress_limit=1", "--json", "--timeout", "200", lead)
    done = await asyncio.to_thread(run_command, git_repo, env, *args)
    assert done.returncode == 3, done.stderr[-2000:]
    last_line = done.stderr.strip().splitlines()[-1]
    assert last_line.startswith("ensemble-tui: the team was paused: 1 until-done rounds")
    kinds = [line.split('"type": "')[1].split('"')[0] for line in done.stdout.splitlines()]
    assert kinds[-2:] == ["run.finished", "team.report"]
    assert "team.paused" in kinds
    assert "team.continued" in kinds
