"""A whole scripted team through the real OpenCode: the coordinator with no screen."""

from __future__ import annotations

import dataclasses
import io
import json
import os
from pathlib import Path

import pytest

from ensemble_tui.core.models import MemberStatus, TaskStatus
from ensemble_tui.core.store.store import Store
from ensemble_tui.core.team.taskboard import TaskBoard
from ensemble_tui.demo.scenarios import two_teammates
from ensemble_tui.headless import drive_team, feed_printer
from ensemble_tui.options import RunOptions
from tests.conftest import TEAM, TeamOptions, git, running_team


def files_on_branch(repo: Path, branch: str) -> set[str]:
    return set(git(repo, "ls-tree", "-r", "--name-only", branch).split())


@pytest.fixture
def options(team_options: TeamOptions) -> RunOptions:
    return dataclasses.replace(team_options(two_teammates(TEAM)), json_output=True, timeout=240)


async def test_two_teammates_work_in_their_worktrees_and_report(
    options: RunOptions, git_repo: Path
) -> None:
    out = io.StringIO()
    async with running_team(options) as coordinator:
        coordinator.feed.subscribe(feed_printer(out, as_json=True))
        await drive_team(coordinator, options.prompt, options.timeout)
        bob = coordinator.session_of("bob")
        assert bob is not None
        transcript = await coordinator.client.messages(bob.session_id, bob.directory)

    events = [json.loads(line) for line in out.getvalue().splitlines()]
    kinds = [event["type"] for event in events]
    assert kinds[-2:] == ["run.finished", "team.report"]
    assert all("time" in event for event in events)

    def first(kind: str, **fields: str) -> int:
        for index, event in enumerate(events):
            if event["type"] == kind and all(event.get(k) == v for k, v in fields.items()):
                return index
        raise AssertionError(f"no {kind} {fields} in {kinds}")

    # The story happens in order.
    assert first("team.created") < first("task.added", task="t3") < first("member.spawned")
    assert first("task.completed", task="t1") < first("task.claimed", task="t3")
    assert first("task.completed", task="t2") < first("task.claimed", task="t3")
    assert first("message.sent", **{"from": "alice", "to": "bob"}) < first(
        "message.delivered", **{"from": "alice", "to": "bob"}
    )

    # Each teammate's work is on its own branch; the main checkout is untouched.
    assert "alice.txt" in files_on_branch(git_repo, f"ensemble/{TEAM}/alice")
    assert {"bob.txt", "summary.txt"} <= files_on_branch(git_repo, f"ensemble/{TEAM}/bob")
    assert "alice.txt" not in files_on_branch(git_repo, f"ensemble/{TEAM}/bob")
    assert git(git_repo, "status", "--porcelain") == ""
    assert sorted(os.listdir(git_repo)) == [".git", "README.md"]

    # The store, opened afresh, has the whole story.
    with Store(options.store_path or Path()) as store:
        team = store.list_teams()[0]
        tasks = {task.id: task for task in TaskBoard(store).list_tasks(team.id)}
        members = {m.name: m for m in store.list_members(team.id)}
        assert store.count_undelivered(team.id) == 0
    assert {task.status for task in tasks.values()} == {TaskStatus.COMPLETED}
    assert (tasks["t1"].assignee, tasks["t3"].assignee) == ("alice", "bob")
    assert members["alice"].status is MemberStatus.IDLE
    assert members["bob"].output_tokens > 0

    # Bob was refused t3 while it was blocked, and told when it became free.
    texts = json.dumps([m.model_dump(mode="json") for m in transcript])
    assert "blocked" in texts
    assert "Task t3 can now be claimed" in texts
    assert "Hi bob, alice here" in texts
