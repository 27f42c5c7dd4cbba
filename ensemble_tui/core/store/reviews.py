"""The store's reviews of teammates' branches by the `review_agent` (schema migration 6).

Each review is one row: whose branch, which commit, the reviewer's agent and session, and
its verdict (pending until the reviewer answers). The newest row per member is the one
that counts; a review that is still pending belongs to the run that started it.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel

from ensemble_tui.core.models import utc_now
from ensemble_tui.core.store.connection import StoreConnection, sql_value


class Verdict(StrEnum):
    """Where a review stands."""

    PENDING = "pending"
    APPROVED = "approved"
    CHANGES_REQUESTED = "changes_requested"
    NO_VERDICT = "no_verdict"
    """The reviewer ended (or was stopped) without answering."""


class Review(BaseModel):
    """One review of a member's branch at one commit."""

    id: int = 0
    team_id: int
    member: str
    agent: str
    commit_sha: str
    session_id: str | None = None
    verdict: Verdict = Verdict.PENDING
    reasons: str = ""
    """The reviewer's reasons (or, with no verdict, why there is none)."""
    tokens: int = 0
    cost: float = 0.0
    started: datetime
    finished: datetime | None = None

    @property
    def label(self) -> str:
        """A word or two for the screen: approved, changes requested, reviewing…"""
        if self.verdict is Verdict.PENDING:
            return "reviewing…"
        return self.verdict.value.replace("_", " ")

    @property
    def short_label(self) -> str:
        """One word for the team list's check column."""
        return "changes" if self.verdict is Verdict.CHANGES_REQUESTED else self.label

    def describe(self) -> str:
        """The verdict with its commit and reasons, in one line for a report."""
        reasons = f": {' '.join(self.reasons.split())}" if self.reasons else ""
        return f"{self.agent} {self.label} on {self.commit_sha[:8]}{reasons}"


def _review(row: sqlite3.Row) -> Review:
    return Review.model_validate(dict(row))


class ReviewQueries:
    """Reviews; a part of `Store`."""

    def __init__(self, connection: StoreConnection) -> None:
        self._connection = connection

    def add_review(self, team_id: int, member: str, agent: str, commit_sha: str) -> Review:
        """Save a review that starts now (pending)."""
        review = Review(
            team_id=team_id, member=member, agent=agent, commit_sha=commit_sha, started=utc_now()
        )
        values = review.model_dump(exclude={"id"})
        columns = ", ".join(values)
        with self._connection.transaction() as db:
            cursor = db.execute(
                f"INSERT INTO reviews ({columns}) VALUES ({', '.join('?' * len(values))})",
                [sql_value(value) for value in values.values()],
            )
        return review.model_copy(update={"id": int(cursor.lastrowid or 0)})

    def set_session(self, review_id: int, session_id: str) -> None:
        with self._connection.transaction() as db:
            db.execute("UPDATE reviews SET session_id = ? WHERE id = ?", (session_id, review_id))

    def add_usage(self, review_id: int, tokens: int, cost: float) -> None:
        """Add one of the reviewer's steps to the review's totals."""
        with self._connection.transaction() as db:
            db.execute(
                "UPDATE reviews SET tokens = tokens + ?, cost = cost + ? WHERE id = ?",
                (tokens, cost, review_id),
            )

    def finish_review(self, review_id: int, verdict: Verdict, reasons: str) -> Review | None:
        """Give a pending review its verdict; None if it was not pending (answered before)."""
        with self._connection.transaction() as db:
            cursor = db.execute(
                "UPDATE reviews SET verdict = ?, reasons = ?, finished = ? "
                "WHERE id = ? AND verdict = 'pending'",
                (verdict.value, reasons, sql_value(utc_now()), review_id),
            )
        if cursor.rowcount == 0:
            return None
        return self.get_review(review_id)

    def get_review(self, review_id: int) -> Review | None:
        with self._connection.reading() as db:
            row = db.execute("SELECT * FROM reviews WHERE id = ?", (review_id,)).fetchone()
        return None if row is None else _review(row)

    def latest_review(self, team_id: int, member: str) -> Review | None:
        """The newest review of *member*'s branch, if it was ever reviewed."""
        with self._connection.reading() as db:
            row = db.execute(
                "SELECT * FROM reviews WHERE team_id = ? AND member = ? ORDER BY id DESC LIMIT 1",
                (team_id, member),
            ).fetchone()
        return None if row is None else _review(row)

    def latest_reviews(self, team_id: int) -> dict[str, Review]:
        """The newest review of each member's branch that was reviewed."""
        with self._connection.reading() as db:
            rows = db.execute(
                "SELECT * FROM reviews WHERE id IN "
                "(SELECT MAX(id) FROM reviews WHERE team_id = ? GROUP BY member)",
                (team_id,),
            ).fetchall()
        return {str(row["member"]): _review(row) for row in rows}

    def list_reviews(self, team_id: int) -> list[Review]:
        """Every review of the team, oldest first."""
        with self._connection.reading() as db:
            rows = db.execute(
                "SELECT * FROM reviews WHERE team_id = ? ORDER BY id", (team_id,)
            ).fetchall()
        return [_review(row) for row in rows]
