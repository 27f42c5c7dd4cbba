"""The contract between the MCP tool server and the coordinator.

The MCP server authenticates a call (bearer token -> `Caller`), enforces lead-only
tools and the rate limit, validates the arguments, and then calls one method of
`TeamOperations` (the core's `TeamTools`). Each method returns short, readable text for
the agent, or raises an `EnsembleError` (the core's `Refused`, a `StoreError`...) whose
message goes back to the agent as the error text. Anything else is a bug: the server
turns it into a generic error text and logs it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol

from pydantic import BaseModel, Field

from ensemble_tui.core.team.identity import Caller
from ensemble_tui.core.team.spawn import SpawnRequest
from ensemble_tui.core.team.task_specs import TaskSpec

Priority = Literal["high", "medium", "low"]

LEAD_ONLY_TOOLS = frozenset(
    {
        "team_create",
        "team_spawn",
        "team_shutdown",
        "team_merge",
        "team_choose",
        "team_cleanup",
        "team_view",
    }
)

REVIEWER_TOOLS = frozenset({"team_review"})
"""The tools of a reviewer session, and the only ones it may call."""

MAX_MESSAGE_BYTES = 10 * 1024


class NewTask(BaseModel):
    """One task of a `team_tasks_add` call."""

    content: str = Field(description="What to do, in one or two sentences.")
    priority: Priority = Field(default="medium", description="high, medium or low.")
    depends_on: list[str] = Field(
        default_factory=list,
        description="Ids of tasks that must be completed first (e.g. ['t1', 't2']).",
    )


class TeamOperations(Protocol):
    """What the coordinator offers the agents. Every method returns text for the agent."""

    def identify(self, token: str) -> Caller | None:
        """The caller a bearer token belongs to, or None for an unknown token."""
        ...

    async def team_create(self, caller: Caller, name: str) -> str: ...

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
    ) -> str: ...

    async def team_fork(
        self,
        caller: Caller,
        name: str,
        prompt: str,
        agent: str | None,
        model: str | None,
        from_message: str | None,
    ) -> str: ...

    async def team_choose(self, caller: Caller, member: str) -> str: ...

    async def team_handoff(
        self, caller: Caller, mode: str, text: str, agent: str | None, member: str | None
    ) -> str: ...

    async def team_shutdown(self, caller: Caller, member: str, force: bool) -> str: ...

    async def team_merge(self, caller: Caller, member: str) -> str: ...

    async def team_cleanup(self, caller: Caller) -> str: ...

    async def team_view(self, caller: Caller, member: str) -> str: ...

    async def team_status(self, caller: Caller) -> str: ...

    async def team_message(self, caller: Caller, to: str, text: str) -> str: ...

    async def team_broadcast(self, caller: Caller, text: str) -> str: ...

    async def team_results(self, caller: Caller) -> str: ...

    async def team_tasks_list(self, caller: Caller) -> str: ...

    async def team_tasks_add(self, caller: Caller, specs: list[TaskSpec]) -> str: ...

    async def team_tasks_complete(
        self, caller: Caller, task_id: str, result: str | None
    ) -> str: ...

    async def team_claim(self, caller: Caller, task_id: str) -> str: ...

    async def team_review(self, caller: Caller, verdict: str, reasons: str) -> str: ...
