"""Fixtures for the MCP server tests: a recording `TeamOperations`, a fake clock, clients.

The real coordinator is built in parallel and tested on its own; here the subject is
the layer in front of it (transport, auth, rate limit, validation, error handling), so
a small test double that records each call and answers what the test tells it to is
the right stand-in: it makes "the operation was not called" observable.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from mcp import ClientSession, types
from mcp.client.streamable_http import streamable_http_client

from ensemble_tui.core.team.identity import Caller
from ensemble_tui.core.team.spawn import SpawnRequest
from ensemble_tui.core.team.task_specs import TaskSpec
from ensemble_tui.tools.server import TeamToolServer

LEAD = Caller(member="lead", is_lead=True, team_id=7, session_id="ses_lead")
ALICE = Caller(member="alice", is_lead=False, team_id=7, session_id="ses_alice")
TOKENS = {"lead-token": LEAD, "alice-token": ALICE}


@dataclass
class Call:
    tool: str
    caller: Caller
    args: dict[str, Any]


@dataclass
class RecordingOperations:
    """Records every operation call; answers `"<tool> ok"` unless `answers` says otherwise.

    An answer may be a string, or an exception to raise (an `EnsembleError` such as
    `Refused`, or a bug).
    """

    calls: list[Call] = field(default_factory=list)
    answers: dict[str, str | BaseException] = field(default_factory=dict)
    tokens: dict[str, Caller] = field(default_factory=lambda: dict(TOKENS))

    def identify(self, token: str) -> Caller | None:
        return self.tokens.get(token)

    async def _record(self, tool: str, caller: Caller, **args: Any) -> str:
        self.calls.append(Call(tool, caller, args))
        answer = self.answers.get(tool, f"{tool} ok")
        if isinstance(answer, BaseException):
            raise answer
        return answer

    async def team_create(self, caller: Caller, name: str) -> str:
        return await self._record("team_create", caller, name=name)

    async def team_spawn(
        self,
        caller: Caller,
        name: str,
        prompt: str,
        agent: str,
        model: str | None,
        worktree: bool,
        plan_approval: bool,
        more: Sequence[SpawnRequest] = (),
    ) -> str:
        return await self._record(
            "team_spawn",
            caller,
            name=name,
            prompt=prompt,
            agent=agent,
            model=model,
            worktree=worktree,
            plan_approval=plan_approval,
            **({"more": [request.name for request in more]} if more else {}),
        )

    async def team_fork(
        self,
        caller: Caller,
        name: str,
        prompt: str,
        agent: str | None,
        model: str | None,
        from_message: str | None,
    ) -> str:
        return await self._record(
            "team_fork",
            caller,
            name=name,
            prompt=prompt,
            agent=agent,
            model=model,
            from_message=from_message,
        )

    async def team_choose(self, caller: Caller, member: str) -> str:
        return await self._record("team_choose", caller, member=member)

    async def team_handoff(
        self, caller: Caller, mode: str, text: str, agent: str | None, member: str | None
    ) -> str:
        return await self._record(
            "team_handoff", caller, mode=mode, text=text, agent=agent, member=member
        )

    async def team_shutdown(self, caller: Caller, member: str, force: bool) -> str:
        return await self._record("team_shutdown", caller, member=member, force=force)

    async def team_merge(self, caller: Caller, member: str) -> str:
        return await self._record("team_merge", caller, member=member)

    async def team_cleanup(self, caller: Caller) -> str:
        return await self._record("team_cleanup", caller)

    async def team_view(self, caller: Caller, member: str) -> str:
        return await self._record("team_view", caller, member=member)

    async def team_status(self, caller: Caller) -> str:
        return await self._record("team_status", caller)

    async def team_message(self, caller: Caller, to: str, text: str) -> str:
        return await self._record("team_message", caller, to=to, text=text)

    async def team_broadcast(self, caller: Caller, text: str) -> str:
        return await self._record("team_broadcast", caller, text=text)

    async def team_results(self, caller: Caller) -> str:
        return await self._record("team_results", caller)

    async def team_tasks_list(self, caller: Caller) -> str:
        return await self._record("team_tasks_list", caller)

    async def team_tasks_add(self, caller: Caller, specs: list[TaskSpec]) -> str:
        return await self._record("team_tasks_add", caller, specs=specs)

    async def team_tasks_complete(self, caller: Caller, task_id: str, result: str | None) -> str:
        return await self._record("team_tasks_complete", caller, task_id=task_id, result=result)

    async def team_claim(self, caller: Caller, task_id: str) -> str:
        return await self._record("team_claim", caller, task_id=task_id)

    async def team_review(self, caller: Caller, verdict: str, reasons: str) -> str:
        return await self._record("team_review", caller, verdict=verdict, reasons=reasons)


class FakeClock:
    """A monotonic clock that only moves when a test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def operations() -> RecordingOperations:
    return RecordingOperations()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def tool_server(
    operations: RecordingOperations, clock: FakeClock
) -> AsyncIterator[TeamToolServer]:
    """A started server with room for 5 quick calls, refilled at 1 call per (fake) second."""
    async with TeamToolServer(operations, rate=1.0, burst=5, clock=clock) as server:
        yield server


async def post_jsonrpc(
    url: str, token: str | None, method: str, params: dict[str, Any] | None = None
) -> httpx.Response:
    """One raw JSON-RPC request, as any HTTP client could send it (no MCP client)."""
    headers = {"Accept": "application/json, text/event-stream"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params or {}}
    async with httpx.AsyncClient(timeout=30) as http:
        return await http.post(url, json=body, headers=headers)


@asynccontextmanager
async def mcp_session(url: str, token: str | None) -> AsyncIterator[ClientSession]:
    """An initialized SDK client session that sends *token* as a bearer token."""
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    async with (
        httpx.AsyncClient(headers=headers, timeout=30) as http,
        streamable_http_client(url, http_client=http) as (read, write, _),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


def text_of(result: types.CallToolResult) -> str:
    """The single text a team tool answers with."""
    assert len(result.content) == 1
    content = result.content[0]
    assert isinstance(content, types.TextContent)
    return content.text
