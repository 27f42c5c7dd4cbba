"""The SQLite store: schema migrations, durability, teams, members, messages and the log."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from ensemble_tui.core.models import (
    Member,
    MemberRole,
    MemberStatus,
    MemberUpdate,
    Team,
    TeamStatus,
    validate_name,
)
from ensemble_tui.core.store.messages import _INBOX_QUERY
from ensemble_tui.core.store.schema import (
    MIGRATIONS,
    Migration,
    SchemaError,
    apply_migrations,
)
from ensemble_tui.core.store.store import Store, StoreError
from ensemble_tui.core.team.task_specs import TaskSpec
from ensemble_tui.core.team.taskboard import TaskBoard
from ensemble_tui.paths import repo_data_dir

ADD_TEAM_NOTE = Migration("a note per team", ("ALTER TABLE teams ADD COLUMN note TEXT",))


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "state.db"


@pytest.fixture
def store(db_path: Path) -> Iterator[Store]:
    with Store(db_path) as opened:
        yield opened


@pytest.fixture
def team(store: Store, tmp_path: Path) -> Team:
    team = store.create_team("alpha", tmp_path / "repo", "ses_lead")
    for name in ("alice", "bob"):
        store.add_member(Member(team_id=team.id, name=name, session_id=f"ses_{name}"))
    return team


def _pragma(path: Path, name: str) -> object:
    with sqlite3.connect(path) as connection:
        return connection.execute(f"PRAGMA {name}").fetchone()[0]


# Schema and migrations


def test_new_database_is_in_wal_mode_at_the_current_version(store: Store, db_path: Path) -> None:
    assert _pragma(db_path, "journal_mode") == "wal"
    assert _pragma(db_path, "user_version") == len(MIGRATIONS) == store.schema_version


def test_opening_a_v1_database_applies_only_the_later_migration(db_path: Path) -> None:
    with Store(db_path, migrations=MIGRATIONS[:1]) as v1:
        team = v1.create_team("alpha", Path("/repo"), "ses_lead")
    with Store(db_path, migrations=(*MIGRATIONS[:1], ADD_TEAM_NOTE)) as v2:
        assert v2.schema_version == 2
        assert v2.find_active_team("alpha") == team
    with sqlite3.connect(db_path) as connection:
        columns = [row[1] for row in connection.execute("PRAGMA table_info(teams)")]
        assert "note" in columns
        # Running the list again finds nothing to do (the ALTER would fail if re-run).
        connection.isolation_level = None
        assert apply_migrations(connection, (*MIGRATIONS[:1], ADD_TEAM_NOTE)) == 2


def test_a_failing_migration_changes_nothing(db_path: Path) -> None:
    Store(db_path, migrations=MIGRATIONS[:1]).close()
    broken = Migration("broken", ("CREATE TABLE extra (x)", "ALTER TABLE missing ADD y"))
    with pytest.raises(sqlite3.OperationalError):
        Store(db_path, migrations=(*MIGRATIONS[:1], broken))
    assert _pragma(db_path, "user_version") == 1
    with sqlite3.connect(db_path) as connection:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
    assert "extra" not in tables


def test_what_waits_to_be_delivered_is_found_by_index_not_by_scan(
    store: Store, team: Team, db_path: Path
) -> None:
    """Asked at every turn's end: a team with 100k delivered messages must not scan them."""
    inbox = _INBOX_QUERY.format(condition="AND d.delivered_at IS NULL")
    queries = [
        (
            "message_undelivered",
            "SELECT COUNT(*) FROM message_deliveries WHERE team_id = 1 AND delivered_at IS NULL",
        ),
        ("message_undelivered", inbox.replace("?", "1", 1).replace("?", "'bob'", 1)),
        (
            "notices_inbox",
            "SELECT id FROM notices WHERE team_id = 1 "
            "AND delivered_at IS NULL AND recipient = 'bob' ORDER BY id",
        ),
    ]
    with sqlite3.connect(db_path) as connection:
        for index, query in queries:
            plan = " ".join(
                str(row[-1]) for row in connection.execute("EXPLAIN QUERY PLAN " + query)
            )
            assert index in plan, plan


def test_a_database_from_a_newer_version_is_refused(db_path: Path) -> None:
    with sqlite3.connect(db_path) as connection:
        connection.execute("PRAGMA user_version = 99")
    with pytest.raises(SchemaError, match="schema version 99"):
        Store(db_path)


def test_for_repo_keeps_one_database_per_repository(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    with Store.for_repo(tmp_path / "repo") as store:
        assert store.path == repo_data_dir(tmp_path / "repo") / "state.db"
        assert store.path.exists()


# Durability


def test_a_committed_write_is_seen_by_a_second_store(store: Store, db_path: Path) -> None:
    team = store.create_team("alpha", Path("/repo"), "ses_lead")
    with Store(db_path) as other:
        assert other.find_active_team("alpha") == team
        assert [member.name for member in other.list_members(team.id)] == ["lead"]


def test_a_write_survives_kill_9_of_the_writer(db_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import os, signal
        from pathlib import Path
        from ensemble_tui.core.store.store import Store
        store = Store(Path({str(db_path)!r}))
        team = store.create_team("alpha", Path("/repo"), "ses_lead")
        store.add_message(team.id, "lead", None, "saved before the crash")
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60)
    assert done.returncode == -9, done.stderr.decode()
    with Store(db_path) as reopened:
        team = reopened.find_active_team("alpha")
        assert team is not None
        assert [m.text for m in reopened.list_messages(team.id)] == ["saved before the crash"]


# Teams


def test_team_names_are_unique_among_active_teams_and_reusable_after_archive(
    store: Store,
) -> None:
    first = store.create_team("alpha", Path("/repo"), "ses_1")
    with pytest.raises(StoreError, match="'alpha' is already active"):
        store.create_team("alpha", Path("/repo"), "ses_2")
    archived = store.archive_team(first.id)
    assert archived.status is TeamStatus.ARCHIVED
    assert archived.archived_at is not None
    assert store.find_active_team("alpha") is None
    second = store.create_team("alpha", Path("/repo"), "ses_2")
    assert second.id != first.id
    assert store.find_active_team("alpha") == second
    assert store.list_teams(TeamStatus.ARCHIVED) == [archived]
    assert store.list_teams() == [archived, second]


def test_a_bad_team_name_is_refused_with_the_rule(store: Store) -> None:
    with pytest.raises(StoreError, match=r"Team name 'Big Team' is not allowed: .*lowercase"):
        store.create_team("Big Team", Path("/repo"), "ses_1")
    assert store.list_teams() == []


def test_a_new_team_has_its_lead(store: Store) -> None:
    team = store.create_team("alpha", Path("/repo"), "ses_1", lead_model="anthropic/claude")
    lead = store.get_member(team.id, "lead")
    assert lead is not None
    assert (lead.role, lead.session_id, lead.model) == (
        MemberRole.LEAD,
        "ses_1",
        "anthropic/claude",
    )
    assert lead.worktree_path == Path("/repo")


# Members


@pytest.mark.parametrize("name", ["../x", "Alice", "a b", "", "a" * 32, "1st", "-a", "a_b"])
def test_bad_member_names_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="is not allowed"):
        validate_name("member", name)
    with pytest.raises(ValidationError, match="is not allowed"):
        Member(team_id=1, name=name)


def test_good_member_names_are_accepted() -> None:
    for name in ("a", "alice", "api-tests-2", "a" * 31):
        assert Member(team_id=1, name=name).name == name


def test_lead_name_and_role_go_together() -> None:
    with pytest.raises(ValidationError, match="reserved for the lead"):
        Member(team_id=1, name="lead")
    with pytest.raises(ValidationError, match="reserved for the lead"):
        Member(team_id=1, name="boss", role=MemberRole.LEAD)


def test_a_model_must_be_provider_slash_model() -> None:
    assert Member(team_id=1, name="a", model="openrouter/x/y").model == "openrouter/x/y"
    with pytest.raises(ValidationError, match="provider/model"):
        Member(team_id=1, name="a", model="gpt")


def test_a_member_name_is_taken_once_per_team(store: Store, team: Team) -> None:
    with pytest.raises(StoreError, match="already has a member named 'alice'"):
        store.add_member(Member(team_id=team.id, name="alice"))
    other = store.create_team("beta", Path("/repo"), "ses_other")
    store.add_member(Member(team_id=other.id, name="alice"))
    assert [m.name for m in store.list_members(team.id)] == ["lead", "alice", "bob"]


def test_members_cannot_join_an_archived_team(store: Store, team: Team) -> None:
    store.archive_team(team.id)
    with pytest.raises(StoreError, match="archived"):
        store.add_member(Member(team_id=team.id, name="carol"))


def test_update_member_writes_only_the_fields_set(store: Store, team: Team) -> None:
    before = store.get_member(team.id, "alice")
    assert before is not None
    working = store.update_member(
        team.id, "alice", MemberUpdate(status=MemberStatus.WORKING, branch="ensemble/alpha/alice")
    )
    assert working.status is MemberStatus.WORKING
    assert working.status_since > before.status_since
    assert (working.session_id, working.branch) == ("ses_alice", "ensemble/alpha/alice")
    same = store.update_member(
        team.id, "alice", MemberUpdate(status=MemberStatus.WORKING, error="transient")
    )
    assert same.status_since == working.status_since
    cleared = store.update_member(team.id, "alice", MemberUpdate(error=None))
    assert cleared.error is None
    with pytest.raises(StoreError, match=r"no member named 'zed'.*lead, alice, bob"):
        store.update_member(team.id, "zed", MemberUpdate(read_only=True))


def test_usage_adds_up(store: Store, team: Team) -> None:
    store.add_member_usage(team.id, "bob", input_tokens=100, output_tokens=20, cost=0.5)
    store.add_member_usage(team.id, "bob", input_tokens=1, reasoning_tokens=7, cost=0.25)
    bob = store.get_member(team.id, "bob")
    assert bob is not None
    assert (bob.input_tokens, bob.output_tokens, bob.reasoning_tokens) == (101, 20, 7)
    assert bob.cost == pytest.approx(0.75)
    assert bob.last_activity is not None


def test_a_member_read_again_sees_every_write_even_another_connections(
    store: Store, team: Team, db_path: Path
) -> None:
    assert store.get_member(team.id, "bob") is store.get_member(team.id, "bob"), "kept"
    store.update_member(team.id, "bob", MemberUpdate(branch="ensemble/bob"))
    found = store.get_member(team.id, "bob")
    assert found is not None
    assert found.branch == "ensemble/bob"
    with Store(db_path) as other:
        other.update_member(team.id, "bob", MemberUpdate(branch="elsewhere"))
    found = store.get_member(team.id, "bob")
    assert found is not None
    assert found.branch == "elsewhere"


def test_a_status_set_on_the_hot_path_restarts_its_clock_only_when_it_changes(
    store: Store, team: Team
) -> None:
    assert store.set_member_status(team.id, "bob", MemberStatus.WORKING, None)
    working = store.get_member(team.id, "bob")
    assert working is not None
    assert working.status is MemberStatus.WORKING
    assert store.set_member_status(team.id, "bob", MemberStatus.WORKING, "oops")
    again = store.get_member(team.id, "bob")
    assert again is not None
    assert again.status_since == working.status_since
    assert again.error == "oops"
    assert store.member_standing(team.id, "bob") == (MemberStatus.WORKING, False)
    assert store.member_standing(team.id, "zed") is None
    assert not store.set_member_status(team.id, "zed", MemberStatus.IDLE, None)


def _standings_on_disk(db_path: Path, team: Team) -> dict[str, object]:
    """Every member's standing as a store opened afresh on the file reads it."""
    with Store(db_path) as reopened:
        names = ("lead", "alice", "bob", "carol")
        return {name: reopened.member_standing(team.id, name) for name in names}


def _standings_kept(store: Store, team: Team) -> dict[str, object]:
    return {
        name: store.member_standing(team.id, name) for name in ("lead", "alice", "bob", "carol")
    }


def test_the_standings_kept_in_memory_follow_every_write(
    store: Store, team: Team, db_path: Path
) -> None:
    """The standings are read from memory on the event path: every write that changes one
    must leave memory and the file agreeing, a rollback included."""
    kept = _standings_kept(store, team)  # read (and kept) before the writes
    assert kept == _standings_on_disk(db_path, team)
    assert kept["carol"] is None
    store.add_member(Member(team_id=team.id, name="carol", session_id="ses_carol"))
    store.set_member_status(team.id, "alice", MemberStatus.WORKING, None)
    store.update_member(team.id, "bob", MemberUpdate(shutdown_requested=True))
    store.update_member(team.id, "lead", MemberUpdate(status=MemberStatus.STALLED))
    kept = _standings_kept(store, team)
    assert kept == _standings_on_disk(db_path, team)
    assert kept["alice"] == (MemberStatus.WORKING, False)
    assert kept["bob"] == (MemberStatus.STARTING, True)
    assert kept["carol"] == (MemberStatus.STARTING, False)
    store.set_member_status(team.id, "bob", MemberStatus.SHUT_DOWN, None)
    store.delete_member(team.id, "carol")

    def written_then_rolled_back() -> None:
        with store.transaction():
            store.set_member_status(team.id, "alice", MemberStatus.ERROR, "lost")
            store.update_member(team.id, "lead", MemberUpdate(shutdown_requested=True))
            raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError, match="rolled back"):
        written_then_rolled_back()
    kept = _standings_kept(store, team)
    assert kept == _standings_on_disk(db_path, team)
    assert kept["alice"] == (MemberStatus.WORKING, False), "the rollback undid it"
    assert kept["bob"] == (MemberStatus.SHUT_DOWN, True)
    assert kept["carol"] is None


def test_the_standings_kept_in_memory_see_another_connections_writes(
    store: Store, team: Team, db_path: Path
) -> None:
    assert store.member_standing(team.id, "bob") == (MemberStatus.STARTING, False)
    with Store(db_path) as other:
        other.update_member(team.id, "bob", MemberUpdate(shutdown_requested=True))
        other.set_member_status(team.id, "alice", MemberStatus.WORKING, None)
    with store.transaction():  # as on the event path: read inside a write
        assert store.member_standing(team.id, "bob") == (MemberStatus.STARTING, True)
        assert store.member_standing(team.id, "alice") == (MemberStatus.WORKING, False)
    assert _standings_kept(store, team) == _standings_on_disk(db_path, team)


def test_find_member_by_session_only_in_active_teams(store: Store, team: Team) -> None:
    found = store.find_member_by_session("ses_bob")
    assert found is not None
    assert (found.team_id, found.name) == (team.id, "bob")
    store.archive_team(team.id)
    assert store.find_member_by_session("ses_bob") is None


# Messages


def test_take_unread_returns_and_marks_only_unread_messages(store: Store, team: Team) -> None:
    first = store.add_message(team.id, "lead", "alice", "one")
    store.add_message(team.id, "lead", "bob", "for bob")
    taken = store.take_unread(team.id, "alice")
    assert [m.id for m in taken] == [first.id]
    assert taken[0].read_at is not None
    assert taken[0].delivered_at is not None
    second = store.add_message(team.id, "bob", "alice", "two")
    assert [m.id for m in store.take_unread(team.id, "alice")] == [second.id]
    assert store.take_unread(team.id, "alice") == []
    assert [m.text for m in store.take_unread(team.id, "bob")] == ["for bob"]


def test_a_broadcast_reaches_every_other_working_member(store: Store, team: Team) -> None:
    store.add_member(Member(team_id=team.id, name="carol", status=MemberStatus.SHUT_DOWN))
    message = store.add_message(team.id, "alice", None, "hello all")
    assert message.recipient is None
    for name in ("lead", "bob"):
        assert [m.id for m in store.list_undelivered(team.id, name)] == [message.id]
    for name in ("alice", "carol"):
        assert store.list_undelivered(team.id, name) == []
    assert store.count_undelivered(team.id) == 2


def test_delivery_is_tracked_per_recipient(store: Store, team: Team) -> None:
    message = store.add_message(team.id, "lead", None, "status?")
    store.mark_delivered(message.id, "alice")
    assert store.list_undelivered(team.id, "alice") == []
    assert [m.id for m in store.list_undelivered(team.id, "bob")] == [message.id]
    assert store.list_messages(team.id)[0].delivered_at is None
    store.mark_delivered(message.id, "bob")
    (feed_entry,) = store.list_messages(team.id)
    assert feed_entry.delivered_at is not None
    assert feed_entry.read_at is None
    assert store.count_undelivered(team.id) == 0
    with pytest.raises(StoreError, match="was not sent to 'lead'"):
        store.mark_delivered(message.id, "lead")


def test_what_waits_for_a_member_is_seen_in_one_statement(store: Store, team: Team) -> None:
    """`anything_undelivered` answers as the two lists do: messages and notices."""

    def agrees(name: str) -> bool:
        waiting = store.anything_undelivered(team.id, name)
        listed = store.list_undelivered(team.id, name) or store.undelivered_notices(team.id, name)
        assert waiting == bool(listed), name
        return waiting

    assert not agrees("bob")
    message = store.add_message(team.id, "lead", None, "status?")
    assert agrees("bob")
    assert agrees("alice")
    store.mark_delivered(message.id, "bob")
    assert not agrees("bob")
    notice = store.add_notice(team.id, "bob", "t3 can now be claimed")
    assert agrees("bob")
    store.mark_notices_delivered([notice.id])
    assert not agrees("bob")
    assert agrees("alice"), "still waits for alice"
    assert not store.anything_undelivered(team.id + 1, "alice"), "another team's inbox"


def test_the_feed_lists_messages_oldest_first(store: Store, team: Team) -> None:
    sent = [store.add_message(team.id, "lead", "alice", f"m{i}") for i in range(4)]
    assert [m.text for m in store.list_messages(team.id)] == ["m0", "m1", "m2", "m3"]
    assert [m.text for m in store.list_messages(team.id, limit=2)] == ["m2", "m3"]
    assert [m.text for m in store.list_messages(team.id, after_id=sent[2].id)] == ["m3"]


@pytest.mark.parametrize(
    ("sender", "recipient", "text", "error"),
    [
        ("lead", "zed", "hi", "no member named 'zed'"),
        ("zed", "lead", "hi", "no member named 'zed'"),
        ("alice", "alice", "hi", "to yourself"),
        ("lead", "alice", "  ", "empty"),
    ],
)
def test_bad_messages_are_refused(
    store: Store, team: Team, sender: str, recipient: str, text: str, error: str
) -> None:
    with pytest.raises(StoreError, match=error):
        store.add_message(team.id, sender, recipient, text)
    assert store.list_messages(team.id) == []


@pytest.mark.parametrize("ended", [s for s in MemberStatus if s.ended])
def test_no_messages_to_members_that_have_ended(
    store: Store, team: Team, ended: MemberStatus
) -> None:
    store.update_member(team.id, "bob", MemberUpdate(status=ended))
    with pytest.raises(StoreError, match=f"bob has ended \\({ended.value}\\)"):
        store.add_message(team.id, "lead", "bob", "are you there?")
    store.add_message(team.id, "lead", None, "everyone?")
    assert store.list_undelivered(team.id, "bob") == []
    assert store.count_undelivered(team.id) == len(
        [m for m in store.list_members(team.id) if not m.status.ended and m.name != "lead"]
    )


# Event log


def test_the_event_log_keeps_order_and_detail(store: Store, team: Team) -> None:
    first = store.append_event(team.id, "member.spawned", "alice", {"branch": "b", "n": [1, 2]})
    store.append_event(team.id, "member.status", "alice", {"status": "working"})
    store.append_event(None, "server.connected")
    entries = store.list_events(team.id)
    assert [e.kind for e in entries] == ["member.spawned", "member.status"]
    assert entries[0].id == first
    assert (entries[0].team_id, entries[0].member) == (team.id, "alice")
    assert entries[0].detail == {"branch": "b", "n": [1, 2]}
    assert [e.kind for e in store.list_events(team.id, after_id=first)] == ["member.status"]
    assert [e.kind for e in store.list_events(None)] == ["server.connected"]


def test_notices_and_waiters_survive_reopening(db_path: Path, tmp_path: Path) -> None:
    with Store(db_path) as store:
        team = store.create_team("gamma", tmp_path / "repo", "ses_lead")
        store.add_member(Member(team_id=team.id, name="bob"))
        TaskBoard(store).add_tasks(team.id, [TaskSpec(content="later")])
        store.add_waiter(team.id, "t1", "bob")
        store.add_waiter(team.id, "t1", "bob")
    with Store(db_path) as store:
        assert store.notify_waiters(team.id, "t1", "t1 is free") == ["bob"]
        assert store.notify_waiters(team.id, "t1", "t1 is free") == []
        (notice,) = store.undelivered_notices(team.id, "bob")
        assert notice.text == "t1 is free"
        store.mark_notices_delivered([notice.id])
        assert store.undelivered_notices(team.id) == []


def test_opencode_routes_are_kept_changed_and_dropped_across_a_reopen(db_path: Path) -> None:
    """Which of several OpenCode servers serves each directory (opencode_servers)."""
    with Store(db_path) as store:
        store.set_opencode_route("/w/ann", 1)
        store.set_opencode_route("/w/ben", 0)
        store.set_opencode_route("/w/ann", 0)  # a fork moved there: its source's server
        store.set_opencode_route("/w/cat", 1)
        store.drop_opencode_routes(["/w/cat", "/w/never"])
    with Store(db_path) as again:
        assert again.opencode_routes() == {"/w/ann": 0, "/w/ben": 0}
