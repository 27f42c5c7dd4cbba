"""What OpenCode's events change is written in as few commits as the stream allows, and
always committed before anything is sent."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from ensemble_tui.core.models import MemberStatus
from ensemble_tui.core.team.coordinator import Coordinator
from ensemble_tui.core.team.sessions import SessionState
from ensemble_tui.opencode.events import Event, parse_frame_event
from tests.tui.scenes import build_scene


def status(session_id: str, kind: str) -> Event:
    frame = {
        "payload": {
            "type": "session.status",
            "properties": {"sessionID": session_id, "status": {"type": kind}},
        }
    }
    event = parse_frame_event(frame)
    assert event is not None
    return event


def team_with_nothing_waiting(folder: Path) -> Coordinator:
    """The screen's team scene (a real store and git repository), every message delivered."""
    coordinator = build_scene(folder, "team").coordinator
    team = coordinator.require_team()
    for state in coordinator.sessions:
        for message in coordinator.store.list_undelivered(team.id, state.member):
            coordinator.store.mark_delivered(message.id, state.member)
    return coordinator


def committed_status(path: Path, team_id: int, name: str) -> str:
    """The member's status as another connection sees it: only what was committed."""
    with sqlite3.connect(path) as other:
        row = other.execute(
            "SELECT status FROM members WHERE team_id = ? AND name = ?", (team_id, name)
        ).fetchone()
    return str(row[0])


async def test_turns_ending_with_nothing_to_deliver_share_one_commit(tmp_path: Path) -> None:
    coordinator = team_with_nothing_waiting(tmp_path)
    store = coordinator.store
    writes_before = store.version()
    assert writes_before is not None
    events = [status("ses_alice", "busy"), status("ses_bob", "busy")]
    events += [status("ses_alice", "idle"), status("ses_bob", "idle")]
    await coordinator.reactions.handle_events(events)
    writes_after = store.version()
    assert writes_after is not None
    assert writes_after[0] == writes_before[0] + 1, "two turns' ends, one commit"
    team = coordinator.require_team()
    for name in ("alice", "bob"):
        assert committed_status(store.path, team.id, name) == MemberStatus.IDLE.value
    idles = [event for event in coordinator.feed.recent if event.type == "member.idle"]
    assert [event.member for event in idles[-2:]] == ["alice", "bob"]


async def test_a_delivery_at_a_turns_end_goes_out_after_the_turn_is_committed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    coordinator = team_with_nothing_waiting(tmp_path)
    store = coordinator.store
    team = coordinator.require_team()
    store.add_message(team.id, "lead", "alice", "One more thing: add a docstring.")
    seen: list[str] = []

    # A stand-in for the prompt: what is committed at the moment of sending can only be
    # seen from inside the send.
    async def prompt(state: SessionState, text: str, *, system: str | None = None) -> None:
        seen.append(committed_status(store.path, team.id, state.member))
        seen.append(text)

    monkeypatch.setattr(coordinator.delivery, "_prompt", prompt)
    await coordinator.reactions.handle_events(
        [status("ses_alice", "busy"), status("ses_alice", "idle")]
    )
    assert seen[0] == MemberStatus.IDLE.value, "the turn's end was committed first"
    assert "add a docstring" in seen[1]
    assert store.list_undelivered(team.id, "alice") == []
