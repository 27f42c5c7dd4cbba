"""The `opencode serve` ensemble-tui starts allocates through its runtime's system heap
(`Malloc=1`): WebKit's own heap split OpenCode's memory into tens of thousands of small
mappings (27,000 for ten teammates), and near fifty teammates OpenCode reached Linux's
limit of 65,530 and hung, its allocator retrying a refused `madvise` forever."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from ensemble_tui.demo.script import script_block
from ensemble_tui.opencode.client import OpenCodeClient
from ensemble_tui.opencode.events import GlobalEvent, SessionIdle
from ensemble_tui.opencode.server import OpenCodeServer
from ensemble_tui.opencode.stream import EventStream, StreamConnected
from tests.conftest import git

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def mappings(pid: int) -> int:
    with open(f"/proc/{pid}/maps") as maps:
        return sum(1 for _ in maps)


async def test_opencode_runs_on_the_system_heap_and_keeps_few_mappings(
    tmp_path: Path,
    git_repo: Path,
    opencode_bin: str,
    opencode_env_without_snapshots: dict[str, str],
) -> None:
    opencode_env_without_snapshots.pop("Malloc", None)
    folders = []
    for name in ("abe", "bea", "cal"):
        folder = tmp_path / "worktrees" / name
        git(git_repo, "worktree", "add", "--quiet", "-b", name, str(folder))
        folders.append(folder)
    server = OpenCodeServer(
        git_repo,
        log_path=tmp_path / "opencode.log",
        binary=opencode_bin,
        env=opencode_env_without_snapshots,
    )
    async with server, OpenCodeClient(server.url, password=server.password) as client:
        assert server.process is not None
        pid = server.process.pid
        environment = await asyncio.to_thread(Path(f"/proc/{pid}/environ").read_bytes)
        assert b"Malloc=1" in environment.split(b"\0")
        # Three teammates' instances, each having answered once (its turn ended).
        connected, all_idle = asyncio.Event(), asyncio.Event()
        waiting: set[str] = set()
        idle: set[str] = set()

        async def follow() -> None:
            async for item in EventStream(client):
                if isinstance(item, StreamConnected):
                    connected.set()
                elif isinstance(item, GlobalEvent) and isinstance(item.event, SessionIdle):
                    idle.add(item.event.session_id)
                    if waiting and waiting <= idle:
                        all_idle.set()

        following = asyncio.create_task(follow())
        try:
            async with asyncio.timeout(300):
                await connected.wait()
                for folder in folders:
                    session = await client.create_session(str(folder), title=folder.name)
                    text = "Hi.\n" + script_block({"text": "hello"})
                    await client.prompt_async(
                        session.id, str(folder), text, agent="build", model=None
                    )
                    waiting.add(session.id)
                await all_idle.wait()
        finally:
            following.cancel()
        count = mappings(pid)
    # Measured: about 240 on the system heap, 2,040 on WebKit's own.
    assert count < 1000, f"OpenCode has {count} memory mappings"
