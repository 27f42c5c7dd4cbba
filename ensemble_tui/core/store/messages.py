"""The message part of the store: saved first, then delivered and read per recipient."""

from __future__ import annotations

import sqlite3

from ensemble_tui.core.models import ENDED_STATUSES, Message, utc_now
from ensemble_tui.core.store.connection import (
    StoreConnection,
    StoreError,
    active_team_row,
    require_member,
    sql_value,
)

_ENDED = tuple(status.value for status in ENDED_STATUSES)

# A recipient's own view: the delivery row of that recipient decides delivered and read.
_INBOX_QUERY = """
    SELECT m.id, m.team_id, m.sender, m.recipient, m.text, m.created,
           d.delivered_at, d.read_at
    FROM messages AS m JOIN message_deliveries AS d ON d.message_id = m.id
    WHERE d.team_id = ? AND d.recipient = ? {condition}
    ORDER BY m.id
"""

# The feed's view: a message counts as delivered (or read) once every recipient has it.
_FEED_QUERY = """
    SELECT m.id, m.team_id, m.sender, m.recipient, m.text, m.created,
           CASE WHEN COUNT(d.recipient) > 0 AND COUNT(d.delivered_at) = COUNT(d.recipient)
                THEN MAX(d.delivered_at) END AS delivered_at,
           CASE WHEN COUNT(d.recipient) > 0 AND COUNT(d.read_at) = COUNT(d.recipient)
                THEN MAX(d.read_at) END AS read_at
    FROM messages AS m LEFT JOIN message_deliveries AS d ON d.message_id = m.id
    WHERE m.team_id = ? AND m.id > ?
    GROUP BY m.id
    ORDER BY m.id DESC
    LIMIT ?
"""


def _message(row: sqlite3.Row) -> Message:
    return Message.model_validate(dict(row))


class MessageQueries:
    """Add messages, track their delivery and reading, and list them for the feed."""

    def __init__(self, connection: StoreConnection) -> None:
        self._connection = connection

    def add_message(self, team_id: int, sender: str, recipient: str | None, text: str) -> Message:
        """Save a message from `sender` to `recipient` (None: every other working member)."""
        if not text.strip():
            raise StoreError("A message needs some text; this one is empty.")
        now = utc_now()
        with self._connection.transaction() as db:
            active_team_row(db, team_id)
            require_member(db, team_id, sender)
            if recipient is None:
                rows = db.execute(
                    "SELECT name FROM members WHERE team_id = ? AND name != ? "
                    f"AND status NOT IN ({', '.join('?' * len(_ENDED))})",
                    (team_id, sender, *_ENDED),
                ).fetchall()
                recipients = [str(row["name"]) for row in rows]
            else:
                if recipient == sender:
                    raise StoreError("You cannot send a message to yourself.")
                target = require_member(db, team_id, recipient)
                if target["status"] in _ENDED:
                    raise StoreError(
                        f"{recipient} has ended ({target['status']}) and reads no more "
                        "messages; its work is on its branch."
                    )
                recipients = [recipient]
            cursor = db.execute(
                "INSERT INTO messages (team_id, sender, recipient, text, created) "
                "VALUES (?, ?, ?, ?, ?)",
                (team_id, sender, recipient, text, sql_value(now)),
            )
            message_id = int(cursor.lastrowid or 0)
            db.executemany(
                "INSERT INTO message_deliveries (message_id, team_id, recipient) VALUES (?, ?, ?)",
                [(message_id, team_id, name) for name in recipients],
            )
        return Message(
            id=message_id,
            team_id=team_id,
            sender=sender,
            recipient=recipient,
            text=text,
            created=now,
        )

    def mark_delivered(self, message_id: int, recipient: str) -> None:
        """Record that a message reached `recipient`'s session (the first time counts)."""
        with self._connection.transaction() as db:
            cursor = db.execute(
                "UPDATE message_deliveries SET delivered_at = COALESCE(delivered_at, ?) "
                "WHERE message_id = ? AND recipient = ?",
                (sql_value(utc_now()), message_id, recipient),
            )
            if cursor.rowcount == 0:
                raise StoreError(f"Message {message_id} was not sent to {recipient!r}.")

    def list_undelivered(self, team_id: int, recipient: str) -> list[Message]:
        """The messages for `recipient` not yet delivered to its session, oldest first."""
        query = _INBOX_QUERY.format(condition="AND d.delivered_at IS NULL")
        with self._connection.reading() as db:
            return [_message(row) for row in db.execute(query, (team_id, recipient))]

    def count_undelivered(self, team_id: int) -> int:
        """How many (message, recipient) deliveries of a team are still outstanding."""
        with self._connection.reading() as db:
            row = db.execute(
                "SELECT COUNT(*) FROM message_deliveries "
                "WHERE team_id = ? AND delivered_at IS NULL",
                (team_id,),
            ).fetchone()
        return int(row[0])

    def take_unread(self, team_id: int, member: str) -> list[Message]:
        """Return `member`'s unread messages and mark exactly those read, in one transaction.

        A message read this way also counts as delivered, so it is not pushed again.
        """
        now = utc_now()
        query = _INBOX_QUERY.format(condition="AND d.read_at IS NULL")
        with self._connection.transaction() as db:
            unread = [_message(row) for row in db.execute(query, (team_id, member))]
            db.executemany(
                "UPDATE message_deliveries SET read_at = ?, "
                "delivered_at = COALESCE(delivered_at, ?) "
                "WHERE message_id = ? AND recipient = ?",
                [(sql_value(now), sql_value(now), message.id, member) for message in unread],
            )
        return [
            message.model_copy(update={"read_at": now, "delivered_at": message.delivered_at or now})
            for message in unread
        ]

    def list_messages(self, team_id: int, *, after_id: int = 0, limit: int = -1) -> list[Message]:
        """The team's messages for the feed, oldest first.

        Only messages after `after_id` count, and of those the last `limit` (-1: all).
        """
        with self._connection.reading() as db:
            rows = db.execute(_FEED_QUERY, (team_id, after_id, limit)).fetchall()
        return [_message(row) for row in reversed(rows)]
