"""Scripted team stories for the scripted model: prompts a lead plays step by step.

`two_teammates` is the reference story: the lead creates a team and three tasks
(t3 depends on t1 and t2) and spawns alice and bob. Alice does t1, greets bob and
reports. Bob does t2, finds t3 still blocked, waits to be told it is free, then does
t3 and reports. Every teammate commits on its own branch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ensemble_tui.demo.script import script_block

# Teammates commit with an identity of their own: a test HOME has none.
GIT_COMMIT = (
    "git add -A && git -c user.name={name} -c user.email={name}@ensemble.invalid commit -qm"
)
T3_FREE = "Task t3 can now be claimed"


def tool(tool_name: str, /, **args: Any) -> dict[str, Any]:
    """One script step calling a tool (team tools are named `ensemble_<tool>`)."""
    return {"tool": tool_name, "args": args}


def write_and_commit(
    name: str, path: str, content: str, *, slow: float = 0
) -> list[dict[str, Any]]:
    """Steps that write one file in the teammate's worktree and commit it (the write
    answered after *slow* seconds, like a model thinking)."""
    commit = f'{GIT_COMMIT.format(name=name)} "{name}: {path}"'
    write = tool("write", filePath=path, content=content)
    if slow:
        write["delay"] = slow
    return [
        write,
        tool("bash", command=commit, description=f"Commit {path}"),
    ]


def alice_script(slow: float = 0) -> str:
    return script_block(
        tool("ensemble_team_claim", task_id="t1"),
        *write_and_commit("alice", "alice.txt", "alice was here\n", slow=slow),
        tool("ensemble_team_tasks_complete", task_id="t1", result="alice.txt written"),
        tool("ensemble_team_message", to="bob", text="Hi bob, alice here: t1 is done."),
        tool("ensemble_team_message", to="lead", text="alice: t1 done, alice.txt committed."),
        {"text": "t1 is done and reported."},
    )


def bob_script() -> str:
    return script_block(
        tool("ensemble_team_claim", task_id="t2"),
        *write_and_commit("bob", "bob.txt", "bob was here\n"),
        tool("ensemble_team_claim", task_id="t3"),
        tool("ensemble_team_tasks_complete", task_id="t2", result="bob.txt written"),
        {"await": T3_FREE, **tool("ensemble_team_claim", task_id="t3")},
        *write_and_commit("bob", "summary.txt", "alice and bob were here\n"),
        tool("ensemble_team_tasks_complete", task_id="t3", result="summary.txt written"),
        tool("ensemble_team_message", to="lead", text="bob: t2 and t3 done, files committed."),
        {"text": "t2 and t3 are done and reported."},
    )


DEPENDENT_TASKS = [
    {"content": "Write alice.txt", "priority": "high"},
    {"content": "Write bob.txt"},
    {"content": "Write summary.txt once both are done", "depends_on": ["t1", "t2"]},
]


def slow_alice_team(team: str, *then: dict[str, Any]) -> str:
    """The reference story with alice slow to write (so a crash lands mid-turn), then *then*."""
    return "Team of two.\n" + script_block(
        tool("ensemble_team_create", name=team),
        tool("ensemble_team_tasks_add", tasks=DEPENDENT_TASKS),
        tool("ensemble_team_spawn", name="alice", prompt="Do t1.\n" + alice_script(slow=4)),
        tool("ensemble_team_spawn", name="bob", prompt="Do t2 and t3.\n" + bob_script()),
        {"text": "Waiting for both reports."},
        *then,
    )


def permission_story(outside: Path, team: str = "perm", member: str = "dana") -> str:
    """A lead and *member*, who writes into *outside* (a folder that needs her permission)."""
    teammate = script_block(
        tool("write", filePath=str(outside / "shared.txt"), content=f"from {member}\n"),
        tool("ensemble_team_message", to="lead", text=f"{member}: wrote the shared file"),
        {"text": "done"},
    )
    return script_block(
        tool("ensemble_team_create", name=team),
        tool("ensemble_team_spawn", name=member, prompt="Write it.\n" + teammate),
        {"text": "spawned"},
    )


def two_teammates(team: str = "demo") -> str:
    """The lead's prompt for the reference story."""
    lead = script_block(
        tool("ensemble_team_create", name=team),
        tool("ensemble_team_tasks_add", tasks=DEPENDENT_TASKS),
        tool("ensemble_team_spawn", name="alice", prompt="Do t1.\n" + alice_script()),
        tool("ensemble_team_spawn", name="bob", prompt="Do t2, then t3.\n" + bob_script()),
        {"text": "The team is at work; I will wait for their reports."},
    )
    return "Build the three files with a team of two.\n" + lead
