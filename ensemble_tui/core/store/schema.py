"""The SQLite schema of the coordinator's state, as an ordered list of migrations."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

from ensemble_tui.errors import EnsembleError


@dataclass(frozen=True)
class Migration:
    """One step of the schema; migration N takes a database from version N-1 to N."""

    description: str
    statements: tuple[str, ...]


class SchemaError(EnsembleError):
    """The database cannot be brought to the schema this version of ensemble-tui uses."""


_INITIAL_SCHEMA = Migration(
    description="teams, members, tasks, messages and the event log",
    statements=(
        """
        CREATE TABLE teams (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            name TEXT NOT NULL,
            lead_session_id TEXT NOT NULL,
            repo_root TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('active', 'archived')),
            created TEXT NOT NULL,
            archived_at TEXT,
            next_task_number INTEGER NOT NULL DEFAULT 1
        )
        """,
        # A name is taken only while its team is active; archived names can be reused.
        "CREATE UNIQUE INDEX teams_active_name ON teams (name) WHERE status = 'active'",
        """
        CREATE TABLE members (
            team_id INTEGER NOT NULL REFERENCES teams (id),
            name TEXT NOT NULL,
            role TEXT NOT NULL CHECK (role IN ('lead', 'teammate')),
            session_id TEXT,
            agent TEXT NOT NULL,
            model TEXT,
            status TEXT NOT NULL,
            worktree_path TEXT,
            branch TEXT,
            base_commit TEXT,
            read_only INTEGER NOT NULL DEFAULT 0,
            input_tokens INTEGER NOT NULL DEFAULT 0,
            output_tokens INTEGER NOT NULL DEFAULT 0,
            reasoning_tokens INTEGER NOT NULL DEFAULT 0,
            cost REAL NOT NULL DEFAULT 0,
            last_activity TEXT,
            status_since TEXT NOT NULL,
            current_task_id TEXT,
            error TEXT,
            shutdown_requested INTEGER NOT NULL DEFAULT 0,
            plan_approval INTEGER NOT NULL DEFAULT 0,
            created TEXT NOT NULL,
            PRIMARY KEY (team_id, name)
        )
        """,
        "CREATE INDEX members_session ON members (session_id)",
        """
        CREATE TABLE tasks (
            team_id INTEGER NOT NULL REFERENCES teams (id),
            id TEXT NOT NULL,
            number INTEGER NOT NULL,
            content TEXT NOT NULL,
            priority TEXT NOT NULL CHECK (priority IN ('high', 'medium', 'low')),
            status TEXT NOT NULL
                CHECK (status IN ('pending', 'blocked', 'in_progress', 'completed', 'cancelled')),
            assignee TEXT,
            created_by TEXT,
            created TEXT NOT NULL,
            updated TEXT NOT NULL,
            result TEXT,
            PRIMARY KEY (team_id, id),
            FOREIGN KEY (team_id, assignee) REFERENCES members (team_id, name)
        )
        """,
        """
        CREATE TABLE task_dependencies (
            team_id INTEGER NOT NULL,
            task_id TEXT NOT NULL,
            depends_on TEXT NOT NULL,
            PRIMARY KEY (team_id, task_id, depends_on),
            FOREIGN KEY (team_id, task_id) REFERENCES tasks (team_id, id),
            FOREIGN KEY (team_id, depends_on) REFERENCES tasks (team_id, id)
        )
        """,
        "CREATE INDEX task_dependents ON task_dependencies (team_id, depends_on)",
        """
        CREATE TABLE messages (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            team_id INTEGER NOT NULL REFERENCES teams (id),
            sender TEXT NOT NULL,
            recipient TEXT,
            text TEXT NOT NULL,
            created TEXT NOT NULL,
            FOREIGN KEY (team_id, sender) REFERENCES members (team_id, name)
        )
        """,
        # One row per recipient, so a broadcast is delivered and read by each on its own.
        """
        CREATE TABLE message_deliveries (
            message_id INTEGER NOT NULL REFERENCES messages (id),
            team_id INTEGER NOT NULL,
            recipient TEXT NOT NULL,
            delivered_at TEXT,
            read_at TEXT,
            PRIMARY KEY (message_id, recipient),
            FOREIGN KEY (team_id, recipient) REFERENCES members (team_id, name)
        )
        """,
        "CREATE INDEX message_inbox ON message_deliveries (team_id, recipient, message_id)",
        """
        CREATE TABLE events (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            team_id INTEGER REFERENCES teams (id),
            time TEXT NOT NULL,
            kind TEXT NOT NULL,
            member TEXT,
            detail TEXT NOT NULL DEFAULT '{}'
        )
        """,
        "CREATE INDEX events_team ON events (team_id, id)",
    ),
)

_NOTICES = Migration(
    description="coordinator notices and task waiters, so they survive a crash",
    statements=(
        # Notices are the coordinator's own words to a member ("t3 can now be claimed").
        """
        CREATE TABLE notices (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            team_id INTEGER NOT NULL REFERENCES teams (id),
            recipient TEXT NOT NULL,
            text TEXT NOT NULL,
            created TEXT NOT NULL,
            delivered_at TEXT,
            FOREIGN KEY (team_id, recipient) REFERENCES members (team_id, name)
        )
        """,
        "CREATE INDEX notices_inbox ON notices (team_id, recipient, delivered_at)",
        """
        CREATE TABLE task_waiters (
            team_id INTEGER NOT NULL,
            task_id TEXT NOT NULL,
            member TEXT NOT NULL,
            PRIMARY KEY (team_id, task_id, member),
            FOREIGN KEY (team_id, task_id) REFERENCES tasks (team_id, id),
            FOREIGN KEY (team_id, member) REFERENCES members (team_id, name)
        )
        """,
    ),
)

_CHECKS = Migration(
    description="the results of the `check` command on teammates' branches",
    statements=(
        """
        CREATE TABLE checks (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            team_id INTEGER NOT NULL REFERENCES teams (id),
            member TEXT NOT NULL,
            command TEXT NOT NULL,
            commit_sha TEXT,
            outcome TEXT NOT NULL
                CHECK (outcome IN ('passed', 'failed', 'timed_out', 'not_run')),
            exit_code INTEGER,
            output TEXT NOT NULL DEFAULT '',
            seconds REAL NOT NULL DEFAULT 0,
            finished TEXT NOT NULL,
            FOREIGN KEY (team_id, member) REFERENCES members (team_id, name)
        )
        """,
        "CREATE INDEX checks_member ON checks (team_id, member, id)",
    ),
)

_FORKS_AND_SESSIONS = Migration(
    description="forks (who a member was forked from, and with whom) and members' earlier sessions",
    statements=(
        "ALTER TABLE members ADD COLUMN forked_from TEXT",
        # Members forked from the same point of the same conversation share a group.
        "ALTER TABLE members ADD COLUMN fork_group TEXT",
        # A member's sessions before its current one (a `new` hand-off starts another).
        """
        CREATE TABLE member_sessions (
            team_id INTEGER NOT NULL,
            member TEXT NOT NULL,
            session_id TEXT NOT NULL,
            directory TEXT NOT NULL,
            agent TEXT NOT NULL,
            ended TEXT NOT NULL,
            reason TEXT NOT NULL,
            PRIMARY KEY (team_id, member, session_id),
            FOREIGN KEY (team_id, member) REFERENCES members (team_id, name)
        )
        """,
    ),
)

_UNDELIVERED = Migration(
    description="an index of the messages waiting to be delivered, read at every turn's end",
    statements=(
        # Partial: only the rows still waiting, so it stays small as a team ages (notices
        # have theirs already: notices_inbox ends with delivered_at).
        "CREATE INDEX message_undelivered ON message_deliveries (team_id, recipient, message_id) "
        "WHERE delivered_at IS NULL",
    ),
)

_REVIEWS = Migration(
    description="reviews of teammates' branches by the review agent, with their verdicts",
    statements=(
        """
        CREATE TABLE reviews (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            team_id INTEGER NOT NULL REFERENCES teams (id),
            member TEXT NOT NULL,
            agent TEXT NOT NULL,
            commit_sha TEXT NOT NULL,
            session_id TEXT,
            verdict TEXT NOT NULL
                CHECK (verdict IN ('pending', 'approved', 'changes_requested', 'no_verdict')),
            reasons TEXT NOT NULL DEFAULT '',
            tokens INTEGER NOT NULL DEFAULT 0,
            cost REAL NOT NULL DEFAULT 0,
            started TEXT NOT NULL,
            finished TEXT,
            FOREIGN KEY (team_id, member) REFERENCES members (team_id, name)
        )
        """,
        "CREATE INDEX reviews_member ON reviews (team_id, member, id)",
    ),
)

_FIRST_PROMPTS = Migration(
    description="a teammate's first prompt, sent again on resume if OpenCode never kept it",
    statements=("ALTER TABLE members ADD COLUMN first_prompt TEXT",),
)

_OPENCODE_ROUTES = Migration(
    description="which of several OpenCode servers serves each directory (opencode_servers)",
    statements=(
        """
        CREATE TABLE opencode_routes (
            directory TEXT PRIMARY KEY,
            server INTEGER NOT NULL CHECK (server >= 0)
        )
        """,
    ),
)

_OPENCODE_SESSION_ROUTES = Migration(
    description="the server of each session moved off its folder's server (opencode_servers)",
    statements=(
        """
        CREATE TABLE opencode_session_routes (
            session_id TEXT PRIMARY KEY,
            server INTEGER NOT NULL CHECK (server >= 0)
        )
        """,
    ),
)

# Append new migrations at the end; never edit one that has shipped.
MIGRATIONS: tuple[Migration, ...] = (
    _INITIAL_SCHEMA,
    _NOTICES,
    _CHECKS,
    _FORKS_AND_SESSIONS,
    _UNDELIVERED,
    _REVIEWS,
    _FIRST_PROMPTS,
    _OPENCODE_ROUTES,
    _OPENCODE_SESSION_ROUTES,
)


def schema_version(connection: sqlite3.Connection) -> int:
    """The schema version a database is at (0 for a new, empty file)."""
    row = connection.execute("PRAGMA user_version").fetchone()
    return int(row[0])


def refuse_newer_schema(
    connection: sqlite3.Connection, migrations: Sequence[Migration] = MIGRATIONS
) -> int:
    """The database's schema version, or SchemaError if a newer ensemble-tui wrote it."""
    current = schema_version(connection)
    if current > len(migrations):
        raise SchemaError(
            f"The database is at schema version {current}, newer than the {len(migrations)} "
            "this version of ensemble-tui knows; upgrade ensemble-tui to open it."
        )
    return current


def apply_migrations(
    connection: sqlite3.Connection, migrations: Sequence[Migration] = MIGRATIONS
) -> int:
    """Bring the database up to `len(migrations)`, one transaction per step; return the version.

    The connection must be in autocommit mode (`isolation_level=None`).
    """
    current = refuse_newer_schema(connection, migrations)
    for version, migration in enumerate(migrations[current:], start=current + 1):
        # IMMEDIATE so two processes opening a new file do not both run the same step.
        connection.execute("BEGIN IMMEDIATE")
        try:
            if schema_version(connection) >= version:
                connection.execute("ROLLBACK")
                continue
            for statement in migration.statements:
                connection.execute(statement)
            connection.execute(f"PRAGMA user_version = {version:d}")
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise
    return schema_version(connection)
