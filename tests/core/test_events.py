"""Team events: one class per type, written to the log once and read back the same."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from ensemble_tui.core.store.store import Store
from ensemble_tui.core.team.coordinator import Coordinator
from ensemble_tui.core.team.events import (
    EVENT_TYPES,
    MemberSpawned,
    MessageSent,
    ServerConnected,
    TeamEvent,
    from_record,
)

SAMPLES: dict[str, Any] = {"int": 7, "str": "x", "bool": True, "list[str]": ["a", "b"]}


def sample(cls: type[TeamEvent]) -> TeamEvent:
    """An event of *cls* with every field set (so a lost field would show)."""
    values: dict[str, Any] = {"member": "ada", "task": "t1", "text": "words"}
    for field in dataclasses.fields(cls):
        kind = str(field.type).replace(" | None", "")
        if field.name not in ("time", *values) and kind in SAMPLES:
            values[field.name] = SAMPLES[kind]
    return cls(**values)


@pytest.mark.parametrize("kind", sorted(EVENT_TYPES))
def test_every_event_reads_back_as_it_was_written(kind: str) -> None:
    event = sample(EVENT_TYPES[kind])
    record = json.loads(event.to_json())
    assert record["type"] == kind
    assert from_record(record) == event


def test_an_unknown_type_is_kept_out_not_fatal() -> None:
    assert from_record({"type": "from.the.future", "time": "2026-01-01T00:00:00+00:00"}) is None


def test_record_logs_team_events_once_and_connection_events_not_at_all(tmp_path: Path) -> None:
    client = SimpleNamespace(base_url="http://127.0.0.1:1")  # no OpenCode is asked here
    coordinator = Coordinator(tmp_path, Store(tmp_path / "state.db"), client)  # type: ignore[arg-type]
    seen: list[TeamEvent] = []
    coordinator.feed.subscribe(seen.append)
    team = coordinator.store.create_team("log", tmp_path, "ses_lead")
    coordinator.set_team(team)
    spawned = MemberSpawned(member="ada", branch="ensemble/log/ada", session="ses_ada")
    coordinator.record(spawned)
    coordinator.record(ServerConnected())
    coordinator.record(MessageSent(sender="ada", recipient="lead", text="hi", message=1))

    assert [type(e) for e in seen] == [MemberSpawned, ServerConnected, MessageSent]
    logged = [from_record(entry.detail) for entry in coordinator.store.list_events(team.id)]
    assert logged == [spawned, seen[2]]
