"""Bad arguments get a short, clear error naming the argument, and no operation runs."""

from __future__ import annotations

from typing import Any

import pytest

from ensemble_tui.tools.api import MAX_MESSAGE_BYTES
from ensemble_tui.tools.server import TeamToolServer
from tests.tools.conftest import RecordingOperations, mcp_session, text_of

TOO_BIG = "é" * (MAX_MESSAGE_BYTES // 2 + 1)  # fewer characters than the limit, more bytes

CASES: list[tuple[str, dict[str, Any], str]] = [
    ("team_message", {"to": "bob"}, "text is required"),
    ("team_message", {"text": 5, "to": "bob"}, "text: Input should be a valid string"),
    ("team_message", {"to": "bob", "text": "hi", "urgent": True},
     "urgent is not an argument of team_message"),
    ("team_message", {"to": "bob", "text": TOO_BIG},
     f"text is {MAX_MESSAGE_BYTES + 2} bytes long; at most {MAX_MESSAGE_BYTES} bytes"),
    ("team_message", {"to": "", "text": "hi"}, "to must not be empty"),
    ("team_broadcast", {"text": ""}, "text must not be empty"),
    ("team_broadcast", {"text": "  \n "}, "text must not be empty"),
    ("team_shutdown", {"member": "bob", "force": "yes"}, "force: Input should be a valid boolean"),
    ("team_claim", {"task_id": 3}, "task_id: Input should be a valid string"),
    ("team_status", {"verbose": True}, "verbose is not an argument of team_status"),
    ("team_tasks_add", {"tasks": []}, "tasks must not be empty"),
    ("team_tasks_add", {"tasks": [{"content": f"task {n}"} for n in range(51)]},
     "tasks has too many items: at most 50 per call"),
    ("team_tasks_add", {"tasks": "write tests"}, "tasks: Input should be a valid list"),
    ("team_tasks_add", {"tasks": [{"content": "x", "priority": "urgent"}]},
     "tasks[0].priority: Input should be 'high', 'medium' or 'low'"),
    ("team_tasks_add", {"tasks": [{"content": "x"}, {"content": "y", "owner": "bob"}]},
     "tasks[1].owner is not an argument of team_tasks_add"),
    ("team_tasks_add", {"tasks": [{"content": "x", "depends_on": "t1"}]},
     "tasks[0].depends_on: Input should be a valid list"),
    ("team_spawn", {"name": "bob", "prompt": "go", "worktree": None},
     "worktree: Input should be a valid boolean"),
]  # fmt: skip


@pytest.mark.parametrize(("tool", "arguments", "expected"), CASES)
async def test_bad_arguments_are_explained_and_the_operation_is_not_called(
    tool_server: TeamToolServer,
    operations: RecordingOperations,
    tool: str,
    arguments: dict[str, Any],
    expected: str,
) -> None:
    async with mcp_session(tool_server.url, "lead-token") as session:
        result = await session.call_tool(tool, arguments)
    text = text_of(result)
    assert result.isError
    assert text.startswith(f"bad arguments for {tool}: ")
    assert expected in text
    assert f"Usage: {tool}(" in text
    assert "pydantic" not in text
    assert "Traceback" not in text
    assert len(text) < 400, "an error text stays short"
    assert operations.calls == []


async def test_many_problems_are_summed_up_not_dumped(
    tool_server: TeamToolServer, operations: RecordingOperations
) -> None:
    tasks = [{"content": "", "priority": "soon", "extra": 1} for _ in range(10)]
    async with mcp_session(tool_server.url, "lead-token") as session:
        result = await session.call_tool("team_tasks_add", {"tasks": tasks})
    text = text_of(result)
    assert result.isError
    assert "tasks[0].content must not be empty" in text
    assert "and 27 more" in text
    assert len(text) < 400
    assert operations.calls == []
