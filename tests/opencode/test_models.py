"""Parsing real payloads recorded from OpenCode 1.18.33 (tests/fixtures/opencode-1.18.33)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from ensemble_tui.opencode.events import (
    EVENT_TYPES,
    MessageUpdated,
    PartDelta,
    PartUpdated,
    PermissionAsked,
    QuestionAsked,
    SessionStatusChanged,
    UnknownEvent,
    parse_event,
    parse_global_event,
)
from ensemble_tui.opencode.models import (
    AssistantMessage,
    BusyStatus,
    MessageWithParts,
    ReasoningPart,
    RetryStatus,
    StepFinishPart,
    TextPart,
    ToolCompleted,
    ToolPart,
    UnknownPart,
    UnknownStatus,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "opencode-1.18.33"


def recorded_frames() -> list[dict[str, Any]]:
    lines = (FIXTURES / "global-events.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def test_every_recorded_event_of_a_known_type_parses_into_its_model() -> None:
    frames = recorded_frames()
    parsed = [parse_global_event(frame) for frame in frames]
    known = 0
    for frame, event in zip(frames, parsed, strict=True):
        wire_type = frame["payload"]["type"]
        if wire_type == "sync":
            assert event is None, "sync duplicates are dropped"
            continue
        assert event is not None
        if wire_type in EVENT_TYPES:
            known += 1
            assert type(event.event) is EVENT_TYPES[wire_type], wire_type
        else:
            assert isinstance(event.event, UnknownEvent)
            assert event.event.type == wire_type
    assert known > 60


def test_streamed_text_tool_parts_and_requests_carry_their_fields() -> None:
    events = [e.event for e in map(parse_global_event, recorded_frames()) if e is not None]
    deltas = [e for e in events if isinstance(e, PartDelta)]
    assert deltas
    assert all(d.part_id.startswith("prt_") and d.field == "text" for d in deltas)

    tools = [e.part for e in events if isinstance(e, PartUpdated) and isinstance(e.part, ToolPart)]
    done = [part for part in tools if isinstance(part.state, ToolCompleted)]
    assert {part.tool for part in done} >= {"write", "bash"}
    written = [p.state for p in done if p.tool == "write" and isinstance(p.state, ToolCompleted)]
    assert any(state.input.get("filePath") for state in written)

    statuses = [e.status for e in events if isinstance(e, SessionStatusChanged)]
    assert any(isinstance(status, BusyStatus) for status in statuses)

    (permission,) = [e.request for e in events if isinstance(e, PermissionAsked)]
    assert permission.permission == "external_directory"
    assert permission.id.startswith("per_")
    assert permission.metadata["filepath"].endswith("x.txt")
    (question,) = [e.request for e in events if isinstance(e, QuestionAsked)]
    assert [option.label for option in question.questions[0].options] == ["red", "blue"]

    finished = [
        e.info
        for e in events
        if isinstance(e, MessageUpdated) and isinstance(e.info, AssistantMessage) and e.info.finish
    ]
    assert "tool-calls" in {message.finish for message in finished}


def test_recorded_session_messages_parse_with_tokens_and_parts() -> None:
    adapter = TypeAdapter(list[MessageWithParts])
    messages = adapter.validate_json((FIXTURES / "session-messages.json").read_bytes())
    roles = [m.info.role for m in messages]
    assert roles == ["user", "assistant", "assistant", "assistant"]
    parts = [part for message in messages for part in message.parts]
    assert any(isinstance(p, ReasoningPart) and p.text == "thinking hard" for p in parts)
    assert any(isinstance(p, TextPart) and "hello.txt" in p.text for p in parts)
    finishes = [p for p in parts if isinstance(p, StepFinishPart)]
    assert len(finishes) == 3
    assert all(p.tokens.input > 0 and p.tokens.output > 0 for p in finishes)


def test_unknown_types_are_kept_not_fatal() -> None:
    event = parse_event({"type": "brand.new", "properties": {"x": 1}})
    assert isinstance(event, UnknownEvent)
    assert event.properties == {"x": 1}

    odd = parse_event({"type": "session.status", "properties": {"sessionID": "ses_1"}})
    assert isinstance(odd, UnknownEvent), "a known type that no longer fits is kept as unknown"

    status = parse_event(
        {"type": "session.status", "properties": {"sessionID": "s", "status": {"type": "nap"}}}
    )
    assert isinstance(status, SessionStatusChanged)
    assert isinstance(status.status, UnknownStatus)

    retry = parse_event(
        {
            "type": "session.status",
            "properties": {
                "sessionID": "s",
                "status": {"type": "retry", "attempt": 2, "message": "overloaded", "next": 5},
            },
        }
    )
    assert isinstance(retry, SessionStatusChanged)
    assert isinstance(retry.status, RetryStatus)
    assert retry.status.next == 5

    part = parse_event(
        {
            "type": "message.part.updated",
            "properties": {"sessionID": "s", "part": {"type": "hologram", "id": "prt_1"}},
        }
    )
    assert isinstance(part, PartUpdated)
    assert isinstance(part.part, UnknownPart)
    assert parse_global_event({"payload": "not an object"}) is None


def test_the_older_permission_event_name_is_accepted() -> None:
    event = parse_event(
        {
            "type": "permission.updated",
            "properties": {"id": "per_1", "sessionID": "ses_1", "permission": "bash"},
        }
    )
    assert isinstance(event, PermissionAsked)
    assert event.request.permission == "bash"


def test_the_fast_delta_path_gives_what_full_validation_gives() -> None:
    """Deltas skip pydantic validation once their fields are checked; odd ones do not."""
    for frame in recorded_frames():
        payload = frame["payload"]
        if payload["type"] != PartDelta.TYPE:
            continue
        fast = parse_event(payload)
        full = PartDelta.model_validate({"id": payload["id"], **payload["properties"]})
        assert isinstance(fast, PartDelta)
        assert (fast.id, fast.session_id, fast.message_id, fast.part_id, fast.field) == (
            full.id,
            full.session_id,
            full.message_id,
            full.part_id,
            full.field,
        )
        assert fast.delta == full.delta
        assert fast.model_fields_set == full.model_fields_set | {"id", "type"}
    missing = {"sessionID": "s", "messageID": "m", "partID": "p", "delta": "x"}
    defaulted = parse_event({"type": PartDelta.TYPE, "properties": missing})
    assert isinstance(defaulted, PartDelta), "a missing field falls back to validation"
    assert defaulted.field == "text"
    one = parse_event({"type": PartDelta.TYPE, "properties": {**missing, "field": "text"}})
    other = parse_event({"type": PartDelta.TYPE, "properties": {**missing, "field": "text"}})
    assert isinstance(one, PartDelta)
    assert isinstance(other, PartDelta)
    one.delta = "changed"  # what pydantic does then leaves other deltas as they were
    assert other.model_fields_set == set(PartDelta.model_fields)
    assert other.delta == "x"
    odd = parse_event({"type": PartDelta.TYPE, "properties": {**missing, "delta": 7}})
    assert isinstance(odd, UnknownEvent), "a delta that is not text is kept as unknown"
    assert parse_event({"type": 5, "id": 3}).id is None


def test_the_fast_status_path_gives_what_full_validation_gives() -> None:
    """Busy and idle skip validation; anything else about a status is validated."""
    recorded = [
        frame["payload"]
        for frame in recorded_frames()
        if frame["payload"]["type"] == SessionStatusChanged.TYPE
    ]
    assert {payload["properties"]["status"]["type"] for payload in recorded} >= {"busy", "idle"}
    for payload in recorded:
        fast = parse_event(payload)
        full = SessionStatusChanged.model_validate(
            {"id": payload["id"], "type": payload["type"], **payload["properties"]}
        )
        assert fast == full
        assert fast.model_fields_set == full.model_fields_set
        assert isinstance(fast, SessionStatusChanged)
        assert fast.status.model_fields_set == full.status.model_fields_set
        assert (fast.model_extra, fast.status.model_extra) == ({}, {})
    kept = parse_event(
        {"type": "session.status", "properties": {"sessionID": "s", "status": {"type": "idle"}}}
    )
    assert isinstance(kept, SessionStatusChanged)
    assert kept.id is None
    retry = {"type": "retry", "attempt": 2, "message": "busy", "next": 5}
    for properties in (
        {"sessionID": "s", "status": retry},
        {"sessionID": "s", "status": {"type": "busy"}, "more": 1},
        {"sessionID": "s", "status": {"type": "busy", "since": 3}},
    ):
        odd = parse_event({"type": "session.status", "id": "e", "properties": properties})
        full = SessionStatusChanged.model_validate(
            {"id": "e", "type": "session.status", **properties}
        )
        assert odd == full, properties
        assert odd.model_extra == full.model_extra
    bad = parse_event({"type": "session.status", "properties": {"sessionID": 5, "status": {}}})
    assert isinstance(bad, UnknownEvent)
