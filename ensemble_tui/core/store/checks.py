"""The store's results of the `check` command on teammates' branches (schema migration 3).

Each run of the check is one row: which member, which commit, the command, how it ended
and the last lines of its output. The newest row per member is the one that counts.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel

from ensemble_tui.core.models import utc_now
from ensemble_tui.core.store.connection import StoreConnection, sql_value


class CheckOutcome(StrEnum):
    """How a check ended."""

    PASSED = "passed"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    NOT_RUN = "not_run"
    """It could not start (no worktree, a command that cannot be run)."""


class CheckResult(BaseModel):
    """One run of the check on a member's branch."""

    id: int = 0
    team_id: int
    member: str
    command: str
    commit_sha: str | None = None
    outcome: CheckOutcome
    exit_code: int | None = None
    output: str = ""
    """The last lines of what the command printed (stdout and stderr together)."""
    seconds: float = 0.0
    finished: datetime

    @property
    def passed(self) -> bool:
        return self.outcome is CheckOutcome.PASSED

    def describe(self) -> str:
        """A few words: `passed`, `failed (exit 1)`, `timed out after 600s`..."""
        if self.outcome is CheckOutcome.FAILED:
            return f"failed (exit {self.exit_code})"
        if self.outcome is CheckOutcome.TIMED_OUT:
            return f"timed out after {self.seconds:.0f}s"
        if self.outcome is CheckOutcome.NOT_RUN:
            return "could not run"
        return "passed"


def _result(row: sqlite3.Row) -> CheckResult:
    return CheckResult.model_validate(dict(row))


class CheckQueries:
    """Check results; a part of `Store`."""

    def __init__(self, connection: StoreConnection) -> None:
        self._connection = connection

    def add_check(
        self,
        team_id: int,
        member: str,
        command: str,
        outcome: CheckOutcome,
        *,
        commit_sha: str | None = None,
        exit_code: int | None = None,
        output: str = "",
        seconds: float = 0.0,
    ) -> CheckResult:
        """Save one finished run of the check."""
        result = CheckResult(
            team_id=team_id,
            member=member,
            command=command,
            commit_sha=commit_sha,
            outcome=outcome,
            exit_code=exit_code,
            output=output,
            seconds=seconds,
            finished=utc_now(),
        )
        values = result.model_dump(exclude={"id"})
        columns = ", ".join(values)
        with self._connection.transaction() as db:
            cursor = db.execute(
                f"INSERT INTO checks ({columns}) VALUES ({', '.join('?' * len(values))})",
                [sql_value(value) for value in values.values()],
            )
        return result.model_copy(update={"id": int(cursor.lastrowid or 0)})

    def latest_check(self, team_id: int, member: str) -> CheckResult | None:
        """The newest check of *member*'s branch, if it was ever checked."""
        with self._connection.reading() as db:
            row = db.execute(
                "SELECT * FROM checks WHERE team_id = ? AND member = ? ORDER BY id DESC LIMIT 1",
                (team_id, member),
            ).fetchone()
        return None if row is None else _result(row)

    def latest_checks(self, team_id: int) -> dict[str, CheckResult]:
        """The newest check of each member's branch that was checked."""
        with self._connection.reading() as db:
            rows = db.execute(
                "SELECT * FROM checks WHERE id IN "
                "(SELECT MAX(id) FROM checks WHERE team_id = ? GROUP BY member)",
                (team_id,),
            ).fetchall()
        return {str(row["member"]): _result(row) for row in rows}

    def list_checks(self, team_id: int) -> list[CheckResult]:
        """Every check of the team, oldest first."""
        with self._connection.reading() as db:
            rows = db.execute(
                "SELECT * FROM checks WHERE team_id = ? ORDER BY id", (team_id,)
            ).fetchall()
        return [_result(row) for row in rows]
