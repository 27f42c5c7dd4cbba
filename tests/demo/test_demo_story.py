"""The demo's story, headless and fast: the real OpenCode, the scripted model, three teammates."""

from __future__ import annotations

import asyncio
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ensemble_tui.core.models import TaskStatus
from ensemble_tui.core.team.control import TeamControl
from ensemble_tui.core.team.events import TeamEvent
from ensemble_tui.demo.environment import seed_opencode_config
from ensemble_tui.demo.run import DemoPlace, demo_team, make_demo_project, run_demo_headless
from ensemble_tui.demo.scripted_model import PROVIDER_ID
from ensemble_tui.opencode.server import CONFIG_CONTENT_VARIABLE
from tests.conftest import SHORT_LIVED_OPENCODE


@pytest.fixture
def place(
    tmp_path: Path, opencode_plugin_deps: Path | None, monkeypatch: pytest.MonkeyPatch
) -> DemoPlace:
    """The demo's folder under tmp_path, its OpenCode's HOME given the installed plugin
    package (the demo writes its config there and finds the package in place).

    Its OpenCode runs without its runtime's last optimizing compiler, as every OpenCode a
    test starts (see `SHORT_LIVED_OPENCODE`): it does the same, for less CPU."""
    for variable, value in SHORT_LIVED_OPENCODE.items():
        monkeypatch.setenv(variable, value)
    place = make_demo_project(tmp_path / "demo")
    seed_opencode_config(
        {"XDG_CONFIG_HOME": str(place.root / "home" / ".config")}, opencode_plugin_deps
    )
    return place


def test_the_demo_ends_with_every_teammates_work_merged(
    place: DemoPlace, opencode_bin: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ENSEMBLE_OPENCODE_BIN", opencode_bin)
    out = io.StringIO()
    asyncio.run(run_demo_headless(pace=0.0, out=out, place=place))
    said = out.getvalue()

    repo = place.repo
    assert (repo / "textstats" / "sentences.py").exists()
    assert (repo / "textstats" / "readability.py").exists()
    assert "## Sentences and readability" in (repo / "README.md").read_text()
    status = subprocess.run(
        ["git", "status", "--short"], cwd=repo, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert sorted(status) == [
        " M README.md",
        "?? tests/",
        "?? textstats/readability.py",
        "?? textstats/sentences.py",
    ]
    branches = subprocess.run(
        ["git", "branch", "--list", "ensemble/*"], cwd=repo, capture_output=True, text=True
    ).stdout
    assert branches == ""
    # The code the team wrote works: its own tests pass on the merged tree (run by a plain
    # pytest: loading this project's pytest plugins took a second of CPU).
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=repo,
        env={**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},
        capture_output=True,
        text=True,
    )
    assert tests.returncode == 0, tests.stdout
    assert "permission.asked" in said
    assert "(the viewer allows cy asks to use external_directory" in said
    assert "permission.answered" in said
    assert said.index("team.cleaned_up") < said.index("run.finished")
    assert f"The team's work is in {repo}" in said


def test_the_story_finishes_when_the_viewer_approves_late(
    place: DemoPlace, opencode_bin: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A person may approve cy's permission only after t1 and t2 are done: cy's first
    claim of t3 then succeeds and it must not wait for a notice that never comes.

    The demo's OpenCode runs with its snapshots off here (they are the subject of neither
    this test nor the demo's code; the test above plays the demo as a user gets it).

    The demo's OpenCode connects the scripted model alone: it is given no catalogue of
    other providers and models (reading it cost OpenCode 1.3 s of CPU per worktree)."""
    monkeypatch.setenv("ENSEMBLE_OPENCODE_BIN", opencode_bin)
    monkeypatch.setenv(CONFIG_CONTENT_VARIABLE, json.dumps({"snapshot": False}))

    async def play() -> tuple[list[str], TaskStatus, list[str]]:
        async with demo_team(place, pace=0.0) as (options, coord):
            control = TeamControl(coord)
            asked, t2_done = asyncio.Event(), asyncio.Event()

            def watch(event: TeamEvent) -> None:
                if event.type == "permission.asked":
                    asked.set()
                if event.type == "task.completed" and event.task == "t2":
                    t2_done.set()

            coord.feed.subscribe(watch)
            lead = await coord.start_lead()
            await coord.prompt(lead, options.prompt)
            async with asyncio.timeout(120):
                await asked.wait()
                await t2_done.wait()
            (request,) = control.pending()
            await control.answer_permission(request, "once")
            await coord.wait_until_settled(limit=180)
            (team,) = coord.store.list_teams()
            t3 = coord.board.get_task(team.id, "t3")
            assert t3 is not None
            catalogue = await coord.client.provider_catalogue(str(place.repo))
            return [e.type for e in coord.feed.recent], t3.status, catalogue.connected

    kinds, t3_status, connected = asyncio.run(play())
    assert t3_status is TaskStatus.COMPLETED
    assert "team.cleaned_up" in kinds
    assert connected == [PROVIDER_ID]
