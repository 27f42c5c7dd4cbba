"""One tool call from an authenticated caller to one `TeamOperations` method.

The order is: who is calling, which tool, the caller's rate, reviewer-only tools (a
reviewer may call nothing else), lead-only tools, the arguments, and only then the
operation. Every refusal and every failure becomes a
short error text for the agent; nothing escapes to the transport.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from ensemble_tui.core.team.identity import Caller
from ensemble_tui.errors import EnsembleError
from ensemble_tui.tools.api import LEAD_ONLY_TOOLS, REVIEWER_TOOLS, TeamOperations
from ensemble_tui.tools.arguments import explain
from ensemble_tui.tools.definitions import TOOLS
from ensemble_tui.tools.ratelimit import RateLimiter, refusal_text

logger = logging.getLogger(__name__)

UNAUTHORIZED_TEXT = (
    "not allowed: this connection carries no valid ensemble-tui member token, "
    "so the team tools are not available to it"
)


@dataclass(frozen=True)
class ToolOutcome:
    """What goes back to the agent: text, and whether it is an error."""

    text: str
    is_error: bool = False


def _refused(text: str) -> ToolOutcome:
    return ToolOutcome(text=text, is_error=True)


def rate_key(caller: Caller) -> str:
    """The rate-limit bucket of a caller: one per member of one team."""
    return f"{caller.team_id}:{caller.member}"


class ToolDispatcher:
    """Checks a call and runs it against the operations; never raises."""

    def __init__(self, operations: TeamOperations, limiter: RateLimiter) -> None:
        self.operations = operations
        self.limiter = limiter

    async def call(
        self, caller: Caller | None, tool: str, arguments: dict[str, Any]
    ) -> ToolOutcome:
        """Run one tool call for *caller* and return the agent's answer."""
        if caller is None:
            return _refused(UNAUTHORIZED_TEXT)
        model = TOOLS.get(tool)
        if model is None:
            return _refused(f"unknown tool {tool!r}; the team tools are: {', '.join(TOOLS)}")
        wait = self.limiter.try_acquire(rate_key(caller))
        if wait > 0:
            logger.info("rate limit: %s called %s too often", caller.member, tool)
            return _refused(refusal_text(wait))
        if caller.reviews is not None and tool not in REVIEWER_TOOLS:
            return _refused(
                f"{tool} is not for a reviewer: you review {caller.reviews}'s branch, and the "
                "only team tool you may call is team_review (verdict 'approve' or "
                "'request_changes', with your reasons)."
            )
        if tool in REVIEWER_TOOLS and caller.reviews is None:
            return _refused(
                f"{tool} is for the reviewer of a branch only; you are {caller.member!r}. "
                "Reviews run on their own when a teammate's check passes."
            )
        if tool in LEAD_ONLY_TOOLS and not caller.is_lead:
            return _refused(
                f"{tool} is for the lead only; you are the teammate {caller.member!r}. "
                'Ask the lead with team_message(to="lead", text=...) if it is needed.'
            )
        try:
            parsed = model.model_validate(arguments)
        except ValidationError as error:
            return _refused(explain(error, model))
        try:
            text = await parsed.call(self.operations, caller)
        except EnsembleError as error:
            # A refusal, or a state the user can cause (a git or store problem): said plainly.
            return _refused(str(error))
        except Exception as error:
            # The coordinator must survive any bug behind one tool; the log keeps the trace.
            logger.exception("team tool %s failed for %s", tool, caller.member)
            return _refused(f"internal error in ensemble-tui: {type(error).__name__}: {error}")
        return ToolOutcome(text=text)
