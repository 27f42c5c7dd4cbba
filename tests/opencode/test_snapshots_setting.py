"""`opencode_snapshots = false`: the OpenCode ensemble-tui starts keeps no snapshots.

At every step OpenCode adds the session's folder to a git repository of its own (for its
undo, reverts and per-turn diffs), about half of a step's CPU time; a team of fifty on a
small machine can do without. The user's own inline configuration is kept beside it."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from ensemble_tui.composition import opencode_client
from ensemble_tui.core.team.settings import CoordinatorSettings
from ensemble_tui.demo.scenarios import tool
from ensemble_tui.demo.script import script_block
from ensemble_tui.opencode.client import OpenCodeClient
from ensemble_tui.opencode.server import (
    CONFIG_CONTENT_VARIABLE,
    OpenCodeServer,
    OpenCodeStartError,
)
from ensemble_tui.options import RunOptions


async def turn_done(client: OpenCodeClient, session_id: str, directory: str) -> None:
    """Wait until the session's last assistant message is complete."""
    while True:
        response = await client.request(
            "GET", f"/session/{session_id}/message", directory=directory
        )
        messages: list[dict[str, Any]] = response.json()
        last = messages[-1]["info"] if messages else {}
        if last.get("role") == "assistant" and last.get("finish") == "stop":
            return
        await asyncio.sleep(0.2)


def snapshot_repositories(env: dict[str, str]) -> list[Path]:
    """The git repositories OpenCode made for its snapshots (each has a HEAD)."""
    root = Path(env["XDG_DATA_HOME"]) / "opencode" / "snapshot"
    return list(root.rglob("HEAD")) if root.exists() else []


async def write_a_file(client: OpenCodeClient, session_id: str, directory: str) -> None:
    """One turn of the scripted model that writes notes.txt, waited for."""
    text = "Write a file.\n" + script_block(
        tool("write", filePath="notes.txt", content="written\n"), {"text": "done"}
    )
    await client.prompt_async(session_id, directory, text, agent="build", model=None)
    async with asyncio.timeout(300):
        await turn_done(client, session_id, directory)


async def test_with_snapshots_off_a_turn_leaves_no_snapshot_and_the_users_config_stays(
    git_repo: Path, opencode_bin: str, opencode_env: dict[str, str]
) -> None:
    opencode_env[CONFIG_CONTENT_VARIABLE] = json.dumps({"instructions": ["TEAM.md"]})
    options = RunOptions(
        repo_root=git_repo,
        prompt="",
        opencode_bin=opencode_bin,
        server_env=opencode_env,
        settings=CoordinatorSettings(opencode_snapshots=False),
    )
    directory = str(git_repo)
    async with opencode_client(options) as client:
        config = (await client.request("GET", "/config", directory=directory)).json()
        assert config["snapshot"] is False
        assert config["instructions"] == ["TEAM.md"]
        session = await client.create_session(directory, title="snapshots off")
        await write_a_file(client, session.id, directory)
    assert (git_repo / "notes.txt").read_text() == "written\n"
    assert snapshot_repositories(opencode_env) == []


async def test_by_default_a_turn_is_snapshotted(
    git_repo: Path, opencode_bin: str, opencode_env: dict[str, str]
) -> None:
    """The counterpart: without the setting OpenCode snapshots as it always does."""
    options = RunOptions(
        repo_root=git_repo, prompt="", opencode_bin=opencode_bin, server_env=opencode_env
    )
    directory = str(git_repo)
    async with opencode_client(options) as client:
        session = await client.create_session(directory, title="snapshots on")
        await write_a_file(client, session.id, directory)
    assert snapshot_repositories(opencode_env) != []


@pytest.mark.parametrize("content", ["not json", "[1, 2]"])
async def test_snapshots_off_refuses_inline_config_that_is_not_an_object(
    tmp_path: Path, content: str
) -> None:
    """OpenCode would refuse it too; said before anything starts, with the setting named."""
    env = {CONFIG_CONTENT_VARIABLE: content, "PATH": "/usr/bin:/bin"}
    server = OpenCodeServer(
        tmp_path, log_path=tmp_path / "opencode.log", binary="true", env=env, snapshots=False
    )
    with pytest.raises(OpenCodeStartError, match="opencode_snapshots = false"):
        await server.start()
    assert server.process is None
