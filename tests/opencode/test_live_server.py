"""The client and the event stream against the real `opencode serve` and the scripted model."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from ensemble_tui.demo.script import script_block
from ensemble_tui.demo.scripted_model import MODEL_ID, PROVIDER_ID
from ensemble_tui.opencode.client import OpenCodeClient, OpenCodeError
from ensemble_tui.opencode.events import (
    Event,
    PartUpdated,
    PermissionAsked,
    SessionCreated,
    SessionStatusChanged,
)
from ensemble_tui.opencode.models import ModelRef, ToolCompleted, ToolPart
from ensemble_tui.opencode.server import OpenCodeServer, new_password
from ensemble_tui.opencode.stream import (
    Backoff,
    EventStream,
    StreamConnected,
    StreamDisconnected,
    StreamItem,
)
from tests.conftest import TEAM, git

SCRIPTED = ModelRef(provider_id=PROVIDER_ID, model_id=MODEL_ID)


class Recorder:
    """Collects stream items in the background so a test can wait for one."""

    def __init__(self, stream: EventStream) -> None:
        self.items: list[StreamItem] = []
        self._changed = asyncio.Event()
        self._task = asyncio.create_task(self._run(stream))

    async def _run(self, stream: EventStream) -> None:
        async for item in stream:
            self.items.append(item)
            self._changed.set()

    async def wait_for(
        self, predicate: Callable[[StreamItem], bool], seconds: float = 60
    ) -> StreamItem:
        """Wait for the first item (recorded so far or later) that satisfies *predicate*."""
        async with asyncio.timeout(seconds):
            seen = 0
            while True:
                for item in self.items[seen:]:
                    if predicate(item):
                        return item
                seen = len(self.items)
                self._changed.clear()
                await self._changed.wait()

    def events(self, session_id: str) -> list[Event]:
        return [
            item.event
            for item in self.items
            if not isinstance(item, StreamConnected | StreamDisconnected)
            and getattr(item.event, "session_id", None) == session_id
        ]

    async def close(self) -> None:
        self._task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await self._task


@pytest.fixture
async def recorder(client: OpenCodeClient) -> AsyncIterator[Recorder]:
    recorder = Recorder(EventStream(client))
    await recorder.wait_for(lambda item: isinstance(item, StreamConnected))
    yield recorder
    await recorder.close()


def status_of(session_id: str, kind: str) -> Callable[[StreamItem], bool]:
    def matches(item: StreamItem) -> bool:
        if isinstance(item, StreamConnected | StreamDisconnected):
            return False
        event = item.event
        return (
            isinstance(event, SessionStatusChanged)
            and event.session_id == session_id
            and event.status.type == kind
        )

    return matches


async def test_a_worktree_session_runs_its_tools_in_the_worktree(
    client: OpenCodeClient, recorder: Recorder, git_repo: Path
) -> None:
    # Where the team tests' alice works (beside the pooled repository), so OpenCode's
    # instance for the folder is warm (see tests/conftest.py, `RepoSlot`).
    worktree = git_repo.parent / "worktrees" / TEAM / "alice"
    git(git_repo, "worktree", "add", "-q", "-b", f"ensemble/{TEAM}/alice", str(worktree))
    session = await client.create_session(str(worktree), title="alice")
    assert session.directory == str(worktree)

    script = script_block(
        {"tool": "write", "args": {"filePath": "hello.txt", "content": "hello from alice\n"}},
        {"text": "Wrote hello.txt."},
    )
    await client.prompt_async(session.id, str(worktree), script, agent="build", model=SCRIPTED)

    await recorder.wait_for(status_of(session.id, "busy"))
    await recorder.wait_for(status_of(session.id, "idle"))
    tools = [
        event.part
        for event in recorder.events(session.id)
        if isinstance(event, PartUpdated) and isinstance(event.part, ToolPart)
    ]
    completed = [part for part in tools if isinstance(part.state, ToolCompleted)]
    assert [part.tool for part in completed] == ["write"]
    assert (worktree / "hello.txt").read_text() == "hello from alice\n"
    assert not (git_repo / "hello.txt").exists()

    messages = await client.messages(session.id, str(worktree))
    assert [message.info.role for message in messages] == ["user", "assistant", "assistant"]
    assert await client.statuses(str(worktree)) == {}


async def test_errors_name_the_call_and_the_servers_reason(
    client: OpenCodeClient, git_repo: Path
) -> None:
    with pytest.raises(OpenCodeError) as missing:
        await client.get_session("ses_doesnotexist", str(git_repo))
    assert missing.value.status == 404
    assert "GET /session/ses_doesnotexist" in str(missing.value)
    assert "Session not found" in str(missing.value)

    with pytest.raises(OpenCodeError) as unknown_route:
        await client.request("GET", "/no/such/route", directory=str(git_repo))
    assert "does not have that API" in str(unknown_route.value)


async def test_a_permission_request_is_typed_and_the_reply_lets_the_tool_run(
    client: OpenCodeClient, recorder: Recorder, git_repo: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    session = await client.create_session(str(git_repo))
    script = script_block(
        {"tool": "write", "args": {"filePath": str(outside / "x.txt"), "content": "x\n"}},
        {"text": "done"},
    )
    await client.prompt_async(session.id, str(git_repo), script, agent="build", model=SCRIPTED)

    item = await recorder.wait_for(
        lambda item: (
            not isinstance(item, StreamConnected | StreamDisconnected)
            and isinstance(item.event, PermissionAsked)
        )
    )
    assert not isinstance(item, StreamConnected | StreamDisconnected)
    assert isinstance(item.event, PermissionAsked)
    request = item.event.request
    assert request.session_id == session.id
    assert request.permission == "external_directory"
    pending = await client.permissions(str(git_repo))
    assert [p.id for p in pending] == [request.id]

    assert await client.reply_permission(request.id, str(git_repo), "once")
    await recorder.wait_for(status_of(session.id, "idle"))
    assert (outside / "x.txt").read_text() == "x\n"


async def test_without_the_password_the_client_gets_a_clear_401(
    git_repo: Path, opencode_server: OpenCodeServer
) -> None:
    async with OpenCodeClient(opencode_server.url, password="") as anonymous:
        with pytest.raises(OpenCodeError) as refused:
            await anonymous.connect()
    assert refused.value.status == 401
    assert "password" in str(refused.value)
    assert "OPENCODE_SERVER_PASSWORD" in str(refused.value)

    async with OpenCodeClient(opencode_server.url, password=opencode_server.password) as trusted:
        health = await trusted.connect()
        assert health.version == "1.18.33"
        session = await trusted.create_session(str(git_repo))
        assert session.directory == str(git_repo)


def test_a_started_server_binds_its_port_itself_and_is_reached_on_the_one_it_names(
    opencode_server: OpenCodeServer,
) -> None:
    """No port is picked free beforehand (another process could take it before OpenCode
    binds it): OpenCode binds one itself (`--port 0`) and the client uses the one it says."""
    log = opencode_server.log_path.read_text()
    assert "serve --port 0\n" in log
    assert f"listening on http://127.0.0.1:{opencode_server.port}\n" in log


async def test_the_stream_reconnects_after_the_server_restarts_on_the_same_port(
    git_repo: Path, tmp_path: Path, opencode_bin: str, opencode_env: dict[str, str]
) -> None:
    password = new_password()

    def new_server(port: int | None) -> OpenCodeServer:
        log = tmp_path / "oc.log"
        return OpenCodeServer(
            git_repo,
            log_path=log,
            binary=opencode_bin,
            env=opencode_env,
            port=port,
            password=password,
        )

    first = await new_server(None).start()
    port = first.port
    assert port is not None
    async with OpenCodeClient(first.url, password=password) as client:
        recorder = Recorder(EventStream(client, backoff=Backoff(initial=0.1, maximum=0.5)))
        try:
            await recorder.wait_for(lambda item: isinstance(item, StreamConnected))
            await first.stop()
            await recorder.wait_for(lambda item: isinstance(item, StreamDisconnected))

            second = await new_server(port).start()
            try:
                reconnected = await recorder.wait_for(
                    lambda item: isinstance(item, StreamConnected) and item.reconnected
                )
                assert isinstance(reconnected, StreamConnected)
                session = await client.create_session(str(git_repo), title="after restart")
                await recorder.wait_for(
                    lambda item: (
                        not isinstance(item, StreamConnected | StreamDisconnected)
                        and isinstance(item.event, SessionCreated)
                        and item.event.session_id == session.id
                    )
                )
            finally:
                await second.stop()
        finally:
            await recorder.close()
