"""Store plumbing: the SQLite connection, transactions, value conversion and shared lookups."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from enum import Enum
from pathlib import Path
from types import TracebackType
from typing import Self

from ensemble_tui.core.store.schema import (
    MIGRATIONS,
    Migration,
    apply_migrations,
    refuse_newer_schema,
)
from ensemble_tui.errors import EnsembleError
from ensemble_tui.paths import private_dir, private_file

# How long a write waits for another process holding the database before it gives up.
BUSY_TIMEOUT_SECONDS = 30.0

SqlValue = str | int | float | bytes | None


class StoreError(EnsembleError):
    """A request the store refuses; the message is a sentence fit to show an agent verbatim."""


class BrokenStateError(EnsembleError):
    """The state file is not a usable SQLite database (not one at all, or damaged)."""

    def __init__(self, path: Path, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"{path} is damaged: {problem}")


_STORED_AS_IS = (str, int, float, bytes, type(None))


def sql_value(value: object) -> SqlValue:
    """Convert a model value to what SQLite stores: enums by value, paths and times as text."""
    if type(value) in _STORED_AS_IS:  # the exact types (a bool or an enum is not one)
        return value  # type: ignore[return-value]
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, Enum):
        return sql_value(value.value)
    if isinstance(value, int | float | bytes):
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, str | Path):
        return str(value)
    raise TypeError(f"cannot store a {type(value).__name__} in SQLite")


class StoreConnection:
    """One SQLite connection in WAL mode, shared by the event loop and worker threads."""

    def __init__(self, path: Path, migrations: Sequence[Migration] = MIGRATIONS) -> None:
        self.path = Path(path)
        # One connection under a lock: SQLite has one writer at a time anyway, and git
        # worker threads then see every committed write without reopening the file.
        private_dir(self.path.parent)
        private_file(self.path)
        self._connection = sqlite3.connect(
            self.path,
            timeout=BUSY_TIMEOUT_SECONDS,
            isolation_level=None,
            check_same_thread=False,
        )
        self._connection.row_factory = sqlite3.Row
        self._lock = threading.RLock()
        self._depth = 0
        self._writing = False
        # Counts this connection's write transactions, so what was read before one is stale.
        self._writes = 0
        # Other connections' commit mark, as read in the current outermost scope (None: not
        # read in it yet, or outside any).
        self._others_mark: int | None = None
        try:
            # First, and read-only: a damaged file is left exactly as it was found.
            _check_integrity(self._connection, self.path)
            refuse_newer_schema(self._connection, migrations)
            self._connection.execute("PRAGMA journal_mode=WAL")
            # In WAL mode NORMAL survives a process crash (kill -9) once COMMIT returns;
            # only a power cut can drop the last commits, and FULL would fsync each one.
            self._connection.execute("PRAGMA synchronous=NORMAL")
            self._connection.execute("PRAGMA foreign_keys=ON")
            self.schema_version = apply_migrations(self._connection, migrations)
        except sqlite3.DatabaseError as error:
            self._connection.close()
            # OperationalError is a lock or a permission: the file itself may be fine.
            if isinstance(error, sqlite3.OperationalError):
                raise
            raise BrokenStateError(self.path, str(error)) from None
        except BaseException:
            self._connection.close()
            raise

    def transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        """Run a write transaction, committed before this returns; nested calls join the outer one.

        BEGIN IMMEDIATE takes the write lock up front, so a read-then-update cannot be
        overtaken by another connection between the read and the update.
        """
        return _Scope(self, write=True)

    def reading(self) -> AbstractContextManager[sqlite3.Connection]:
        """Run reads that see one consistent snapshot; nested calls join the outer transaction."""
        return _Scope(self, write=False)

    def version(self) -> tuple[int, int] | None:
        """A mark that changes whenever the database may have changed: after a write
        transaction here, or a commit by another connection (SQLite's `data_version`).
        None inside a transaction: a write may yet be rolled back, and a read's snapshot
        may be older than the mark.

        What was read at one version can be kept and reused while the version holds.
        """
        with self._lock:
            if self._depth:
                return None
            row = self._connection.execute("PRAGMA data_version").fetchone()
            return self._writes, int(row[0])

    def others_mark(self) -> int:
        """A mark that changes whenever another connection has committed (SQLite's
        `data_version`): what this connection keeps in memory of the database holds while
        it does. Read once per outermost transaction or read, which no other connection
        commits into (a write one holds the lock; a read one keeps its snapshot)."""
        with self._lock:
            mark = self._others_mark
            if mark is None or not self._depth:
                mark = int(self._connection.execute("PRAGMA data_version").fetchone()[0])
                if self._depth:
                    self._others_mark = mark
            return mark

    def _forget_unsaved(self) -> None:
        """A write transaction was rolled back: drop whatever was kept in memory of it
        (subclasses that keep something override this)."""

    def close(self) -> None:
        """Close the connection; committed writes are already on disk."""
        with self._lock:
            self._connection.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def _check_integrity(connection: sqlite3.Connection, path: Path) -> None:
    """Refuse a damaged file at open, rather than failing halfway through a team's work."""
    problems = [str(row[0]) for row in connection.execute("PRAGMA quick_check").fetchall()]
    if problems != ["ok"]:
        shown = "; ".join(problems[:3]) + (" ..." if len(problems) > 3 else "")
        raise BrokenStateError(path, f"its integrity check failed ({shown})")


def team_row(connection: sqlite3.Connection, team_id: int) -> sqlite3.Row:
    """The row of team `team_id`, or a StoreError naming the missing team."""
    row: sqlite3.Row | None = connection.execute(
        "SELECT * FROM teams WHERE id = ?", (team_id,)
    ).fetchone()
    if row is None:
        raise StoreError(f"There is no team with id {team_id}.")
    return row


def active_team_row(connection: sqlite3.Connection, team_id: int) -> sqlite3.Row:
    """The row of team `team_id` if it is still active, or a StoreError saying why not."""
    row = team_row(connection, team_id)
    if row["status"] != "active":
        raise StoreError(f"Team {row['name']!r} is archived; it takes no more changes.")
    return row


def member_names(connection: sqlite3.Connection, team_id: int) -> list[str]:
    """The names of a team's members, the lead first."""
    rows = connection.execute(
        "SELECT name FROM members WHERE team_id = ? ORDER BY role = 'lead' DESC, created, name",
        (team_id,),
    ).fetchall()
    return [str(row["name"]) for row in rows]


def require_member(connection: sqlite3.Connection, team_id: int, name: str) -> sqlite3.Row:
    """The row of member `name` of a team, or a StoreError that lists who is in the team."""
    row: sqlite3.Row | None = connection.execute(
        "SELECT * FROM members WHERE team_id = ? AND name = ?", (team_id, name)
    ).fetchone()
    if row is None:
        known = ", ".join(member_names(connection, team_id)) or "nobody yet"
        raise StoreError(f"There is no member named {name!r} in this team; members: {known}.")
    return row


class _Scope:
    """One `transaction()` or `reading()` block. A class, not a generator: the coordinator
    enters several for every member's turn, most of them nested, which then cost a
    counter and the (re-entrant) lock."""

    __slots__ = ("_store", "_write")

    def __init__(self, store: StoreConnection, *, write: bool) -> None:
        self._store = store
        self._write = write

    def __enter__(self) -> sqlite3.Connection:
        store = self._store
        store._lock.acquire()
        try:
            if store._depth:
                if self._write and not store._writing:
                    raise RuntimeError("a write transaction cannot be nested in a read")
                store._depth += 1
            else:
                store._connection.execute("BEGIN IMMEDIATE" if self._write else "BEGIN")
                store._depth, store._writing = 1, self._write
                store._others_mark = None
        except BaseException:
            store._lock.release()
            raise
        return store._connection

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        store = self._store
        try:
            if store._depth > 1:
                store._depth -= 1
            elif not self._write:
                store._depth = 0
                store._connection.execute("COMMIT")
            else:
                self._end_write(committing=kind is None)
        finally:
            store._lock.release()

    def _end_write(self, *, committing: bool) -> None:
        """Commit the outermost write (roll it back if its block raised, or the commit did)."""
        store = self._store
        connection = store._connection
        committed = False
        try:
            if committing:
                connection.execute("COMMIT")
                committed = True
            elif connection.in_transaction:
                connection.execute("ROLLBACK")
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise
        finally:
            store._depth, store._writing = 0, False
            store._writes += 1
            store._others_mark = None
            if not committed:
                store._forget_unsaved()
