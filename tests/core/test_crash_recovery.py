"""`kill -9` of a running `ensemble-tui run`, then `run --resume` in the same repository.

Both runs are real subprocesses that start their own OpenCode (which dies with the
first one); the scripted model lives in the test process and outlives both.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
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
from tests.conftest import Holds

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


def deliveries_per_session(env: dict[str, str], store_path: Path) -> Counter[str]:
    """How often each delivery token appears across the members' real transcripts.

    They are read from OpenCode's own database once the resumed run (and its OpenCode) has
    ended: the pinned OpenCode (1.18.33) keeps each message of a session in its `message`
    table and each part in `part`, as JSON, and answers `/session/{id}/message` from them
    (the same counts, compared on a real run). Starting a third OpenCode only to ask it
    took 2.4 s of CPU and 4 s per case.
    """
    with Store(store_path) as store:
        (team,) = store.list_teams()
        members = store.list_members(team.id)
        messages = store.list_messages(team.id)
    database = Path(env["XDG_DATA_HOME"]) / "opencode" / "opencode.db"
    assert database.is_file(), f"OpenCode keeps its sessions elsewhere than {database}"
    counts: Counter[str] = Counter()
    with contextlib.closing(sqlite3.connect(database)) as db:
        for member in members:
            session_id = team.lead_session_id if member.name == "lead" else member.session_id
            assert session_id is not None
            rows = db.execute(
                "SELECT message.data, part.data FROM part"
                " JOIN message ON part.message_id = message.id WHERE message.session_id = ?",
                (session_id,),
            ).fetchall()
            texts = [
                part["text"]
                for message, part in ((json.loads(m), json.loads(p)) for m, p in rows)
                if message["role"] == "user" and part["type"] == "text"
            ]
            assert texts, f"{member.name}'s session has no prompt in OpenCode's database"
            for text in texts:
                counts.update(delivered_tokens(text))
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
    counts = deliveries_per_session(env, store_path)
    assert {token: n for token, n in counts.items() if n != 1} == {}
    assert os.path.exists(store_path)


KIM_WRITES = tool("write", filePath="kim.txt", content="kim, in a later turn\n")


def kim_lead(thinking: str) -> str:
    """A lead and kim, whose later turn (the lead's go) waits on the hold *thinking*: the
    model holds its answer, as if thinking, until the test has killed the run."""
    kim = script_block(
        tool("ensemble_team_claim", task_id="t1"),
        tool("ensemble_team_message", to="lead", text="kim: t1 claimed"),
        {"text": "Waiting for the go."},
        {"await": "go ahead, kim", **KIM_WRITES, "hold": thinking},
        tool(
            "bash", command=f'{GIT_COMMIT.format(name="kim")} "kim: kim.txt"', description="Commit"
        ),
        tool("ensemble_team_tasks_complete", task_id="t1", result="kim.txt written"),
        tool("ensemble_team_message", to="lead", text="kim: t1 is done"),
        {"text": "done"},
    )
    return "Team of one.\n" + script_block(
        tool("ensemble_team_create", name="later"),
        tool("ensemble_team_tasks_add", tasks=[{"content": "write kim.txt"}]),
        tool("ensemble_team_spawn", name="kim", prompt="Do t1 when I say so.\n" + kim),
        {"text": "Waiting for kim."},
        {
            "await": "kim: t1 claimed",
            **tool("ensemble_team_message", to="kim", text="go ahead, kim"),
        },
        {"text": "Waiting for kim's report."},
        {"await": "kim: t1 is done", **tool("ensemble_team_cleanup")},
        {"text": "All merged."},
    )


def test_a_teammate_killed_in_a_later_turn_is_told_to_carry_on_when_the_run_resumes(
    git_repo: Path,
    opencode_bin: str,
    opencode_env_without_snapshots: dict[str, str],
    scripted_model: ScriptedModel,
    holds: Holds,
) -> None:
    """Its status in the store said idle (it was working only in memory since its first
    turn ended), so the resumed run did not tell it its turn was cut: it sat idle with its
    task in progress, and the run ended with "everyone went quiet"."""
    env = dict(opencode_env_without_snapshots, ENSEMBLE_OPENCODE_BIN=opencode_bin)
    thinking = holds.new("kim-thinks")
    first = start_run([kim_lead(thinking)], git_repo, env)
    try:
        # The model holds its answer until the kill: it lands inside kim's later turn.
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
    # The resumed kim's turn asks for the same step: answered at once now.
    holds.release(thinking)

    second = start_run(["--resume"], git_repo, env)
    out, err = second.communicate(timeout=360)
    assert second.returncode == 0, err[-3000:]
    events = [json.loads(line) for line in out.splitlines()]
    told = [event["member"] for event in events if event["type"] == "member.tools_reconnected"]
    assert "kim" in told
    assert (git_repo / "kim.txt").read_text() == "kim, in a later turn\n"
