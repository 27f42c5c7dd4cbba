"""Every team tool called with bad arguments by a scripted agent: a clear error, no change.

The agents are real OpenCode sessions driven by the scripted model; the calls go
through OpenCode's MCP client to our tool server and the coordinator.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from ensemble_tui.core.team.coordinator import Coordinator
from ensemble_tui.demo.scenarios import tool
from ensemble_tui.demo.script import script_block
from ensemble_tui.opencode.models import ToolCompleted, ToolFailed, ToolPart
from tests.conftest import TEAM, TeamOptions, running_team

SETUP = script_block(
    tool("ensemble_team_create", name=TEAM),
    tool("ensemble_team_tasks_add", tasks=[{"content": "a real task"}]),
    tool(
        "ensemble_team_spawn",
        name="alice",
        prompt="Wait for go.\n"
        + script_block(
            {
                "await": "GO-ALICE",
                "tools": [
                    tool("ensemble_team_spawn", name="eve", prompt="x"),
                    tool("ensemble_team_cleanup"),
                    tool("ensemble_team_merge", member="alice"),
                    tool("ensemble_team_claim", task_id="t99"),
                    tool("ensemble_team_tasks_complete", task_id="t1"),
                ],
            },
            {"text": "done probing"},
        ),
    ),
    {"text": "set up"},
)

# (tool, arguments, a phrase the error must contain)
LEAD_PROBES: list[tuple[str, dict[str, Any], str]] = [
    ("ensemble_team_create", {"name": "other"}, f"already lead team {TEAM}"),
    ("ensemble_team_spawn", {"name": "../evil", "prompt": "x"}, "name '../evil' is not allowed"),
    ("ensemble_team_spawn", {"name": "alice", "prompt": "x"}, "already"),
    ("ensemble_team_spawn", {"name": "dave", "prompt": "  "}, "prompt must not be empty"),
    ("ensemble_team_spawn", {"name": "dave", "prompt": "x", "model": "nonsense"}, "provider/model"),
    ("ensemble_team_shutdown", {"member": "nobody"}, "no member 'nobody'"),
    ("ensemble_team_merge", {"member": "nobody"}, "no member 'nobody'"),
    ("ensemble_team_view", {"member": "nobody"}, "no member 'nobody'"),
    ("ensemble_team_message", {"to": "nobody", "text": "hi"}, "no member 'nobody'"),
    ("ensemble_team_message", {"to": "lead", "text": "hi"}, "yourself"),
    ("ensemble_team_message", {"to": "alice", "text": "x" * 11000}, "10"),
    ("ensemble_team_broadcast", {"text": ""}, "text"),
    ("ensemble_team_tasks_add", {"tasks": []}, "task"),
    ("ensemble_team_tasks_add", {"tasks": [{"content": "a", "depends_on": ["t9"]}]}, "t9"),
    (
        "ensemble_team_tasks_add",
        {"tasks": [{"content": "a", "depends_on": ["t3"]}, {"content": "b", "depends_on": ["t2"]}]},
        "cycle",
    ),
    ("ensemble_team_tasks_add", {"tasks": [{"content": "a", "priority": "urgent"}]}, "priority"),
    ("ensemble_team_tasks_add", {"tasks": [{"priority": "high"}]}, "content"),
    ("ensemble_team_tasks_complete", {"task_id": "t1"}, "t1"),
    ("ensemble_team_claim", {"task_id": "t99"}, "t99"),
]

# The lead's tools are not listed to a teammate: OpenCode itself refuses them.
ALICE_EXPECTED = [
    "unavailable tool 'ensemble_team_spawn'",
    "unavailable tool 'ensemble_team_cleanup'",
    "unavailable tool 'ensemble_team_merge'",
    "t99",
    "t1",
]


# Activity (status, tokens, times) changes as agents work; identity and holdings must not.
MEMBER_COLUMNS = "team_id, name, role, session_id, worktree_path, branch, current_task_id"


def dump(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """The rows of every table (members without activity columns), to compare."""
    with sqlite3.connect(path) as db:
        tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        rows = {}
        for table in tables:
            columns = MEMBER_COLUMNS if table == "members" else "*"
            query = f"SELECT {columns} FROM {table}"
            rows[table] = sorted(db.execute(query).fetchall(), key=repr)
        return rows


async def tool_texts(coordinator: Coordinator, member: str) -> list[tuple[str, str, bool]]:
    """(tool, output or error text, failed?) of every team tool call in a member's session;
    a call of a tool the member was not given is OpenCode's `invalid` tool, a refusal."""
    state = coordinator.session_of(member)
    assert state is not None
    texts = []
    for message in await coordinator.client.messages(state.session_id, state.directory):
        for part in message.parts:
            if isinstance(part, ToolPart) and part.tool == "invalid":
                state_text = part.state.output if isinstance(part.state, ToolCompleted) else ""
                error = part.state.error if isinstance(part.state, ToolFailed) else state_text
                texts.append((part.tool, error, True))
            elif isinstance(part, ToolPart) and part.tool.startswith("ensemble_"):
                if isinstance(part.state, ToolFailed):
                    texts.append((part.tool, part.state.error, True))
                elif isinstance(part.state, ToolCompleted):
                    texts.append((part.tool, part.state.output, False))
    return texts


async def test_bad_calls_get_clear_errors_and_change_nothing(
    tmp_path: Path, team_options: TeamOptions
) -> None:
    async with running_team(team_options(tool_burst=100)) as coord:
        lead = await coord.start_lead()
        await coord.prompt(lead, SETUP)
        await coord.wait_until_settled(limit=120)
        before = dump(tmp_path / "state.db")

        # Each agent makes all its bad calls in one response, as a model may call several
        # tools at once: each call still goes through OpenCode's MCP client on its own, and
        # one model step instead of one per call spares OpenCode some 2 s of CPU.
        probes = [tool(name, **args) for name, args, _ in LEAD_PROBES]
        await coord.prompt(lead, script_block({"tools": probes}, {"text": "probed"}))
        alice = coord.session_of("alice")
        assert alice is not None
        await coord.prompt(alice, "GO-ALICE")
        await coord.wait_until_settled(limit=180)
        after = dump(tmp_path / "state.db")

        lead_calls = (await tool_texts(coord, "lead"))[3:]
        alice_calls = await tool_texts(coord, "alice")

    assert [name for name, _, _ in lead_calls] == [name for name, _, _ in LEAD_PROBES]
    assert len(alice_calls) == len(ALICE_EXPECTED)
    expected = [(args, phrase) for _, args, phrase in LEAD_PROBES]
    expected += [({}, phrase) for phrase in ALICE_EXPECTED]
    wrong = [
        f"{name}({args}) -> {'error' if failed else 'ok'}: {text!r} (wanted {phrase!r})"
        for (name, text, failed), (args, phrase) in zip(
            lead_calls + alice_calls, expected, strict=True
        )
        if not failed or phrase.lower() not in text.lower()
    ]
    assert not wrong, "\n".join(wrong)
    raw_dumps = [text for _, text, _ in lead_calls + alice_calls if "validation error" in text]
    assert not raw_dumps, "errors must be sentences, not pydantic dumps"

    # The event log records what the agents did (statuses, turns); nothing else changed.
    for rows in (before, after):
        rows.pop("events", None)
        rows["sqlite_sequence"] = [row for row in rows["sqlite_sequence"] if row[0] != "events"]
    assert after == before
