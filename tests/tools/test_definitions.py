"""The tool definitions as agents see them, and the dispatcher's own guards."""

from __future__ import annotations

import json

from ensemble_tui.tools.api import LEAD_ONLY_TOOLS
from ensemble_tui.tools.arguments import input_schema, signature
from ensemble_tui.tools.definitions import TOOLS
from ensemble_tui.tools.dispatch import UNAUTHORIZED_TEXT, ToolDispatcher
from ensemble_tui.tools.ratelimit import RateLimiter
from tests.tools.conftest import ALICE, FakeClock, RecordingOperations


def _all_schemas(schema: object) -> list[dict[str, object]]:
    """Every schema object nested in *schema*, itself included."""
    found: list[dict[str, object]] = []
    if isinstance(schema, dict):
        found.append(schema)
        for value in schema.values():
            found.extend(_all_schemas(value))
    elif isinstance(schema, list):
        for item in schema:
            found.extend(_all_schemas(item))
    return found


def test_every_schema_is_self_contained_closed_and_described() -> None:
    for name, model in TOOLS.items():
        schema = input_schema(model)
        text = json.dumps(schema)
        assert "$ref" not in text, name
        assert "$defs" not in text, name
        assert schema["type"] == "object"
        objects = [sub for sub in _all_schemas(schema) if sub.get("type") == "object"]
        assert all(sub.get("additionalProperties") is False for sub in objects), name
        for argument, prop in schema["properties"].items():
            assert prop.get("description"), f"{name}.{argument} has no description"


def test_descriptions_are_written_for_agents() -> None:
    for name, model in TOOLS.items():
        assert 60 <= len(model.description) <= 600, name
        assert model.description.startswith("Lead only.") == (name in LEAD_ONLY_TOOLS), name


def test_signatures_show_required_arguments_and_defaults() -> None:
    assert signature(TOOLS["team_message"]) == "team_message(to, text)"
    assert signature(TOOLS["team_shutdown"]) == "team_shutdown(member, force=false)"
    assert signature(TOOLS["team_cleanup"]) == "team_cleanup()"
    assert '"priority": "medium"' in signature(TOOLS["team_tasks_add"])


async def test_a_call_without_a_caller_is_refused_before_anything_else() -> None:
    operations = RecordingOperations()
    dispatcher = ToolDispatcher(operations, RateLimiter(1.0, 1, clock=FakeClock()))
    outcome = await dispatcher.call(None, "team_status", {})
    assert outcome.is_error
    assert outcome.text == UNAUTHORIZED_TEXT
    assert operations.calls == []


async def test_an_unknown_tool_is_named_with_the_known_ones() -> None:
    operations = RecordingOperations()
    dispatcher = ToolDispatcher(operations, RateLimiter(1.0, 1, clock=FakeClock()))
    outcome = await dispatcher.call(ALICE, "team_dance", {})
    assert outcome.is_error
    assert "unknown tool 'team_dance'" in outcome.text
    assert "team_claim" in outcome.text
