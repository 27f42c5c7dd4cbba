"""The activity counter and the spend history behind the screen's sparklines."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ensemble_tui.core.models import utc_now
from ensemble_tui.core.team.activity import ActivityCounter, SpendHistory, TeamGlance
from ensemble_tui.demo.script import script_block
from tests.conftest import TeamOptions, running_team

NOW = datetime(2026, 1, 15, 14, 30, tzinfo=UTC)


def test_counts_land_in_their_bucket_and_a_quiet_tail_shows() -> None:
    counter = ActivityCounter(bucket_seconds=5, window_seconds=60)
    for seconds_ago in (54, 53, 40, 40, 40, 12, 61):
        counter.record("alice", NOW - timedelta(seconds=seconds_ago))
    series = counter.series("alice", NOW)
    assert len(series) == 12
    assert sum(series) == 6, "every event of the last minute, once"
    assert series[-2:] == [0, 0], "the last 12 seconds were quiet"
    assert max(series) == 3
    assert counter.quiet_for("alice", NOW) == 12
    assert counter.quiet_for("bob", NOW) is None
    assert counter.series("bob", NOW) == [0] * 12


def test_old_buckets_leave_the_window_and_are_forgotten() -> None:
    counter = ActivityCounter(bucket_seconds=5, window_seconds=60)
    counter.record("alice", NOW - timedelta(minutes=10))
    for step in range(30):
        counter.record("alice", NOW - timedelta(seconds=5 * step))
    assert sum(counter.series("alice", NOW)) == 12, "only the last minute is drawn"
    assert len(counter._counts["alice"]) <= 2 * counter.buckets


def test_spend_repeats_the_last_sample_in_buckets_without_one() -> None:
    spend = SpendHistory(bucket_seconds=30, window_seconds=300)
    assert spend.tokens(NOW) == [], "nothing noted yet, nothing drawn"
    spend.note(1000, 0.01, NOW - timedelta(seconds=200))
    spend.note(1500, 0.02, NOW - timedelta(seconds=100))
    spend.note(4000, 0.05, NOW)
    tokens = spend.tokens(NOW)
    assert len(tokens) == 10
    assert tokens[0] == 1000, "before the first sample, the first one stands"
    assert tokens == sorted(tokens), "running totals never fall"
    assert tokens[-1] == 4000
    assert spend.cost(NOW)[-1] == 0.05


async def test_a_members_turn_in_the_real_opencode_is_counted(
    team_options: TeamOptions,
) -> None:
    prompt = "Say hello.\n\n" + script_block({"text": "Hello from a streamed reply, " * 4})
    async with running_team(team_options()) as coordinator:
        glance = TeamGlance(coordinator)
        seen: list[str] = []
        unlisten = coordinator.add_session_listener(lambda state, event: seen.append(state.member))
        lead = await coordinator.start_lead()
        await coordinator.prompt(lead, prompt)
        await coordinator.wait_until_settled(limit=60)
        glance.close()
        unlisten()
        counted = sum(glance.activity.series("lead", utc_now()))
        assert counted > 0, "the lead's streamed turn shows as activity"
        assert counted == seen.count("lead"), "counted per run of events: every event, once"
        assert glance.activity.quiet_for("lead", utc_now()) is not None
        assert [type(event).__name__ for event in glance.events].count("LeadStarted") == 1
        before = counted
        await coordinator.prompt(lead, "Again.\n\n" + script_block({"text": "Once more."}))
        await coordinator.wait_until_settled(limit=60)
        assert sum(glance.activity.series("lead", utc_now())) == before, "closed: no counting"
