"""Helpers shared by the screen's tests that run the real app against the real OpenCode."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.worker import WorkerCancelled

from ensemble_tui.core.team.coordinator import Coordinator
from ensemble_tui.core.team.events import TeamEvent
from ensemble_tui.core.team.settings import CoordinatorSettings
from ensemble_tui.demo.scenarios import tool, write_and_commit
from ensemble_tui.demo.script import script_block
from ensemble_tui.opencode.server import OpenCodeServer
from ensemble_tui.options import RunOptions
from ensemble_tui.tui.app import EnsembleApp
from ensemble_tui.tui.widgets.session import PromptBox
from ensemble_tui.tui.widgets.teammates import TeammateList
from tests.conftest import TEAM

SIZE = (100, 30)
LIMIT = 120


@pytest.fixture
def options(tmp_path: Path, git_repo: Path, opencode_server: OpenCodeServer) -> RunOptions:
    return RunOptions(
        repo_root=git_repo,
        prompt="",
        url=opencode_server.url,
        password=opencode_server.password,
        store_path=tmp_path / "state.db",
        settings=CoordinatorSettings(worktree_root=git_repo.parent / "worktrees"),
    )


async def feed_event(coordinator: Coordinator, wanted: Callable[[TeamEvent], bool]) -> TeamEvent:
    """The first feed event (already seen, or to come) that *wanted* accepts."""
    found: asyncio.Future[TeamEvent] = asyncio.get_running_loop().create_future()

    def check(event: TeamEvent) -> None:
        if wanted(event) and not found.done():
            found.set_result(event)

    stop = coordinator.feed.subscribe(check, replay=True)
    try:
        async with asyncio.timeout(LIMIT):
            return await found
    finally:
        stop()


def happened(kind: str, member: str | None = None) -> Callable[[TeamEvent], bool]:
    return lambda event: event.type == kind and (member is None or event.member == member)


async def settle(pilot: Pilot[Any]) -> None:
    """Post what the bridge holds, then let the app and its workers handle it."""
    app = pilot.app
    assert isinstance(app, EnsembleApp)
    for _ in range(3):
        if app.bridge is not None:
            app.bridge.flush()
        # The team's own worker runs until the app quits: wait for the others.
        others = [worker for worker in app.workers if worker.group != "team"]
        if others:
            with contextlib.suppress(WorkerCancelled):
                await app.workers.wait_for_complete(others)
        await pilot.pause()


async def start(pilot: Pilot[Any]) -> Coordinator:
    app = pilot.app
    assert isinstance(app, EnsembleApp)
    async with asyncio.timeout(LIMIT):
        await app.ready.wait()
    await settle(pilot)
    assert app.bridge is not None
    return app.bridge.coordinator


async def send_from_prompt(pilot: Pilot[Any], text: str) -> None:
    """Put *text* in the prompt box (as a paste would) and press enter."""
    prompt = pilot.app.query_one(PromptBox)
    prompt.focus()
    prompt.insert(text)
    await pilot.press("enter")


async def quit_app(pilot: Pilot[Any]) -> None:
    await pilot.press("ctrl+q")
    await pilot.pause()


def members_listed(app: EnsembleApp) -> list[str]:
    return list(app.query_one(TeammateList).rows_shown)


def carl_writes_app(content: str, result: str) -> str:
    """The lead's script: team TEAM, task t1, and carl, who claims it, commits
    *content* as app.txt and completes it with *result*."""
    carl = script_block(
        tool("ensemble_team_claim", task_id="t1"),
        *write_and_commit("carl", "app.txt", content),
        tool("ensemble_team_tasks_complete", task_id="t1", result=result),
        {"text": "t1 is done."},
    )
    return script_block(
        tool("ensemble_team_create", name=TEAM),
        tool("ensemble_team_tasks_add", tasks=[{"content": "Write app.txt"}]),
        tool("ensemble_team_spawn", name="carl", prompt="Do t1.\n" + carl),
        {"text": "spawned"},
    )
