"""The store's coordinator notices and task waiters (schema migration 2).

A notice is the coordinator's own word to a member, such as "t3 can now be
claimed"; a waiter is a member that asked for a blocked task. Both are saved
before they are acted on, so a crash forgets neither.
"""

from __future__ import annotations

from dataclasses import dataclass

from ensemble_tui.core.models import utc_now
from ensemble_tui.core.store.connection import StoreConnection, sql_value


@dataclass(frozen=True)
class Notice:
    """One saved coordinator notice."""

    id: int
    recipient: str
    text: str


class NoticeQueries:
    """Notices and waiters; a part of `Store`."""

    def __init__(self, connection: StoreConnection) -> None:
        self._connection = connection

    def add_notice(self, team_id: int, recipient: str, text: str) -> Notice:
        """Save a notice for `recipient`, to be delivered with its next prompt."""
        with self._connection.transaction() as db:
            cursor = db.execute(
                "INSERT INTO notices (team_id, recipient, text, created) VALUES (?, ?, ?, ?)",
                (team_id, recipient, text, sql_value(utc_now())),
            )
        return Notice(int(cursor.lastrowid or 0), recipient, text)

    def undelivered_notices(self, team_id: int, recipient: str | None = None) -> list[Notice]:
        """Notices not yet delivered (to `recipient`, or to anyone), oldest first."""
        query = "SELECT id, recipient, text FROM notices WHERE team_id = ? AND delivered_at IS NULL"
        params: tuple[object, ...] = (team_id,)
        if recipient is not None:
            query += " AND recipient = ?"
            params += (recipient,)
        with self._connection.reading() as db:
            rows = db.execute(query + " ORDER BY id", params).fetchall()
        return [Notice(int(row["id"]), str(row["recipient"]), str(row["text"])) for row in rows]

    def mark_notices_delivered(self, notice_ids: list[int]) -> None:
        with self._connection.transaction() as db:
            db.executemany(
                "UPDATE notices SET delivered_at = ? WHERE id = ?",
                [(sql_value(utc_now()), notice_id) for notice_id in notice_ids],
            )

    def add_waiter(self, team_id: int, task_id: str, member: str) -> None:
        """Remember that `member` waits for `task_id` to become claimable."""
        with self._connection.transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO task_waiters (team_id, task_id, member) VALUES (?, ?, ?)",
                (team_id, task_id, member),
            )

    def notify_waiters(self, team_id: int, task_id: str, text: str) -> list[str]:
        """Turn everyone waiting for `task_id` into a notice `text` for them, atomically."""
        with self._connection.transaction() as db:
            rows = db.execute(
                "SELECT member FROM task_waiters WHERE team_id = ? AND task_id = ? ORDER BY member",
                (team_id, task_id),
            ).fetchall()
            waiters = [str(row["member"]) for row in rows]
            db.executemany(
                "INSERT INTO notices (team_id, recipient, text, created) VALUES (?, ?, ?, ?)",
                [(team_id, name, text, sql_value(utc_now())) for name in waiters],
            )
            db.execute(
                "DELETE FROM task_waiters WHERE team_id = ? AND task_id = ?", (team_id, task_id)
            )
        return waiters
