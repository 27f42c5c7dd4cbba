"""The report at a team's end: the real OpenCode, the scripted model, real git.

Two teammates: dina's branch merges, carl's conflicts with the user's own change and is
kept. The report names each one's tasks, commits, files and +/-, the check results, what
was merged and what was kept and why, and the tokens; `ensemble-tui report` prints it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from ensemble_tui.core.store.state_file import state_file
from ensemble_tui.core.team.control import TeamControl
from ensemble_tui.core.team.events import TeamEvent, TeamReported
from ensemble_tui.demo.scenarios import tool, write_and_commit
from ensemble_tui.demo.script import script_block
from ensemble_tui.headless import drive_team
from tests.conftest import TEAM, TeamOptions, running_team


def worker(name: str, task: str, path: str, content: str) -> str:
    return script_block(
        tool("ensemble_team_claim", task_id=task),
        *write_and_commit(name, path, content),
        tool("ensemble_team_tasks_complete", task_id=task, result=f"{path} written"),
        {"text": f"{task} is done."},
    )


def lead_script() -> str:
    return script_block(
        tool("ensemble_team_create", name=TEAM),
        tool(
            "ensemble_team_tasks_add",
            tasks=[{"content": "Write dina.txt"}, {"content": "Rewrite the README"}],
        ),
        tool(
            "ensemble_team_spawn",
            name="dina",
            prompt="Do t1.\n" + worker("dina", "t1", "dina.txt", "one\ntwo\n"),
        ),
        tool(
            "ensemble_team_spawn",
            name="carl",
            prompt="Do t2.\n" + worker("carl", "t2", "README.md", "# carl's readme\n"),
        ),
        {"text": "Both are at work."},
    )


async def test_the_report_says_what_was_done_checked_merged_kept_and_spent(
    git_repo: Path, team_options: TeamOptions, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    options = dataclasses.replace(
        team_options(check="test -f README.md"), store_path=state_file(git_repo)
    )
    events: list[TeamEvent] = []
    async with running_team(options) as coord:
        coord.feed.subscribe(events.append)
        await drive_team(coord, lead_script(), 120)
        # The user's own uncommitted change conflicts with carl's.
        (git_repo / "README.md").write_text("# the user's own edit\n")
        await TeamControl(coord).cleanup()
        report = coord.report
        members = (
            {m.name: m for m in coord.store.list_members(coord.ended_team.id)}
            if coord.ended_team
            else {}
        )

    assert isinstance(report, TeamReported)
    assert report.team == TEAM
    assert report.reason == "cleaned up"
    rows = {row["name"]: row for row in report.members}
    dina, carl = rows["dina"], rows["carl"]
    assert dina["outcome"] == "merged"
    assert dina["files"] == ["dina.txt"]
    assert (dina["additions"], dina["deletions"], dina["commits"]) == (2, 0, 1)
    assert dina["tasks"] == ["t1 Write dina.txt (completed)"]
    assert dina["check"].startswith("`test -f README.md` passed on ")
    assert carl["outcome"].startswith("kept (")
    assert "README.md" in carl["outcome"]
    assert carl["files"] == ["README.md"]
    assert carl["commits"] >= 1
    assert rows["lead"]["outcome"] == "works in your tree"
    assert report.tokens == sum(
        m.input_tokens + m.output_tokens + m.reasoning_tokens for m in members.values()
    )
    assert report.tokens > 0
    assert report.tasks_open == []
    assert report.seconds > 0
    text = report.text or ""
    assert f"# Team {TEAM}: cleaned up" in text
    assert "2 tasks done, 0 open" in text
    assert "`dina.txt`" in text
    assert "kept (" in text

    # `ensemble-tui report` prints the saved report, as text and as JSON.
    printed = await asyncio.to_thread(report_command, git_repo, tmp_path / "data")
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout.strip() == text
    as_json = await asyncio.to_thread(report_command, git_repo, tmp_path / "data", "--json")
    assert json.loads(as_json.stdout)["members"] == report.members


def report_command(repo: Path, data: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    """`ensemble-tui report` as a user runs it, with the test's data folder."""
    return subprocess.run(
        [sys.executable, "-m", "ensemble_tui", "report", *flags, str(repo)],
        capture_output=True,
        text=True,
        env={"XDG_DATA_HOME": str(data), "PATH": "/usr/bin:/bin"},
        check=False,
    )


def test_report_says_so_when_no_team_has_ended(git_repo: Path, tmp_path: Path) -> None:
    done = report_command(git_repo, tmp_path / "data")
    assert done.returncode == 1
    assert "no team has worked in" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.fixture(autouse=True)
def _no_user_identity(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Work-in-progress commits must not need the user's git identity."""
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "no-gitconfig"))
