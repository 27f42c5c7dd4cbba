"""Tool arguments: strict pydantic models, short error texts, and the schemas agents see.

An agent that sends bad arguments gets one or two lines naming the argument and what
is allowed, plus the call's signature, never a pydantic dump; the operation is not
called.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import ErrorDetails

from ensemble_tui.core.team.identity import Caller
from ensemble_tui.tools.api import MAX_MESSAGE_BYTES, TeamOperations

MAX_TASKS_PER_CALL = 50
# Teammates one team_spawn call may start (the first and `more`).
MAX_SPAWNS_PER_CALL = 64
MAX_NAME_CHARS = 200
_ERRORS_SHOWN = 3


def _nonblank_and_short(text: str) -> str:
    """Refuse empty text and text over the message limit (counted in UTF-8 bytes)."""
    if not text.strip():
        raise ValueError("must not be empty")
    size = len(text.encode("utf-8"))
    if size > MAX_MESSAGE_BYTES:
        raise ValueError(
            f"is {size} bytes long; at most {MAX_MESSAGE_BYTES} bytes (UTF-8) are allowed: "
            "shorten it, or put the details in a file in your worktree and name the file"
        )
    return text


def _nonblank(text: str) -> str:
    """Refuse a name or an id made only of spaces."""
    if not text.strip():
        raise ValueError("must not be empty")
    return text


LongText = Annotated[str, AfterValidator(_nonblank_and_short), Field(min_length=1)]
"""Free text an agent writes (a message, a prompt, a result): not empty, size-capped."""

ShortText = Annotated[
    str, AfterValidator(_nonblank), Field(min_length=1, max_length=MAX_NAME_CHARS)
]
"""A name or an id: not empty, at most a couple of hundred characters."""


class ToolArguments(BaseModel, ABC):
    """The arguments of one tool; `call` hands them to the matching operation."""

    # Strict and closed: "true" is not a boolean and an unknown argument is a mistake.
    model_config = ConfigDict(extra="forbid", strict=True)

    tool_name: ClassVar[str]
    description: ClassVar[str]
    usage: ClassVar[str] = ""
    """How the call is written, when the generated signature would not say enough."""

    @abstractmethod
    async def call(self, operations: TeamOperations, caller: Caller) -> str:
        """Run the operation this tool stands for and return its text for the agent."""


def _location(loc: tuple[int | str, ...]) -> str:
    """Render a pydantic error location as an argument path: `tasks[2].priority`."""
    path = ""
    for step in loc:
        path += f"[{step}]" if isinstance(step, int) else (f".{step}" if path else step)
    return path or "arguments"


def _describe(error: ErrorDetails, tool: str) -> str:
    """One readable sentence for one validation error."""
    where = _location(error["loc"])
    kind = error["type"]
    if kind == "missing":
        return f"{where} is required"
    if kind == "extra_forbidden":
        return f"{where} is not an argument of {tool}"
    if kind == "value_error":
        return f"{where} {error['msg'].removeprefix('Value error, ')}"
    if kind in ("string_too_short", "too_short") and error.get("input") in ("", []):
        return f"{where} must not be empty"
    if kind == "too_long" and "ctx" in error:
        limit = error["ctx"].get("max_length")
        return f"{where} has too many items: at most {limit} per call; split them over calls"
    return f"{where}: {error['msg']}"


def signature(model: type[ToolArguments]) -> str:
    """The call as an agent would write it: `team_message(to, text)`, with defaults."""
    if model.usage:
        return model.usage
    parts = []
    for name, field in model.model_fields.items():
        if field.is_required():
            parts.append(name)
        else:
            default = field.get_default(call_default_factory=True)
            parts.append(f"{name}={json.dumps(default)}")
    return f"{model.tool_name}({', '.join(parts)})"


def explain(error: ValidationError, model: type[ToolArguments]) -> str:
    """A short error text for an agent: what is wrong, and how the call is written."""
    problems = [_describe(detail, model.tool_name) for detail in error.errors()]
    shown = "; ".join(problems[:_ERRORS_SHOWN])
    if len(problems) > _ERRORS_SHOWN:
        shown += f"; and {len(problems) - _ERRORS_SHOWN} more"
    return f"bad arguments for {model.tool_name}: {shown}. Usage: {signature(model)}"


def _inline(schema: Any, defs: dict[str, Any]) -> Any:
    """Replace `$ref`s by their definitions and drop titles: some model APIs reject refs."""
    if isinstance(schema, list):
        return [_inline(item, defs) for item in schema]
    if not isinstance(schema, dict):
        return schema
    if "$ref" in schema:
        return _inline(defs[schema["$ref"].rsplit("/", 1)[-1]], defs)
    inlined: dict[str, Any] = {}
    for key, value in schema.items():
        if key in ("title", "$defs"):
            continue
        if key == "properties":
            inlined[key] = {name: _inline(sub, defs) for name, sub in value.items()}
        else:
            inlined[key] = _inline(value, defs)
    return inlined


def input_schema(model: type[ToolArguments]) -> dict[str, Any]:
    """The tool's JSON schema as agents see it: self-contained, closed, with descriptions."""
    schema = model.model_json_schema()
    inlined: dict[str, Any] = _inline(schema, schema.get("$defs", {}))
    inlined.setdefault("properties", {})
    return inlined
