"""Tool calls through the official MCP client: listing, routing, refusals, errors, rate.

The server sits in front of a recording `TeamOperations` (see conftest), so every test
can tell whether the operation ran, for whom and with what.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from ensemble_tui.core.errors import Refused
from ensemble_tui.core.team.identity import Caller
from ensemble_tui.core.team.task_specs import TaskSpec
from ensemble_tui.tools.api import LEAD_ONLY_TOOLS, MAX_MESSAGE_BYTES, REVIEWER_TOOLS
from ensemble_tui.tools.server import TeamToolServer
from tests.tools.conftest import (
    ALICE,
    LEAD,
    FakeClock,
    RecordingOperations,
    mcp_session,
    text_of,
)

REQUIRED = {
    "team_create": ["name"],
    "team_spawn": ["name", "prompt"],
    "team_fork": ["name", "prompt"],
    "team_shutdown": ["member"],
    "team_merge": ["member"],
    "team_choose": ["member"],
    "team_handoff": ["mode", "text"],
    "team_cleanup": [],
    "team_view": ["member"],
    "team_status": [],
    "team_message": ["to", "text"],
    "team_broadcast": ["text"],
    "team_results": [],
    "team_tasks_list": [],
    "team_tasks_add": ["tasks"],
    "team_tasks_complete": ["task_id"],
    "team_claim": ["task_id"],
    "team_review": ["verdict"],
}

# (tool, arguments sent, arguments the operation must receive, defaults filled in)
VALID_CALLS: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("team_create", {"name": "auth-refactor"}, {"name": "auth-refactor"}),
    (
        "team_fork",
        {"name": "try-b", "prompt": "Try it as microservices."},
        {
            "name": "try-b",
            "prompt": "Try it as microservices.",
            "agent": None,
            "model": None,
            "from_message": None,
        },
    ),
    ("team_choose", {"member": "try-b"}, {"member": "try-b"}),
    (
        "team_handoff",
        {"mode": "message", "text": "Review it.", "agent": "plan"},
        {"mode": "message", "text": "Review it.", "agent": "plan", "member": None},
    ),
    (
        "team_spawn",
        {"name": "bob", "prompt": "Write the tests."},
        {
            "name": "bob",
            "prompt": "Write the tests.",
            "agent": "build",
            "model": None,
            "worktree": True,
            "plan_approval": False,
        },
    ),
    (
        "team_spawn",
        {"name": "rev", "prompt": "Review.", "agent": "plan", "model": "a/b", "worktree": False,
         "plan_approval": True},
        {"name": "rev", "prompt": "Review.", "agent": "plan", "model": "a/b", "worktree": False,
         "plan_approval": True},
    ),
    (
        "team_spawn",
        {"name": "m1", "prompt": "Do 1.",
         "more": [{"name": "m2", "prompt": "Do 2."}, {"name": "m3", "prompt": "Do 3."}]},
        {"name": "m1", "prompt": "Do 1.", "agent": "build", "model": None, "worktree": True,
         "plan_approval": False, "more": ["m2", "m3"]},
    ),
    ("team_shutdown", {"member": "bob"}, {"member": "bob", "force": False}),
    ("team_shutdown", {"member": "bob", "force": True}, {"member": "bob", "force": True}),
    ("team_merge", {"member": "bob"}, {"member": "bob"}),
    ("team_cleanup", {}, {}),
    ("team_view", {"member": "bob"}, {"member": "bob"}),
    ("team_status", {}, {}),
    ("team_message", {"to": "bob", "text": "héllo"}, {"to": "bob", "text": "héllo"}),
    ("team_message", {"to": "bob", "text": "x" * MAX_MESSAGE_BYTES},
     {"to": "bob", "text": "x" * MAX_MESSAGE_BYTES}),
    ("team_broadcast", {"text": "standup"}, {"text": "standup"}),
    ("team_results", {}, {}),
    ("team_tasks_list", {}, {}),
    ("team_tasks_complete", {"task_id": "t1"}, {"task_id": "t1", "result": None}),
    ("team_tasks_complete", {"task_id": "t1", "result": "done in a.py"},
     {"task_id": "t1", "result": "done in a.py"}),
    ("team_claim", {"task_id": "t2"}, {"task_id": "t2"}),
]  # fmt: skip


async def test_each_caller_is_listed_the_tools_it_may_call_with_their_required_arguments(
    tool_server: TeamToolServer, operations: RecordingOperations
) -> None:
    """The lead all but team_review, a teammate none of the lead's, a reviewer only
    team_review: every listed schema goes to the model with each step."""
    operations.tokens["carl-reviewer-token"] = Caller(
        member="reviewer", is_lead=False, team_id=7, session_id="ses_rev", reviews="alice"
    )
    expected = {
        "lead-token": [name for name in REQUIRED if name not in REVIEWER_TOOLS],
        "alice-token": [name for name in REQUIRED if name not in LEAD_ONLY_TOOLS | REVIEWER_TOOLS],
        "carl-reviewer-token": ["team_review"],
    }
    assert len(REQUIRED) == 18
    for token, names in expected.items():
        async with mcp_session(tool_server.url, token) as session:
            listed = (await session.list_tools()).tools
        assert [tool.name for tool in listed] == names, token
        for tool in listed:
            assert sorted(tool.inputSchema.get("required", [])) == sorted(REQUIRED[tool.name])
            assert tool.description


@pytest.mark.parametrize(("tool", "sent", "received"), VALID_CALLS)
async def test_a_valid_call_reaches_the_operation_as_the_caller(
    tool_server: TeamToolServer,
    operations: RecordingOperations,
    tool: str,
    sent: dict[str, Any],
    received: dict[str, Any],
) -> None:
    operations.answers[tool] = f"{tool} answered: t7 created"
    async with mcp_session(tool_server.url, "lead-token") as session:
        result = await session.call_tool(tool, sent)
    assert not result.isError
    assert text_of(result) == f"{tool} answered: t7 created"
    assert [(call.tool, call.caller, call.args) for call in operations.calls] == [
        (tool, LEAD, received)
    ]


async def test_tasks_arrive_as_new_tasks_with_their_defaults(
    tool_server: TeamToolServer, operations: RecordingOperations
) -> None:
    tasks = [
        {"content": "Write the parser."},
        {"content": "Test it.", "priority": "high", "depends_on": ["t1"]},
    ]
    async with mcp_session(tool_server.url, "alice-token") as session:
        result = await session.call_tool("team_tasks_add", {"tasks": tasks})
    assert not result.isError
    (call,) = operations.calls
    assert call.caller == ALICE
    assert call.args["specs"] == [
        TaskSpec(content="Write the parser.", priority="medium", depends_on=[]),
        TaskSpec(content="Test it.", priority="high", depends_on=["t1"]),
    ]
    assert all(type(task) is TaskSpec for task in call.args["specs"])


@pytest.mark.parametrize("tool", sorted(LEAD_ONLY_TOOLS))
async def test_lead_only_tools_refuse_a_teammate(
    tool_server: TeamToolServer, operations: RecordingOperations, tool: str
) -> None:
    arguments = {"member": "bob"} if "member" in REQUIRED[tool] else {}
    arguments |= {"name": "x", "prompt": "p"} if tool == "team_spawn" else {}
    arguments |= {"name": "x"} if tool == "team_create" else {}
    async with mcp_session(tool_server.url, "alice-token") as session:
        result = await session.call_tool(tool, arguments)
    assert result.isError
    assert text_of(result).startswith(f"{tool} is for the lead only; ")
    assert "'alice'" in text_of(result)
    assert operations.calls == []


async def test_a_tool_error_is_returned_verbatim(
    tool_server: TeamToolServer, operations: RecordingOperations
) -> None:
    operations.answers["team_claim"] = Refused("task t3 is already claimed by bob")
    async with mcp_session(tool_server.url, "alice-token") as session:
        result = await session.call_tool("team_claim", {"task_id": "t3"})
    assert result.isError
    assert text_of(result) == "task t3 is already claimed by bob"


async def test_an_unexpected_exception_is_contained_logged_and_the_server_goes_on(
    tool_server: TeamToolServer,
    operations: RecordingOperations,
    caplog: pytest.LogCaptureFixture,
) -> None:
    operations.answers["team_status"] = RuntimeError("database is locked")
    async with mcp_session(tool_server.url, "alice-token") as session:
        with caplog.at_level(logging.ERROR, logger="ensemble_tui.tools"):
            failed = await session.call_tool("team_status", {})
        del operations.answers["team_status"]
        recovered = await session.call_tool("team_status", {})
    assert failed.isError
    assert text_of(failed) == "internal error in ensemble-tui: RuntimeError: database is locked"
    (record,) = [r for r in caplog.records if r.name.startswith("ensemble_tui.tools")]
    assert record.exc_info is not None, "the traceback must be logged"
    assert not recovered.isError
    assert text_of(recovered) == "team_status ok"


async def test_the_rate_limit_kicks_in_per_member_and_recovers(
    tool_server: TeamToolServer, operations: RecordingOperations, clock: FakeClock
) -> None:
    async with (
        mcp_session(tool_server.url, "alice-token") as alice,
        mcp_session(tool_server.url, "lead-token") as lead,
    ):
        for _ in range(5):
            assert not (await alice.call_tool("team_status", {})).isError
        refused = await alice.call_tool("team_status", {})
        assert refused.isError
        assert text_of(refused) == "too many team tool calls: wait 1 s"
        assert len(operations.calls) == 5, "a refused call must not reach the operation"

        assert not (await lead.call_tool("team_status", {})).isError, "the lead has its own"
        assert (await alice.list_tools()).tools, "listing tools is not rate limited"

        clock.advance(1.0)
        assert not (await alice.call_tool("team_status", {})).isError
        assert (await alice.call_tool("team_status", {})).isError
    assert [call.caller for call in operations.calls] == [ALICE] * 5 + [LEAD, ALICE]
