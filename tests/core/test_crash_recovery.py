"""`kill -9` of a running `ensemble-tui run`, then `run --resume` in the same repository.

Both runs are real subprocesses that start their own OpenCode (which dies with the
first one); the scripted model lives in the test process and outlives both.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from ensemble_tui.core.store.store import Store
from ensemble_tui.core.team.prompts import delivered_tokens
from ensemble_tui.demo.scenarios import GIT_COMMIT, slow_alice_team, tool
from ensemble_tui.demo.script import script_block
from ensemble_tui.demo.scripted_model import ScriptedModel
from ensemble_tui.opencode.client import OpenCodeClient
from ensemble_tui.opencode.models import TextPart
from ensemble_tui.opencode.server import OpenCodeServer

LEAD = slow_alice_team(
    "crash",
    {"await": ["Message from alice", "Message from bob"], **tool("ensemble_team_cleanup")},
    {"text": "Everything is merged."},
)


def start_run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "ensemble_tui", "run", "--json", "--timeout", "300", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def read_until(run: subprocess.Popen[str], kind: str, member: str) -> list[dict[str, object]]:
    """Feed events up to the first *kind* event by *member*, once both teammates exist.

    A crash during a spawn is undone and the lead told to spawn again; the scripted lead
    cannot improvise that, so the kill waits until both spawns are done.
    """
    assert run.stdout is not None
    seen = []
    spawned: set[object] = set()
    happened = False
    for line in run.stdout:
        event = json.loads(line)
        seen.append(event)
        if event["type"] == "member.spawned":
            spawned.add(event.get("member"))
        if event["type"] == kind and member in (event.get("member"), event.get("from")):
            happened = True
        if happened and spawned >= {"alice", "bob"}:
            return seen
    raise AssertionError(f"the run ended before {member}'s {kind}: {run.wait()} {seen}")


async def deliveries_per_session(env: dict[str, str], repo: Path, store_path: Path) -> Counter[str]:
    """How often each delivery token appears across the members' real transcripts."""
    with Store(store_path) as store:
        (team,) = store.list_teams()
        members = store.list_members(team.id)
        messages = store.list_messages(team.id)
    counts: Counter[str] = Counter()
    log_path = store_path.parent / "check.log"
    binary = env["ENSEMBLE_OPENCODE_BIN"]
    server = OpenCodeServer(repo, log_path=log_path, binary=binary, env=env)
    async with server, OpenCodeClient(server.url, password=server.password) as client:
        for member in members:
            session_id = team.lead_session_id if member.name == "lead" else member.session_id
            assert session_id is not None
            directory = str(member.worktree_path or repo)
            for entry in await client.messages(session_id, directory):
                for part in entry.parts:
                    if entry.info.role == "user" and isinstance(part, TextPart):
                        counts.update(delivered_tokens(part.text))
    assert messages, "the story sends messages"
    for message in messages:
        counts.setdefault(f"m{message.id}", 0)
    return counts


@pytest.mark.parametrize(
    "kill_after",
    [
        # Alice then writes slowly: the crash cuts her turn short mid-step.
        "task.claimed",
        # Her message to bob may or may not have reached bob's session: delivered once either way.
        "message.sent",
    ],
)
def test_a_killed_run_resumes_and_finishes_with_nothing_lost_or_doubled(
    kill_after: str,
    git_repo: Path,
    opencode_bin: str,
    opencode_env_without_snapshots: dict[str, str],
) -> None:
    env = dict(opencode_env_without_snapshots, ENSEMBLE_OPENCODE_BIN=opencode_bin)
    first = start_run([LEAD], git_repo, env)
    before = read_until(first, kill_after, "alice")
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert any(event["type"] == "member.spawned" for event in before)

    second = start_run(["--resume"], git_repo, env)
    out, err = second.communicate(timeout=360)
    assert second.returncode == 0, err[-3000:]
    events = [json.loads(line) for line in out.splitlines()]
    kinds = [event["type"] for event in events]
    assert "team.resumed" in kinds
    assert (
        kinds.index("team.resumed") < kinds.index("team.cleaned_up") < kinds.index("run.finished")
    )

    # Every teammate's file is in the user's working directory, as unstaged changes.
    assert (git_repo / "alice.txt").read_text() == "alice was here\n"
    assert (git_repo / "bob.txt").read_text() == "bob was here\n"
    assert (git_repo / "summary.txt").read_text() == "alice and bob were here\n"
    status = subprocess.run(
        ["git", "status", "--porcelain"], cwd=git_repo, capture_output=True, text=True, check=True
    ).stdout
    assert sorted(status.splitlines()) == ["?? alice.txt", "?? bob.txt", "?? summary.txt"]
    branches = subprocess.run(
        ["git", "branch", "--list", "ensemble/*"], cwd=git_repo, capture_output=True, text=True
    ).stdout
    assert branches.strip() == "", "merged branches are deleted"

    # Every message reached its recipient's session exactly once.
    data = Path(env["XDG_DATA_HOME"]) / "ensemble-tui" / "repos"
    (store_path,) = data.glob("*/state.db")
    counts = asyncio.run(deliveries_per_session(env, git_repo, store_path))
    assert {token: n for token, n in counts.items() if n != 1} == {}
    assert os.path.exists(store_path)


KIM_WRITES = tool("write", filePath="kim.txt", content="kim, in a later turn\n")
KIM = script_block(
    tool("ensemble_team_claim", task_id="t1"),
    tool("ensemble_team_message", to="lead", text="kim: t1 claimed"),
    {"text": "Waiting for the go."},
    # A later turn (the lead's go), cut by the kill while the model thinks.
    {"await": "go ahead, kim", **KIM_WRITES, "delay": 10},
    tool("bash", command=f'{GIT_COMMIT.format(name="kim")} "kim: kim.txt"', description="Commit"),
    tool("ensemble_team_tasks_complete", task_id="t1", result="kim.txt written"),
    tool("ensemble_team_message", to="lead", text="kim: t1 is done"),
    {"text": "done"},
)
KIM_LEAD = "Team of one.\n" + script_block(
    tool("ensemble_team_create", name="later"),
    tool("ensemble_team_tasks_add", tasks=[{"content": "write kim.txt"}]),
    tool("ensemble_team_spawn", name="kim", prompt="Do t1 when I say so.\n" + KIM),
    {"text": "Waiting for kim."},
    {"await": "kim: t1 claimed", **tool("ensemble_team_message", to="kim", text="go ahead, kim")},
    {"text": "Waiting for kim's report."},
    {"await": "kim: t1 is done", **tool("ensemble_team_cleanup")},
    {"text": "All merged."},
)


def test_a_teammate_killed_in_a_later_turn_is_told_to_carry_on_when_the_run_resumes(
    git_repo: Path,
    opencode_bin: str,
    opencode_env_without_snapshots: dict[str, str],
    scripted_model: ScriptedModel,
) -> None:
    """Its status in the store said idle (it was working only in memory since its first
    turn ended), so the resumed run did not tell it its turn was cut: it sat idle with its
    task in progress, and the run ended with "everyone went quiet"."""
    env = dict(opencode_env_without_snapshots, ENSEMBLE_OPENCODE_BIN=opencode_bin)
    first = start_run([KIM_LEAD], git_repo, env)
    try:
        # The model holds its answer for 10 s: the kill lands inside kim's later turn.
        deadline = time.monotonic() + 240
        while not any(
            request["step"].get("args") == KIM_WRITES["args"] for request in scripted_model.requests
        ):
            assert first.poll() is None, f"the run ended first: {first.communicate()}"
            assert time.monotonic() < deadline, "kim's later turn never came"
            time.sleep(0.1)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()

    second = start_run(["--resume"], git_repo, env)
    out, err = second.communicate(timeout=360)
    assert second.returncode == 0, err[-3000:]
    events = [json.loads(line) for line in out.splitlines()]
    told = [event["member"] for event in events if event["type"] == "member.tools_reconnected"]
    assert "kim" in told
    assert (git_repo / "kim.txt").read_text() == "kim, in a later turn\n"
