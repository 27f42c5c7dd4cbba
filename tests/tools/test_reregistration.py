"""The team tools registered again in a warm folder: the very next call reaches the new server.

Each coordinator starts a tool server of its own (a new URL and tokens) and gives it to a
folder under the one name "ensemble". A second team with the same names in one run, a
long-running OpenCode given to `--url`, and every test on the shared server register it
again in a folder whose OpenCode instance is warm and last talked to an earlier server.
OpenCode 1.18.33 replaces the earlier registration at once, whether that server still
runs or has stopped: no call goes to it (checked 50 times in a row, under load too).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from ensemble_tui.core.team.identity import Caller
from ensemble_tui.demo.script import script_block
from ensemble_tui.demo.scripted_model import MODEL_ID, PROVIDER_ID
from ensemble_tui.opencode.client import OpenCodeClient
from ensemble_tui.opencode.models import AssistantMessage, ModelRef, ToolCompleted, ToolPart
from ensemble_tui.tools.server import TeamToolServer
from tests.tools.conftest import RecordingOperations

SCRIPTED = ModelRef(provider_id=PROVIDER_ID, model_id=MODEL_ID)


def operations_of(number: int) -> RecordingOperations:
    lead = Caller(member="lead", is_lead=True, team_id=number, session_id=f"ses_{number}")
    operations = RecordingOperations(tokens={f"token-{number}": lead})
    operations.answers["team_status"] = f"status of server {number}"
    return operations


async def register_and_call(
    client: OpenCodeClient, folder: Path, server: TeamToolServer, number: int
) -> str:
    """Register *server* as "ensemble" in *folder*, then call one of its tools at once."""
    added = await client.add_mcp_server(
        str(folder), "ensemble", server.url, token=f"token-{number}"
    )
    assert added["ensemble"].status == "connected"
    session = await client.create_session(str(folder))
    script = script_block({"tool": "ensemble_team_status", "args": {}}, {"text": "ok"})
    await client.prompt_async(session.id, str(folder), script, agent="build", model=SCRIPTED)
    async with asyncio.timeout(90):
        while True:
            messages = await client.messages(session.id, str(folder))
            last = messages[-1].info if messages else None
            if isinstance(last, AssistantMessage) and (last.finish == "stop" or last.error):
                break
            await asyncio.sleep(0.2)
    (part,) = [p for message in messages for p in message.parts if isinstance(p, ToolPart)]
    assert isinstance(part.state, ToolCompleted), part.model_dump_json()
    return part.state.output


async def test_a_new_registration_in_a_warm_folder_gets_the_very_next_call(
    client: OpenCodeClient, git_repo: Path
) -> None:
    first, second, third = operations_of(1), operations_of(2), operations_of(3)
    async with TeamToolServer(first, rate=20.0, burst=20) as one:
        assert await register_and_call(client, git_repo, one, 1) == "status of server 1"
        # The earlier server still runs: a stale registration would answer, not fail.
        async with TeamToolServer(second, rate=20.0, burst=20) as two:
            assert await register_and_call(client, git_repo, two, 2) == "status of server 2"
    # Both stopped, as a finished team's are.
    async with TeamToolServer(third, rate=20.0, burst=20) as three:
        assert await register_and_call(client, git_repo, three, 3) == "status of server 3"
    assert [len(ops.calls) for ops in (first, second, third)] == [1, 1, 1]
