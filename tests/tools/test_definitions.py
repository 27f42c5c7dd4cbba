"""The tool definitions as agents see them, and the dispatcher's own guards."""

from __future__ import annotations

import json

from ensemble_tui.core.team.identity import Caller
from ensemble_tui.tools.api import LEAD_ONLY_TOOLS, REVIEWER_TOOLS
from ensemble_tui.tools.arguments import input_schema, signature
from ensemble_tui.tools.definitions import TOOLS
from ensemble_tui.tools.dispatch import UNAUTHORIZED_TEXT, ToolDispatcher
from ensemble_tui.tools.ratelimit import RateLimiter
from tests.tools.conftest import ALICE, LEAD, FakeClock, RecordingOperations


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


REVIEWER = Caller(
    member="carl's reviewer", is_lead=False, team_id=7, session_id="s", reviews="carl"
)


async def test_a_reviewer_may_call_team_review_and_nothing_else() -> None:
    operations = RecordingOperations()
    dispatcher = ToolDispatcher(operations, RateLimiter(100.0, 100, clock=FakeClock()))
    for tool in sorted(set(TOOLS) - REVIEWER_TOOLS):
        outcome = await dispatcher.call(REVIEWER, tool, {})
        assert outcome.is_error, tool
        assert outcome.text.startswith(f"{tool} is not for a reviewer: you review carl's")
    assert operations.calls == []
    arguments = {"verdict": "request_changes", "reasons": "name the file"}
    outcome = await dispatcher.call(REVIEWER, "team_review", arguments)
    assert not outcome.is_error
    assert [(call.tool, call.args) for call in operations.calls] == [("team_review", arguments)]


async def test_no_one_but_a_reviewer_may_call_team_review() -> None:
    operations = RecordingOperations()
    dispatcher = ToolDispatcher(operations, RateLimiter(100.0, 100, clock=FakeClock()))
    for caller in (ALICE, LEAD):
        outcome = await dispatcher.call(caller, "team_review", {"verdict": "approve"})
        assert outcome.is_error
        assert outcome.text.startswith("team_review is for the reviewer of a branch only")
    assert operations.calls == []
