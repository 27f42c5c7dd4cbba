"""`kill -9` of `run` while a teammate is mid-turn on a server that lives on (`--url`):
the resumed run tells it its team tools are back and to repeat the call that failed.
alice's turn is held by the scripted model (not slowed by a guessed delay) until the test
has seen what it waits for: the kill, then the resumed run telling alice.
A run whose team went quiet with tasks open is no success.

The runs are real subprocesses attached to the run's shared `opencode serve`, which the
kill leaves running, as it would a server the user started.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from subprocess import PIPE
from typing import IO

from ensemble_tui.demo.scenarios import tool
from ensemble_tui.demo.script import script_block
from ensemble_tui.opencode.client import OpenCodeClient
from ensemble_tui.opencode.models import ToolFailed, ToolPart
from ensemble_tui.opencode.server import PASSWORD_VARIABLE, OpenCodeServer
from tests.conftest import TEAM, Holds


def alice_script(killed: str, resumed: str) -> str:
    """alice's turn, held (scripted-model holds, released by the test) while ensemble-tui is
    killed, then again until the resumed run has told it its team tools are back."""
    return script_block(
        tool("ensemble_team_claim", task_id="t1"),
        # Answered once ensemble-tui is killed: this call fails inside OpenCode.
        {**tool("ensemble_team_tasks_complete", task_id="t1", result="alice.txt"), "hold": killed},
        # Still in the same turn while the second run resumes the team.
        {**tool("write", filePath="alice.txt", content="alice\n"), "hold": resumed},
        {
            "await": "reconnected",
            **tool("ensemble_team_tasks_complete", task_id="t1", result="alice.txt"),
        },
        tool("ensemble_team_message", to="lead", text="alice: t1 is done"),
        {"text": "done"},
    )


def lead_script(alice: str) -> str:
    return script_block(
        tool("ensemble_team_create", name=TEAM),
        tool("ensemble_team_tasks_add", tasks=[{"content": "write alice.txt"}]),
        tool("ensemble_team_spawn", name="alice", prompt="Do t1.\n" + alice),
        {"text": "Waiting for alice."},
        {"await": "alice: t1 is done", **tool("ensemble_team_cleanup")},
        {"text": "All merged."},
    )


def start_run(
    args: list[str], cwd: Path, env: dict[str, str], url: str, stderr: IO[str] | int = PIPE
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "ensemble_tui", "run", "--json", "--url", url, *args],
        cwd=cwd,
        env=env,
        stdout=PIPE,
        stderr=stderr,
        text=True,
    )


def read_until(run: subprocess.Popen[str], kind: str, member: str) -> list[dict[str, object]]:
    assert run.stdout is not None
    seen = []
    for line in run.stdout:
        seen.append(json.loads(line))
        if seen[-1]["type"] == kind and seen[-1].get("member") == member:
            return seen
    raise AssertionError(f"the run ended before {member}'s {kind}: {run.wait()} {seen}")


async def wait_for_failed_call(server: OpenCodeServer, session: str, directory: str) -> str:
    """Wait until the session shows its team tool call that failed; return its error."""
    async with OpenCodeClient(server.url, password=server.password) as client:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            for entry in await client.messages(session, directory):
                for part in entry.parts:
                    if (
                        isinstance(part, ToolPart)
                        and part.tool == "ensemble_team_tasks_complete"
                        and isinstance(part.state, ToolFailed)
                    ):
                        return part.state.error
            await asyncio.sleep(0.3)
    raise AssertionError("alice's team tool call did not fail while ensemble-tui was down")


def test_a_teammate_mid_turn_hears_its_tools_are_back_and_the_team_finishes(
    git_repo: Path,
    opencode_server: OpenCodeServer,
    opencode_env: dict[str, str],
    holds: Holds,
    tmp_path: Path,
) -> None:
    # The pooled worktrees and the usual team and teammate names: alice's folder is one
    # OpenCode keeps warm between tests (see `RepoSlot`), not a new one for this test only.
    worktrees = str(git_repo.parent / "worktrees")
    env = dict(
        opencode_env,
        **{PASSWORD_VARIABLE: opencode_server.password, "ENSEMBLE_WORKTREE_ROOT": worktrees},
    )
    killed, resumed = holds.new("killed"), holds.new("resumed")
    lead = lead_script(alice_script(killed, resumed))
    first = start_run(["--timeout", "300", lead], git_repo, env, opencode_server.url)
    before = read_until(first, "task.claimed", "alice")
    first.send_signal(signal.SIGKILL)
    first.wait()
    holds.release(killed)
    (spawned,) = [event for event in before if event["type"] == "member.spawned"]
    session = str(spawned["session"])
    alice_dir = _worktree_of(git_repo, TEAM, "alice")
    error = asyncio.run(wait_for_failed_call(opencode_server, session, alice_dir))
    assert error, "the failed call says why"

    errors = tmp_path / "second.err"
    with errors.open("w") as err:
        second = start_run(
            ["--resume", "--timeout", "300"], git_repo, env, opencode_server.url, stderr=err
        )
        try:
            events = read_until(second, "member.tools_reconnected", "alice")
            # alice's turn is held until now: it is told while the turn still runs.
            assert events[-1]["busy"] is True
            holds.release(resumed)
            assert second.stdout is not None
            events += [json.loads(line) for line in second.stdout]
            second.wait(timeout=360)
        finally:
            if second.poll() is None:
                second.kill()
    assert second.returncode == 0, errors.read_text()[-3000:]
    kinds = [event["type"] for event in events]
    told = [event for event in events if event["type"] == "member.tools_reconnected"]
    assert [event["member"] for event in told] == ["alice"]
    assert kinds.index("team.resumed") < kinds.index("team.cleaned_up")
    # The run ends with run.finished, then the team's report as the last event.
    assert kinds[-2:] == ["run.finished", "team.report"]
    completed = [e for e in events if e["type"] == "task.completed" and e.get("task") == "t1"]
    assert len(completed) == 1
    assert (git_repo / "alice.txt").read_text() == "alice\n"


def _worktree_of(repo: Path, team: str, member: str) -> str:
    """The folder of a teammate's worktree, as git lists it."""
    listing = subprocess.run(
        ["git", "worktree", "list", "--porcelain"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for line in listing.splitlines():
        if line.startswith("worktree ") and line.endswith(f"/{team}/{member}"):
            return line.removeprefix("worktree ")
    raise AssertionError(f"no worktree of {member}: {listing}")


def test_a_run_whose_team_goes_quiet_with_open_tasks_exits_1_saying_why(
    git_repo: Path, opencode_server: OpenCodeServer, opencode_env: dict[str, str]
) -> None:
    lead = script_block(
        tool("ensemble_team_create", name="quiet"),
        tool("ensemble_team_tasks_add", tasks=[{"content": "never done"}]),
        {"text": "I will see to it later."},
    )
    env = dict(opencode_env, **{PASSWORD_VARIABLE: opencode_server.password})
    run = start_run(["--timeout", "120", lead], git_repo, env, opencode_server.url)
    out, err = run.communicate(timeout=180)
    assert run.returncode == 1, err[-3000:]
    last = err.strip().splitlines()[-1]
    assert "team quiet is still active with 1 unfinished task (t1 pending)" in last
    assert "ensemble-tui run --resume" in last
    events = [json.loads(line) for line in out.splitlines()]
    assert events[-1]["type"] == "run.failed"
    assert "run.finished" not in [event["type"] for event in events]
