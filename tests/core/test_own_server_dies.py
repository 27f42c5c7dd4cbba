"""The `opencode serve` that ensemble-tui started is killed mid-team: it is started again on
its port and the team goes on; if it cannot be started again, the run ends at once naming
the server's log."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest

from ensemble_tui.composition import RunOptions, opencode_client, running_coordinator
from ensemble_tui.core.models import MemberStatus, TaskStatus
from ensemble_tui.core.team.control import TeamControl
from ensemble_tui.core.team.spawn import SpawnRequest
from ensemble_tui.demo.scenarios import slow_alice_team, tool
from ensemble_tui.demo.script import script_block
from ensemble_tui.demo.scripted_model import ScriptedModel
from ensemble_tui.opencode.models import TextPart
from ensemble_tui.opencode.server import OpenCodeStartError
from tests.conftest import git
from tests.core.conftest import (
    LostPromptTransport,
    create_team,
    own_server_options,
    serve_pid,
    spawn_through,
    start_and_wait_for_alice,
)

LEAD = slow_alice_team("phoenix")


@pytest.fixture(autouse=True)
def _own_data_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The server's log goes to the data folder: a throwaway one."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))


async def test_a_killed_server_is_started_again_and_the_team_finishes(
    tmp_path: Path,
    git_repo: Path,
    opencode_bin: str,
    opencode_env_without_snapshots: dict[str, str],
) -> None:
    run = own_server_options(tmp_path, git_repo, opencode_bin, opencode_env_without_snapshots, LEAD)
    async with opencode_client(run) as client, running_coordinator(run, client) as coord:
        await start_and_wait_for_alice(coord, LEAD)
        first = serve_pid(client)
        os.kill(first, signal.SIGKILL)
        await coord.wait_until_settled(limit=150)
        second = serve_pid(client)
        assert coord.team is not None
        tasks = coord.board.list_tasks(coord.team.id)
        kinds = [event.type for event in coord.feed.recent]

    assert second != first
    assert "server.restarted" in kinds
    assert {task.status for task in tasks} == {TaskStatus.COMPLETED}
    assert "alice.txt" in git(git_repo, "ls-tree", "-r", "--name-only", "ensemble/phoenix/alice")


async def test_a_first_prompt_lost_with_the_server_is_sent_again_though_stored_idle(
    tmp_path: Path,
    git_repo: Path,
    opencode_bin: str,
    opencode_env_without_snapshots: dict[str, str],
) -> None:
    """OpenCode killed after answering bob's first prompt and before writing it down, and
    the event stream storing bob idle before the restart is noticed (both seen under load,
    in that order, in test_a_killed_server_is_started_again_and_the_team_finishes): bob's
    first prompt is sent again, not only the restart notice."""
    work = "Write bob.txt, bob."
    bob = script_block(
        tool("ensemble_team_message", to="lead", text="bob: bob.txt is written"), {"text": "ok"}
    )
    run = own_server_options(tmp_path, git_repo, opencode_bin, opencode_env_without_snapshots, LEAD)
    async with opencode_client(run) as client, running_coordinator(run, client) as coord:
        team = await create_team(coord, "phoenix")
        losing = LostPromptTransport(work)
        await spawn_through(coord, team, losing, SpawnRequest("bob", f"{work}\n{bob}"))
        assert losing.lost == 1
        # What the event stream stored in the failing run before `server.restarted`.
        coord.store.set_member_status(team.id, "bob", MemberStatus.IDLE, None)
        os.kill(serve_pid(client), signal.SIGKILL)
        await coord.wait_until_settled(limit=150)
        transcript = await TeamControl(coord).transcript("bob")
        heard = [m.text for m in coord.store.list_messages(team.id) if m.sender == "bob"]
        kinds = [event.type for event in coord.feed.recent]

    assert "server.restarted" in kinds
    prompts = [
        "".join(part.text for part in entry.parts if isinstance(part, TextPart))
        for entry in transcript
        if entry.info.role == "user"
    ]
    assert any(work in prompt for prompt in prompts), prompts
    assert heard == ["bob: bob.txt is written"]


# The lead's turn, which the model holds (a minute) while the test kills the server.
THINKING = "Think it over.\n" + script_block({"text": "thought it over", "delay": 60})


async def test_a_server_that_cannot_be_started_again_ends_the_run_at_once_naming_its_log(
    tmp_path: Path,
    git_repo: Path,
    opencode_bin: str,
    opencode_env_without_snapshots: dict[str, str],
    scripted_model: ScriptedModel,
) -> None:
    """The run waits for the lead's turn when its server dies for good: it ends then, not at
    its time limit. (A lead alone at work is the run at its smallest: a teammate each
    would add an instance and a turn to OpenCode's start-up, not to what is tested.)"""
    # The real OpenCode behind a script that the test breaks once the server runs.
    wrapper = tmp_path / "opencode"
    wrapper.write_text(f'#!/bin/sh\nexec "{opencode_bin}" "$@"\n')
    wrapper.chmod(0o755)
    env = opencode_env_without_snapshots
    run = own_server_options(tmp_path, git_repo, str(wrapper), env, THINKING)
    killed: list[float] = []
    with pytest.raises(OpenCodeStartError) as failure:
        await kill_once_broken(run, wrapper, scripted_model, killed)
    said = str(failure.value)
    assert "exited with status -9 and could not be started again" in said
    assert "opencode is broken now" in said
    assert "opencode.log" in said
    assert time.monotonic() - killed[0] < 20, "at once, not at the run's time limit"


async def kill_once_broken(
    run: RunOptions, wrapper: Path, model: ScriptedModel, killed: list[float]
) -> None:
    """Start the lead's turn, break the binary, kill the server while the model thinks and
    wait (for the failure)."""
    async with opencode_client(run) as client, running_coordinator(run, client) as coord:
        since = len(model.requests)
        await coord.prompt(await coord.start_lead(), run.prompt)
        await asyncio.to_thread(wait_until_thinking, model, since)
        broken = "#!/bin/sh\necho 'opencode is broken now' >&2\nexit 3\n"
        await asyncio.to_thread(wrapper.write_text, broken)
        killed.append(time.monotonic())
        os.kill(serve_pid(client), signal.SIGKILL)
        await coord.wait_until_settled(limit=150)


def wait_until_thinking(model: ScriptedModel, since: int) -> None:
    """Wait until the model holds the lead's turn (it notes a request before it answers)."""
    deadline = time.monotonic() + 90
    while not any(request["step"].get("delay") == 60 for request in model.requests[since:]):
        assert time.monotonic() < deadline, "the lead's turn never reached the model"
        time.sleep(0.1)
