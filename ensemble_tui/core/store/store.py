"""The coordinator's persistent state: one SQLite database per repository.

Every method commits before it returns, so a crash or `kill -9` afterwards loses nothing.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

from ensemble_tui.core.models import (
    LEAD_NAME,
    EarlierSession,
    LogEntry,
    Member,
    MemberRole,
    MemberStatus,
    MemberUpdate,
    Message,
    Team,
    TeamStatus,
    utc_now,
    validate_model_id,
    validate_name,
)
from ensemble_tui.core.store.checks import CheckQueries
from ensemble_tui.core.store.connection import (
    StoreConnection,
    StoreError,
    active_team_row,
    require_member,
    sql_value,
    team_row,
)
from ensemble_tui.core.store.messages import MessageQueries
from ensemble_tui.core.store.notices import Notice, NoticeQueries
from ensemble_tui.core.store.reviews import ReviewQueries
from ensemble_tui.core.store.schema import MIGRATIONS, Migration
from ensemble_tui.paths import repo_data_dir

__all__ = ["MemberStanding", "Store", "StoreError"]

_MEMBER_ORDER = "ORDER BY role = 'lead' DESC, created, name"
# `json.dumps(detail, sort_keys=True)` without making an encoder per call (once per team event).
_encode_detail = json.JSONEncoder(sort_keys=True).encode
_ANYTHING_UNDELIVERED = (
    "SELECT EXISTS (SELECT 1 FROM message_deliveries"
    " WHERE team_id = ? AND recipient = ? AND delivered_at IS NULL)"
    " OR EXISTS (SELECT 1 FROM notices"
    " WHERE team_id = ? AND recipient = ? AND delivered_at IS NULL)"
)
_APPEND_EVENT = "INSERT INTO events (team_id, time, kind, member, detail) VALUES (?, ?, ?, ?, ?)"


class MemberStanding(NamedTuple):
    """The two facts of a member that the coordinator checks at every change."""

    status: MemberStatus
    shutdown_requested: bool


def _team(row: sqlite3.Row) -> Team:
    return Team.model_validate(dict(row))


def _member(row: sqlite3.Row) -> Member:
    return Member.model_validate(dict(row))


def _insert(db: sqlite3.Connection, table: str, values: dict[str, Any]) -> sqlite3.Cursor:
    columns = ", ".join(values)
    placeholders = ", ".join("?" * len(values))
    return db.execute(
        f"INSERT INTO {table} ({columns}) VALUES ({placeholders})",
        [sql_value(value) for value in values.values()],
    )


class Store(StoreConnection):
    """Teams, members, messages and the event log of one repository, in SQLite (WAL).

    Messages and notices are parts of their own (`MessageQueries`, `NoticeQueries`) on the
    same connection; the store answers for them so callers need one object. Check results
    (`CheckQueries`) are reached as `store.checks`, reviews (`ReviewQueries`) as
    `store.reviews`.
    """

    def __init__(self, path: Path, migrations: Sequence[Migration] = MIGRATIONS) -> None:
        super().__init__(path, migrations)
        self.messages = MessageQueries(self)
        self.notices = NoticeQueries(self)
        self.checks = CheckQueries(self)
        self.reviews = ReviewQueries(self)
        # Members as last read, with the version they were read at: the coordinator asks
        # for one at every status change, and members are frozen, so they can be shared.
        self._members: dict[tuple[int, str], tuple[tuple[int, int], Member | None]] = {}
        # Every member's standing as this connection last wrote or read it, read per event
        # of the stream: kept by the write methods below, dropped on a rollback, and
        # trusted only while no other connection has committed (`_standings_mark`).
        self._standings: dict[tuple[int, str], MemberStanding | None] = {}
        self._standings_mark: int | None = None

    def _forget_unsaved(self) -> None:
        self._standings.clear()

    def _keep_standing(self, member: Member) -> None:
        standing = MemberStanding(member.status, member.shutdown_requested)
        self._standings[(member.team_id, member.name)] = standing

    # Messages (see `MessageQueries`)

    def add_message(self, team_id: int, sender: str, recipient: str | None, text: str) -> Message:
        return self.messages.add_message(team_id, sender, recipient, text)

    def mark_delivered(self, message_id: int, recipient: str) -> None:
        self.messages.mark_delivered(message_id, recipient)

    def list_undelivered(self, team_id: int, recipient: str) -> list[Message]:
        return self.messages.list_undelivered(team_id, recipient)

    def count_undelivered(self, team_id: int) -> int:
        return self.messages.count_undelivered(team_id)

    def take_unread(self, team_id: int, member: str) -> list[Message]:
        return self.messages.take_unread(team_id, member)

    def list_messages(self, team_id: int, *, after_id: int = 0, limit: int = -1) -> list[Message]:
        return self.messages.list_messages(team_id, after_id=after_id, limit=limit)

    # Notices and waiters (see `NoticeQueries`)

    def add_notice(self, team_id: int, recipient: str, text: str) -> Notice:
        return self.notices.add_notice(team_id, recipient, text)

    def anything_undelivered(self, team_id: int, recipient: str) -> bool:
        """Whether a message or a notice waits for `recipient`: one indexed statement, for
        the end of every turn, where most of the time nothing does."""
        with self.reading() as db:
            row = db.execute(_ANYTHING_UNDELIVERED, (team_id, recipient, team_id, recipient))
            return bool(row.fetchone()[0])

    def undelivered_notices(self, team_id: int, recipient: str | None = None) -> list[Notice]:
        return self.notices.undelivered_notices(team_id, recipient)

    def mark_notices_delivered(self, notice_ids: list[int]) -> None:
        self.notices.mark_notices_delivered(notice_ids)

    def add_waiter(self, team_id: int, task_id: str, member: str) -> None:
        self.notices.add_waiter(team_id, task_id, member)

    def notify_waiters(self, team_id: int, task_id: str, text: str) -> list[str]:
        return self.notices.notify_waiters(team_id, task_id, text)

    @classmethod
    def for_repo(cls, repo_root: Path) -> Store:
        """Open (creating if needed) the database of the repository at `repo_root`."""
        folder = repo_data_dir(repo_root)
        folder.mkdir(parents=True, exist_ok=True)
        return cls(folder / "state.db")

    # Teams

    def create_team(
        self,
        name: str,
        repo_root: Path,
        lead_session_id: str,
        *,
        lead_agent: str = "build",
        lead_model: str | None = None,
    ) -> Team:
        """Create an active team and its lead member (named `lead`, working in `repo_root`)."""
        try:
            validate_name("team", name)
            validate_model_id(lead_model)
        except ValueError as error:
            raise StoreError(str(error)) from None
        now = utc_now()
        with self.transaction() as db:
            if self._active_team_id(db, name) is not None:
                raise StoreError(
                    f"A team named {name!r} is already active in this repository; "
                    "pick another name or archive that team first."
                )
            values = {
                "name": name,
                "lead_session_id": lead_session_id,
                "repo_root": repo_root,
                "status": TeamStatus.ACTIVE,
                "created": now,
            }
            team_id = int(_insert(db, "teams", values).lastrowid or 0)
            lead = Member(
                team_id=team_id,
                name=LEAD_NAME,
                role=MemberRole.LEAD,
                session_id=lead_session_id,
                agent=lead_agent,
                model=lead_model,
                worktree_path=repo_root,
                created=now,
                status_since=now,
            )
            _insert(db, "members", lead.model_dump(exclude_none=True))
            self._keep_standing(lead)
            return _team(team_row(db, team_id))

    def archive_team(self, team_id: int) -> Team:
        """Archive a team, which frees its name; archiving twice changes nothing."""
        with self.transaction() as db:
            db.execute(
                "UPDATE teams SET status = 'archived', archived_at = ? "
                "WHERE id = ? AND status = 'active'",
                (sql_value(utc_now()), team_id),
            )
            return _team(team_row(db, team_id))

    def get_team(self, team_id: int) -> Team | None:
        """The team with id `team_id`, if there is one."""
        with self.reading() as db:
            row = db.execute("SELECT * FROM teams WHERE id = ?", (team_id,)).fetchone()
        return None if row is None else _team(row)

    def find_active_team(self, name: str) -> Team | None:
        """The active team called `name`, if there is one."""
        with self.reading() as db:
            team_id = self._active_team_id(db, name)
            return None if team_id is None else _team(team_row(db, team_id))

    def list_teams(self, status: TeamStatus | None = None) -> list[Team]:
        """All teams (or those with `status`), oldest first."""
        with self.reading() as db:
            if status is None:
                rows = db.execute("SELECT * FROM teams ORDER BY id").fetchall()
            else:
                rows = db.execute(
                    "SELECT * FROM teams WHERE status = ? ORDER BY id", (status.value,)
                ).fetchall()
        return [_team(row) for row in rows]

    @staticmethod
    def _active_team_id(db: sqlite3.Connection, name: str) -> int | None:
        row = db.execute(
            "SELECT id FROM teams WHERE name = ? AND status = 'active'", (name,)
        ).fetchone()
        return None if row is None else int(row["id"])

    # Members

    def add_member(self, member: Member) -> Member:
        """Save a new member of an active team; its name must be free in that team."""
        with self.transaction() as db:
            active_team_row(db, member.team_id)
            taken = db.execute(
                "SELECT 1 FROM members WHERE team_id = ? AND name = ?",
                (member.team_id, member.name),
            ).fetchone()
            if taken:
                raise StoreError(
                    f"This team already has a member named {member.name!r}; pick another name."
                )
            _insert(db, "members", member.model_dump(exclude_none=True))
            self._keep_standing(member)
        return member

    def delete_member(self, team_id: int, name: str) -> None:
        """Forget a member that never started (a spawn being undone), with its inbox."""
        with self.transaction() as db:
            held = db.execute(
                "SELECT id FROM tasks WHERE team_id = ? AND assignee = ?", (team_id, name)
            ).fetchone()
            sent = db.execute(
                "SELECT id FROM messages WHERE team_id = ? AND sender = ?", (team_id, name)
            ).fetchone()
            if held or sent:
                raise StoreError(f"{name!r} has already held tasks or sent messages; keep it.")
            for table, column in (
                ("message_deliveries", "recipient"),
                ("notices", "recipient"),
                ("task_waiters", "member"),
            ):
                db.execute(
                    f"DELETE FROM {table} WHERE team_id = ? AND {column} = ?", (team_id, name)
                )
            db.execute("DELETE FROM members WHERE team_id = ? AND name = ?", (team_id, name))
            self._standings[(team_id, name)] = None

    def update_member(self, team_id: int, name: str, update: MemberUpdate) -> Member:
        """Write the fields set in `update`; a change of status restarts `status_since`."""
        changes: dict[str, Any] = update.model_dump(exclude_unset=True)
        with self.transaction() as db:
            current = require_member(db, team_id, name)
            if "status" in changes and changes["status"] != current["status"]:
                changes["status_since"] = utc_now()
            if changes:
                assignments = ", ".join(f"{column} = ?" for column in changes)
                db.execute(
                    f"UPDATE members SET {assignments} WHERE team_id = ? AND name = ?",
                    [*(sql_value(value) for value in changes.values()), team_id, name],
                )
            member = _member(require_member(db, team_id, name))
            self._keep_standing(member)
            return member

    def add_member_usage(
        self,
        team_id: int,
        name: str,
        *,
        input_tokens: int = 0,
        output_tokens: int = 0,
        reasoning_tokens: int = 0,
        cost: float = 0.0,
    ) -> None:
        """Add one step's token counts and cost to a member's totals and mark it active now.

        Nothing is read back (the coordinator calls this at every step's end): `get_member`
        gives the totals."""
        with self.transaction() as db:
            cursor = db.execute(
                "UPDATE members SET input_tokens = input_tokens + ?, "
                "output_tokens = output_tokens + ?, reasoning_tokens = reasoning_tokens + ?, "
                "cost = cost + ?, last_activity = ? WHERE team_id = ? AND name = ?",
                (
                    input_tokens,
                    output_tokens,
                    reasoning_tokens,
                    cost,
                    utc_now().isoformat(),
                    team_id,
                    name,
                ),
            )
            if cursor.rowcount == 0:
                require_member(db, team_id, name)  # says who is in the team

    def member_standing(self, team_id: int, name: str) -> MemberStanding | None:
        """A member's status and whether its shutdown was asked for: what the coordinator
        checks at every change an event makes, from memory unless another connection
        has committed since it was kept."""
        key = (team_id, name)
        mark = self.others_mark()
        if mark != self._standings_mark:
            self._standings.clear()
            self._standings_mark = mark
        elif key in self._standings:
            return self._standings[key]
        with self.reading() as db:
            row = db.execute(
                "SELECT status, shutdown_requested FROM members WHERE team_id = ? AND name = ?",
                (team_id, name),
            ).fetchone()
        standing = None if row is None else MemberStanding(MemberStatus(row[0]), bool(row[1]))
        self._standings[key] = standing
        return standing

    def set_member_status(
        self, team_id: int, name: str, status: MemberStatus, error: str | None
    ) -> bool:
        """Set a member's status (and its error), restarting `status_since` if the status
        changed; one statement, for the coordinator's hot path. False if nothing changed."""
        with self.transaction() as db:
            cursor = db.execute(
                "UPDATE members SET status = ?, error = ?, "
                "status_since = CASE WHEN status = ? THEN status_since ELSE ? END "
                "WHERE team_id = ? AND name = ?",
                (status.value, error, status.value, utc_now().isoformat(), team_id, name),
            )
            key = (team_id, name)
            kept = self._standings.get(key)
            if kept is not None:
                self._standings[key] = MemberStanding(status, kept.shutdown_requested)
            return cursor.rowcount > 0

    def get_member(self, team_id: int, name: str) -> Member | None:
        """The member `name` of a team, if there is one."""
        key = (team_id, name)
        version = self.version()
        kept = self._members.get(key)
        if kept is not None and version is not None and kept[0] == version:
            return kept[1]
        with self.reading() as db:
            row = db.execute(
                "SELECT * FROM members WHERE team_id = ? AND name = ?", (team_id, name)
            ).fetchone()
        member = None if row is None else _member(row)
        if version is not None:
            if len(self._members) > 1000:
                self._members.clear()
            self._members[key] = (version, member)
        return member

    def find_member_by_session(self, session_id: str) -> Member | None:
        """The member of an active team whose OpenCode session is `session_id`."""
        with self.reading() as db:
            row = db.execute(
                "SELECT members.* FROM members JOIN teams ON teams.id = members.team_id "
                "WHERE members.session_id = ? AND teams.status = 'active'",
                (session_id,),
            ).fetchone()
        return None if row is None else _member(row)

    def list_members(self, team_id: int) -> list[Member]:
        """A team's members, the lead first, then in the order they joined."""
        with self.reading() as db:
            rows = db.execute(
                f"SELECT * FROM members WHERE team_id = ? {_MEMBER_ORDER}", (team_id,)
            ).fetchall()
        return [_member(row) for row in rows]

    # Earlier sessions

    def replace_session(
        self, team_id: int, name: str, new_session_id: str, *, agent: str, reason: str
    ) -> Member:
        """Give a member a new session, keeping its current one in its history (one step)."""
        with self.transaction() as db:
            current = _member(require_member(db, team_id, name))
            if current.session_id is not None:
                values = {
                    "team_id": team_id,
                    "member": name,
                    "session_id": current.session_id,
                    "directory": current.worktree_path or Path(),
                    "agent": current.agent,
                    "ended": utc_now(),
                    "reason": reason,
                }
                _insert(db, "member_sessions", values)
            db.execute(
                "UPDATE members SET session_id = ?, agent = ? WHERE team_id = ? AND name = ?",
                (new_session_id, agent, team_id, name),
            )
            if current.role is MemberRole.LEAD:
                db.execute(
                    "UPDATE teams SET lead_session_id = ? WHERE id = ?", (new_session_id, team_id)
                )
            return _member(require_member(db, team_id, name))

    def earlier_sessions(self, team_id: int, name: str) -> list[EarlierSession]:
        """The sessions a member worked in before its current one, oldest first."""
        with self.reading() as db:
            rows = db.execute(
                "SELECT * FROM member_sessions WHERE team_id = ? AND member = ? ORDER BY ended",
                (team_id, name),
            ).fetchall()
        return [EarlierSession.model_validate(dict(row)) for row in rows]

    def earlier_session_counts(self, team_id: int) -> dict[str, int]:
        """How many earlier sessions each member of a team has (members with none left out)."""
        with self.reading() as db:
            rows = db.execute(
                "SELECT member, COUNT(*) AS n FROM member_sessions WHERE team_id = ? "
                "GROUP BY member",
                (team_id,),
            ).fetchall()
        return {str(row["member"]): int(row["n"]) for row in rows}

    # Event log

    def append_event(
        self,
        team_id: int | None,
        kind: str,
        member: str | None = None,
        detail: dict[str, Any] | None = None,
        *,
        time: str | None = None,
    ) -> int:
        """Append one entry to the event log (`detail` must be JSON-serialisable); its id.
        *time* is when it happened, as ISO 8601 text (now if not given)."""
        when = time or utc_now().isoformat()
        row = (team_id, when, kind, member, _encode_detail(detail or {}))
        with self.transaction() as db:
            # One statement written out, not `_insert`'s: the coordinator logs every status.
            return int(db.execute(_APPEND_EVENT, row).lastrowid or 0)

    def list_events(
        self, team_id: int | None, *, after_id: int = 0, limit: int = -1
    ) -> list[LogEntry]:
        """A team's log entries after `after_id`, oldest first: the last `limit` (-1: all)."""
        with self.reading() as db:
            rows = db.execute(
                "SELECT * FROM events WHERE team_id IS ? AND id > ? ORDER BY id DESC LIMIT ?",
                (team_id, after_id, limit),
            ).fetchall()
        return [
            LogEntry.model_validate({**dict(row), "detail": json.loads(row["detail"])})
            for row in reversed(rows)
        ]

    # Which OpenCode server serves each directory (with opencode_servers above 1)

    def opencode_routes(self) -> dict[str, int]:
        """Each directory a pool of OpenCode servers has routed, with its server's number."""
        with self.reading() as db:
            rows = db.execute("SELECT directory, server FROM opencode_routes").fetchall()
        return {str(row["directory"]): int(row["server"]) for row in rows}

    def set_opencode_route(self, directory: str, server: int) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT INTO opencode_routes (directory, server) VALUES (?, ?) "
                "ON CONFLICT (directory) DO UPDATE SET server = excluded.server",
                (directory, server),
            )

    def drop_opencode_routes(self, directories: Sequence[str]) -> None:
        """Forget the routes of directories that are gone (finished teammates' worktrees)."""
        with self.transaction() as db:
            db.executemany(
                "DELETE FROM opencode_routes WHERE directory = ?",
                [(directory,) for directory in directories],
            )

    def opencode_session_routes(self) -> dict[str, int]:
        """Each session a pool has moved off the server of the folder it is now in."""
        with self.reading() as db:
            rows = db.execute("SELECT session_id, server FROM opencode_session_routes").fetchall()
        return {str(row["session_id"]): int(row["server"]) for row in rows}

    def set_opencode_session_route(self, session_id: str, server: int) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT INTO opencode_session_routes (session_id, server) VALUES (?, ?) "
                "ON CONFLICT (session_id) DO UPDATE SET server = excluded.server",
                (session_id, server),
            )
