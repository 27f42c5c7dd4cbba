"""The real `opencode serve`, driven by the scripted model, calling the team tools.

OpenCode is given the MCP server per directory with a member's bearer token; the
recording operations then show who called what, and the session's messages show what
the agent saw.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from ensemble_tui.core.errors import Refused
from ensemble_tui.demo.script import script_block
from ensemble_tui.demo.scripted_model import MODEL_ID, PROVIDER_ID
from ensemble_tui.opencode.client import OpenCodeClient
from ensemble_tui.opencode.models import (
    AssistantMessage,
    MessageWithParts,
    ModelRef,
    TextPart,
    ToolCompleted,
    ToolFailed,
    ToolPart,
)
from ensemble_tui.tools.server import TeamToolServer
from tests.conftest import git
from tests.tools.conftest import ALICE, RecordingOperations

SCRIPTED = ModelRef(provider_id=PROVIDER_ID, model_id=MODEL_ID)
STATUS_TEXT = "alice: working on t1 | bob: idle | tasks: 1 in progress, 2 pending"


@pytest.fixture
async def live_tool_server(operations: RecordingOperations) -> AsyncIterator[TeamToolServer]:
    """A server on the real clock with room for every call a script makes."""
    async with TeamToolServer(operations, rate=20.0, burst=20) as server:
        yield server


async def run_turn(
    client: OpenCodeClient, directory: Path, *steps: dict[str, Any], seconds: float = 90
) -> list[MessageWithParts]:
    """Prompt a new session in *directory* with a script; return its messages once idle."""
    session = await client.create_session(str(directory))
    script = script_block(*steps)
    await client.prompt_async(session.id, str(directory), script, agent="build", model=SCRIPTED)
    async with asyncio.timeout(seconds):
        while True:
            messages = await client.messages(session.id, str(directory))
            last = messages[-1].info if messages else None
            if isinstance(last, AssistantMessage) and (last.finish == "stop" or last.error):
                return messages
            await asyncio.sleep(0.2)


def tool_parts(messages: list[MessageWithParts]) -> list[ToolPart]:
    return [part for message in messages for part in message.parts if isinstance(part, ToolPart)]


def final_text(messages: list[MessageWithParts]) -> str:
    return "".join(part.text for part in messages[-1].parts if isinstance(part, TextPart))


async def test_an_agent_calls_the_team_tools_as_the_member_its_token_names(
    client: OpenCodeClient,
    git_repo: Path,
    live_tool_server: TeamToolServer,
    operations: RecordingOperations,
) -> None:
    operations.answers["team_status"] = STATUS_TEXT
    operations.answers["team_message"] = Refused("no member named 'bob2'; members: lead, bob")
    added = await client.add_mcp_server(
        str(git_repo), "ensemble", live_tool_server.url, token="alice-token"
    )
    assert added["ensemble"].status == "connected"
    assert (await client.mcp_status(str(git_repo)))["ensemble"].status == "connected"

    messages = await run_turn(
        client,
        git_repo,
        {"tool": "ensemble_team_status", "args": {}},
        # Each `await` proves the model was shown the previous tool's answer.
        {
            "await": STATUS_TEXT,
            "tool": "ensemble_team_message",
            "args": {"to": "bob2", "text": "hi"},
        },
        {"await": "no member named 'bob2'", "text": "Saw the refusal."},
    )

    assert [(call.tool, call.caller, call.args) for call in operations.calls] == [
        ("team_status", ALICE, {}),
        ("team_message", ALICE, {"to": "bob2", "text": "hi"}),
    ]
    status, message = tool_parts(messages)
    assert status.tool == "ensemble_team_status"
    assert isinstance(status.state, ToolCompleted)
    assert status.state.output == STATUS_TEXT
    assert message.tool == "ensemble_team_message"
    assert isinstance(message.state, ToolFailed), "isError becomes a failed tool part"
    assert message.state.error == "no member named 'bob2'; members: lead, bob"
    assert final_text(messages) == "Saw the refusal."


async def test_a_directory_without_the_server_does_not_get_the_tools(
    client: OpenCodeClient,
    git_repo: Path,
    tmp_path: Path,
    live_tool_server: TeamToolServer,
    operations: RecordingOperations,
) -> None:
    worktree = tmp_path / "worktree-bob"
    git(git_repo, "worktree", "add", "-q", "-b", "ensemble/t/bob", str(worktree))
    await client.add_mcp_server(str(git_repo), "ensemble", live_tool_server.url, token="lead-token")
    assert "ensemble" not in await client.mcp_status(str(worktree))

    outside = await run_turn(
        client, worktree, {"tool": "ensemble_team_status", "args": {}}, {"text": "done"}
    )
    (part,) = tool_parts(outside)
    assert part.tool != "ensemble_team_status", "OpenCode does not offer the tool there"
    assert "ensemble_team_status" in part.model_dump_json()
    assert operations.calls == []

    # The same script in the directory that has the server does reach it.
    inside = await run_turn(
        client, git_repo, {"tool": "ensemble_team_status", "args": {}}, {"text": "done"}
    )
    (part,) = tool_parts(inside)
    assert part.tool == "ensemble_team_status"
    assert isinstance(part.state, ToolCompleted)
    assert [call.tool for call in operations.calls] == ["team_status"]


async def test_opencode_reports_a_server_given_an_unknown_token_as_failed(
    client: OpenCodeClient,
    git_repo: Path,
    live_tool_server: TeamToolServer,
    operations: RecordingOperations,
) -> None:
    added = await client.add_mcp_server(
        str(git_repo), "ensemble", live_tool_server.url, token="stolen-token"
    )
    assert added["ensemble"].status == "failed"
    assert "401" in (added["ensemble"].error or "")
    assert operations.calls == []
