"""Member status from OpenCode events (SessionState), fed recorded and hand-made events."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from ensemble_tui.core.models import MemberStatus
from ensemble_tui.core.team import sessions
from ensemble_tui.core.team.sessions import COUNTED_STEPS_KEPT, SessionState
from ensemble_tui.core.team.spawn import is_plan_approval
from ensemble_tui.core.team.team_tools import is_acknowledgement
from ensemble_tui.opencode.events import Event, PartDelta, parse_event

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "opencode-1.18.33"


def event(kind: str, **properties: Any) -> Event:
    return parse_event({"type": kind, "properties": {"sessionID": "ses_1", **properties}})


def status(kind: str, **extra: Any) -> Event:
    return event("session.status", status={"type": kind, **extra})


@pytest.fixture
def state() -> SessionState:
    return SessionState("alice", "ses_1", "/wt/alice")


def test_a_prompted_session_works_until_busy_then_idle(state: SessionState) -> None:
    state.prompt_sent()
    assert state.status() is MemberStatus.WORKING
    early_idle = state.apply(status("idle"))
    assert not early_idle.turn_ended, "an idle from before the prompt is stale"
    assert state.apply(status("busy")).status is None
    ended = state.apply(status("idle"))
    assert ended.turn_ended
    assert ended.status is MemberStatus.IDLE
    assert not state.apply(event("session.idle")).turn_ended, "the deprecated idle is a duplicate"


def test_an_old_idle_without_busy_ends_the_turn_after_the_grace(
    state: SessionState, monkeypatch: pytest.MonkeyPatch
) -> None:
    state.prompt_sent()
    monkeypatch.setattr(sessions, "STALE_IDLE_GRACE", 0.0)
    assert state.apply(status("idle")).turn_ended


def test_an_answered_abort_ends_the_turn_and_the_nudge_queued_behind_it(
    state: SessionState,
) -> None:
    """A nudge sent to a busy teammate, then its turn aborted (timed out, shut down by
    force): OpenCode drops the queued nudge with the turn (seen on 1.18.33). The abort's
    idle, arriving within the grace after the nudge, was taken for a stale idle, and the
    team settled only at the resync 10 s after the nudge."""
    state.apply(status("busy"))
    state.prompt_sent()
    assert not state.apply(status("idle")).turn_ended, "the abort's idle, before its answer"
    state.turn_aborted()
    assert state.idle
    assert state.status() is MemberStatus.IDLE

    state.apply(status("busy"))
    state.prompt_sent()
    state.turn_aborted()
    assert state.idle
    assert not state.apply(status("idle")).turn_ended, "the abort's idle, after its answer"
    assert state.idle


def test_permissions_questions_retries_and_errors_show(state: SessionState) -> None:
    state.apply(status("busy"))
    asked = event("permission.asked", id="per_1", permission="bash", patterns=["rm x"])
    assert state.apply(asked).status is MemberStatus.NEEDS_PERMISSION
    assert state.apply(event("permission.replied", requestID="per_1", reply="once")).status is (
        MemberStatus.WORKING
    )
    question = event("question.asked", id="que_1", questions=[{"question": "Which?"}])
    assert state.apply(question).status is MemberStatus.NEEDS_ANSWER
    state.apply(event("question.replied", requestID="que_1", answers=[["a"]]))
    retry = state.apply(status("retry", attempt=1, message="overloaded", next=123))
    assert retry.status is MemberStatus.RATE_LIMITED
    assert state.retrying_until == 123
    failed = state.apply(
        event("session.error", error={"name": "APIError", "data": {"message": "boom"}})
    )
    assert failed.error == "boom"
    assert state.apply(status("idle")).status is MemberStatus.ERROR
    state.prompt_sent()
    assert state.status() is MemberStatus.WORKING, "a new prompt clears the error"


def test_an_abort_is_not_an_error(state: SessionState) -> None:
    state.apply(status("busy"))
    aborted = {"name": "MessageAbortedError", "data": {"message": "Aborted"}}
    assert state.apply(event("session.error", error=aborted)).error is None
    assert state.apply(status("idle")).status is MemberStatus.IDLE


def test_a_turn_the_human_stopped_ends_saying_so_once(state: SessionState) -> None:
    state.apply(status("busy"))
    state.stop_requested = True
    aborted = {"name": "MessageAbortedError", "data": {"message": "Aborted"}}
    state.apply(event("session.error", error=aborted))
    assert state.apply(status("idle")).stopped_by_human
    state.prompt_sent()
    state.apply(status("busy"))
    assert not state.apply(status("idle")).stopped_by_human, "the next turn ends normally"


def test_recorded_turn_counts_each_step_once() -> None:
    frames = [
        json.loads(line) for line in (FIXTURES / "global-events.jsonl").read_text().splitlines()
    ]
    first = next(f for f in frames if f["payload"]["type"] == "session.created")
    session_id = first["payload"]["properties"]["sessionID"]
    state = SessionState("alice", session_id, first["directory"])
    usage = 0
    for frame in frames * 2:  # replayed twice, as after a reconnect
        payload = frame["payload"]
        if payload.get("properties", {}).get("sessionID") == session_id:
            change = state.apply(parse_event(payload))
            if change.usage is not None:
                usage += change.usage[0].output
    assert usage > 0
    assert len(state.counted_steps) >= 1
    assert state.model is not None
    assert str(state.model) == "scripted/script"


@pytest.mark.parametrize(
    ("text", "ack"),
    [
        ("Thanks!", True),
        ("ok, got it", True),
        ("Great work, bob.", True),
        ("OK, thanks a lot, lead!", True),
        ("Received. Will do.", True),
        ("Thanks, but can you also add tests?", False),
        ("Please rebase on t2 and run the tests again before reporting.", False),
        ("OK " + "x" * 200, False),
        # Reports that open with a polite word carry content: they must be delivered.
        ("OK, t1 is finished: alice.txt is written and committed on my branch.", False),
        ("Great, done with t2.", False),
        ("Noted: the API moved to api/v2, use that.", False),
        ("Thanks, carol", False),  # carol is not a member addressed here: content
        ("", False),
    ],
)
def test_acknowledgements_are_recognised(text: str, ack: bool) -> None:
    assert is_acknowledgement(text, names=("bob", "lead")) is ack


@pytest.mark.parametrize(
    ("text", "approves"),
    [
        ("Approved.", True),
        ("plan approved, but keep it small", True),
        ("LGTM", True),
        ("go ahead", True),
        ("Not approved: split it in two", False),
        ("Please change step 2 before I approve", False),
    ],
)
def test_plan_approvals_are_recognised(text: str, approves: bool) -> None:
    assert is_plan_approval(text) is approves


def test_counted_steps_stay_bounded_and_still_count_each_step_once() -> None:
    """Per-message bookkeeping is pruned: a long session keeps a bounded set of step ids."""
    state = SessionState("alice", "ses_a", "/tmp")
    for number in range(COUNTED_STEPS_KEPT * 3):
        assert state.apply(step_finish(f"prt_{number}")).usage is not None
    assert len(state.counted_steps) <= COUNTED_STEPS_KEPT
    assert state.apply(step_finish(f"prt_{COUNTED_STEPS_KEPT * 3 - 1}")).usage is None


def test_a_delta_is_activity_and_nothing_else_for_the_coordinator() -> None:
    state = SessionState("alice", "ses_a", "/tmp")
    delta = PartDelta.model_validate(
        {"sessionID": "ses_a", "messageID": "m", "partID": "p", "delta": "x"}
    )
    change = state.apply(delta)
    assert change.activity
    assert state.produced_output
    assert not change.matters
    state.stalled, state.busy = True, True
    assert state.apply(delta).status is MemberStatus.WORKING, "a stalled member is working again"


def step_finish(part_id: str) -> Event:
    part = {
        "id": part_id,
        "sessionID": "ses_a",
        "messageID": "msg_1",
        "type": "step-finish",
        "tokens": {"input": 1, "output": 1, "reasoning": 0, "cache": {"read": 0, "write": 0}},
        "cost": 0,
    }
    return parse_event(
        {"type": "message.part.updated", "properties": {"sessionID": "ses_a", "part": part}}
    )


def test_a_retry_that_cannot_connect_is_an_error_at_once(state: SessionState) -> None:
    """OpenCode retries a provider it cannot reach for minutes; that is no rate limit."""
    state.prompt_sent()
    state.apply(status("busy"))
    message = "Cannot connect to API: Unable to connect. Is the computer able to access the url?"
    first = state.apply(status("retry", attempt=1, message=message, next=123))
    assert first.unreachable == message
    assert first.status is MemberStatus.ERROR
    assert state.retrying_until is None
    again = state.apply(status("retry", attempt=2, message=message, next=456))
    assert again.unreachable is None, "said once per turn"
    ended = state.apply(status("idle"))
    assert ended.status is MemberStatus.ERROR
    assert ended.failed_start is None, "the error was said already"


def test_a_refused_key_is_an_error_and_a_busy_provider_still_waits(state: SessionState) -> None:
    state.apply(status("busy"))
    refused = state.apply(status("retry", attempt=1, message="401 Unauthorized", next=1))
    assert refused.status is MemberStatus.ERROR
    state.prompt_sent()
    state.apply(status("busy"))
    busy = state.apply(status("retry", attempt=1, message="Provider is overloaded", next=9))
    assert busy.unreachable is None
    assert busy.status is MemberStatus.RATE_LIMITED


def test_events_passed_over_as_changing_nothing_would_have_changed_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every recorded event of a session, from a fresh, a busy and a stalled state: what
    `apply` gives through its quick exit is what the whole fold gives, state included."""
    frames = [
        json.loads(line) for line in (FIXTURES / "global-events.jsonl").read_text().splitlines()
    ]
    events = [parse_event(frame["payload"]) for frame in frames]
    passed_over = 0
    for busy, stalled in ((False, False), (True, False), (True, True)):
        state = SessionState("alice", "ses_1", "/wt/alice", busy=busy, stalled=stalled)
        for recorded in events:
            quick, whole = copy.deepcopy(state), copy.deepcopy(state)
            got = quick.apply(recorded)
            with monkeypatch.context() as patched:
                patched.setattr(SessionState, "_changes_nothing", lambda self, event: False)
                wanted = whole.apply(recorded)
            passed_over += got is sessions.UNCHANGED
            assert got == wanted, recorded.type
            quick.last_activity = whole.last_activity
            assert quick == whole, recorded.type
            state = quick
    assert passed_over > len(events), "most recorded events change nothing"
