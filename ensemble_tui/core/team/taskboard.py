"""A team's task board: add tasks with dependencies, claim, complete, release and cancel.

Every operation is one transaction: it happens completely or, with a TaskBoardError,
not at all.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from ensemble_tui.core.models import MemberStatus, Task, TaskStatus, utc_now
from ensemble_tui.core.store.connection import (
    StoreError,
    active_team_row,
    require_member,
    sql_value,
)
from ensemble_tui.core.store.store import Store
from ensemble_tui.core.team.task_specs import TaskBoardError, TaskSpec, plan_tasks

__all__ = ["CompletionResult", "TaskBoard", "TaskBoardError", "TaskSpec"]

_BOARD_ORDER = """
    ORDER BY CASE status WHEN 'in_progress' THEN 0 WHEN 'pending' THEN 1 WHEN 'blocked' THEN 2
                         WHEN 'completed' THEN 3 ELSE 4 END,
             CASE priority WHEN 'high' THEN 0 WHEN 'medium' THEN 1 ELSE 2 END,
             number
"""


@dataclass(frozen=True)
class CompletionResult:
    """What completing a task changed.

    `unblocked` are the tasks that became claimable; `waiting` are the members who
    added them (they planned that work and wait for it to start), without the completer.
    """

    task: Task
    unblocked: list[Task] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)


class TaskBoard:
    """The task board of the teams in one store."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def add_tasks(
        self, team_id: int, specs: Sequence[TaskSpec], *, created_by: str | None = None
    ) -> list[Task]:
        """Add all `specs` or none; return the new tasks in list order.

        Ids are given in list order (the next free `t<n>`); `depends_on` may name
        existing tasks or tasks of the same call by those ids. A task waiting on any
        unfinished task starts `blocked`, otherwise `pending`.
        """
        now = sql_value(utc_now())
        with self._transaction() as db:
            team = active_team_row(db, team_id)
            if created_by is not None:
                require_member(db, team_id, created_by)
            existing = {task.id: task.status for task in self._load(db, team_id)}
            planned = plan_tasks(specs, int(team["next_task_number"]), existing)
            batch = {task.id for task in planned}
            for number, task in enumerate(planned, start=int(team["next_task_number"])):
                waits = any(
                    dep in batch or existing[dep] is not TaskStatus.COMPLETED
                    for dep in task.depends_on
                )
                status = TaskStatus.BLOCKED if waits else TaskStatus.PENDING
                db.execute(
                    "INSERT INTO tasks (team_id, id, number, content, priority, status, "
                    "created_by, created, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        team_id,
                        task.id,
                        number,
                        task.content,
                        task.priority.value,
                        status.value,
                        created_by,
                        now,
                        now,
                    ),
                )
            db.executemany(
                "INSERT INTO task_dependencies (team_id, task_id, depends_on) VALUES (?, ?, ?)",
                [(team_id, task.id, dep) for task in planned for dep in task.depends_on],
            )
            db.execute(
                "UPDATE teams SET next_task_number = next_task_number + ? WHERE id = ?",
                (len(planned), team_id),
            )
            added = {task.id: task for task in self._load(db, team_id) if task.id in batch}
            return [added[task.id] for task in planned]

    def claim(self, team_id: int, task_id: str, member: str) -> Task:
        """Give a pending, unassigned task to `member`; of racing claimers exactly one wins."""
        task_id = task_id.strip().lower()
        with self._transaction() as db:
            active_team_row(db, team_id)
            claimer = require_member(db, team_id, member)
            if MemberStatus(claimer["status"]).ended:
                raise TaskBoardError(f"{member!r} has {claimer['status']} and cannot claim tasks.")
            # The WHERE clause is the lock: only one UPDATE can find the task still pending.
            claimed = db.execute(
                "UPDATE tasks SET status = 'in_progress', assignee = ?, updated = ? "
                "WHERE team_id = ? AND id = ? AND status = 'pending' AND assignee IS NULL",
                (member, sql_value(utc_now()), team_id, task_id),
            ).rowcount
            task = self._require_task(db, team_id, task_id)
            if claimed != 1:
                raise TaskBoardError(self._why_not_claimable(db, task, member))
            self._refresh_current_task(db, team_id, member)
            return task

    def complete(
        self, team_id: int, task_id: str, member: str, result: str | None = None
    ) -> CompletionResult:
        """Mark `member`'s in-progress task completed and unblock the tasks waiting only on it."""
        task_id = task_id.strip().lower()
        now = sql_value(utc_now())
        with self._transaction() as db:
            require_member(db, team_id, member)
            done = db.execute(
                "UPDATE tasks SET status = 'completed', result = ?, updated = ? "
                "WHERE team_id = ? AND id = ? AND status = 'in_progress' AND assignee = ?",
                ((result or "").strip() or None, now, team_id, task_id, member),
            ).rowcount
            task = self._require_task(db, team_id, task_id)
            if done != 1:
                raise TaskBoardError(self._why_not_completable(task, member))
            self._refresh_current_task(db, team_id, member)
            board = {item.id: item for item in self._load(db, team_id)}
            unblocked = [
                item
                for item in board.values()
                if item.status is TaskStatus.BLOCKED
                and task_id in item.depends_on
                and all(board[dep].status is TaskStatus.COMPLETED for dep in item.depends_on)
            ]
            for item in unblocked:
                db.execute(
                    "UPDATE tasks SET status = 'pending', updated = ? WHERE team_id = ? AND id = ?",
                    (now, team_id, item.id),
                )
            ready = [self._require_task(db, team_id, item.id) for item in unblocked]
            waiting = [
                name
                for name in dict.fromkeys(item.created_by for item in ready)
                if name is not None and name != member
            ]
            return CompletionResult(task=task, unblocked=ready, waiting=waiting)

    def release_member_tasks(self, team_id: int, member: str) -> list[Task]:
        """Put a departing member's in-progress tasks back to pending, free to claim."""
        with self._transaction() as db:
            require_member(db, team_id, member)
            held = [
                task
                for task in self._load(db, team_id)
                if task.status is TaskStatus.IN_PROGRESS and task.assignee == member
            ]
            db.execute(
                "UPDATE tasks SET status = 'pending', assignee = NULL, updated = ? "
                "WHERE team_id = ? AND status = 'in_progress' AND assignee = ?",
                (sql_value(utc_now()), team_id, member),
            )
            self._refresh_current_task(db, team_id, member)
            return [self._require_task(db, team_id, task.id) for task in held]

    def cancel(self, team_id: int, task_id: str, *, by: str | None = None) -> Task:
        """Cancel a task that is not finished and that no unfinished task depends on."""
        task_id = task_id.strip().lower()
        with self._transaction() as db:
            task = self._require_task(db, team_id, task_id)
            if task.status in (TaskStatus.COMPLETED, TaskStatus.CANCELLED):
                raise TaskBoardError(f"Task {task_id} is already {task.status.value}.")
            dependents = [
                item.id
                for item in self._load(db, team_id)
                if task_id in item.depends_on
                and item.status not in (TaskStatus.COMPLETED, TaskStatus.CANCELLED)
            ]
            if dependents:
                raise TaskBoardError(
                    f"Task {task_id} cannot be cancelled while unfinished tasks depend on it: "
                    f"{', '.join(dependents)}; cancel those first."
                )
            db.execute(
                "UPDATE tasks SET status = 'cancelled', updated = ? WHERE team_id = ? AND id = ?",
                (sql_value(utc_now()), team_id, task_id),
            )
            if task.assignee is not None:
                self._refresh_current_task(db, team_id, task.assignee)
            return self._require_task(db, team_id, task_id)

    def get_task(self, team_id: int, task_id: str) -> Task | None:
        """The task `task_id` of a team, if there is one."""
        with self._store.reading() as db:
            tasks = self._load(db, team_id, "AND id = ?", (task_id.strip().lower(),))
        return tasks[0] if tasks else None

    def list_tasks(self, team_id: int) -> list[Task]:
        """A team's tasks by status (in progress, pending, blocked, done), priority, then id."""
        with self._store.reading() as db:
            return self._load(db, team_id)

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        # Callers catch one exception class, so the store's refusals are re-raised as ours.
        try:
            with self._store.transaction() as db:
                yield db
        except TaskBoardError:
            raise
        except StoreError as error:
            raise TaskBoardError(str(error)) from None

    @staticmethod
    def _load(
        db: sqlite3.Connection, team_id: int, condition: str = "", params: Sequence[object] = ()
    ) -> list[Task]:
        dependencies: dict[str, list[str]] = {}
        for row in db.execute(
            "SELECT task_id, depends_on FROM task_dependencies WHERE team_id = ? ORDER BY rowid",
            (team_id,),
        ):
            dependencies.setdefault(row["task_id"], []).append(row["depends_on"])
        rows = db.execute(
            f"SELECT * FROM tasks WHERE team_id = ? {condition} {_BOARD_ORDER}",
            (team_id, *params),
        )
        return [
            Task.model_validate({**dict(row), "depends_on": dependencies.get(row["id"], [])})
            for row in rows
        ]

    def _require_task(self, db: sqlite3.Connection, team_id: int, task_id: str) -> Task:
        tasks = self._load(db, team_id, "AND id = ?", (task_id,))
        if tasks:
            return tasks[0]
        ids = [task.id for task in sorted(self._load(db, team_id), key=lambda t: int(t.id[1:]))]
        known = ", ".join(ids) if ids else "none yet"
        raise TaskBoardError(
            f"There is no task {task_id!r} on this team's board; task ids: {known}."
        )

    def _why_not_claimable(self, db: sqlite3.Connection, task: Task, member: str) -> str:
        if task.status is TaskStatus.BLOCKED:
            board = {item.id: item for item in self._load(db, task.team_id)}
            waits = [
                f"{dep} ({board[dep].status.value})"
                for dep in task.depends_on
                if board[dep].status is not TaskStatus.COMPLETED
            ]
            return (
                f"Task {task.id} is blocked: it waits for {', '.join(waits)} to be completed; "
                "claim a pending task instead."
            )
        if task.status is TaskStatus.IN_PROGRESS:
            if task.assignee == member:
                return f"Task {task.id} is already yours; complete it when it is done."
            return f"Task {task.id} is already claimed by {task.assignee}; pick another task."
        if task.status is TaskStatus.COMPLETED:
            return f"Task {task.id} is already completed."
        return f"Task {task.id} was cancelled; it cannot be claimed."

    @staticmethod
    def _why_not_completable(task: Task, member: str) -> str:
        if task.status is TaskStatus.IN_PROGRESS:
            return f"Task {task.id} is claimed by {task.assignee}; only they can complete it."
        if task.status is TaskStatus.PENDING:
            return f"Task {task.id} is pending; claim it before completing it."
        if task.status is TaskStatus.BLOCKED:
            return f"Task {task.id} is blocked by unfinished dependencies; it cannot be completed."
        return f"Task {task.id} is already {task.status.value}."

    @staticmethod
    def _refresh_current_task(db: sqlite3.Connection, team_id: int, member: str) -> None:
        # A member's current task is the one it claimed last and has not finished.
        db.execute(
            "UPDATE members SET current_task_id = (SELECT id FROM tasks WHERE team_id = ? "
            "AND assignee = ? AND status = 'in_progress' ORDER BY updated DESC, number DESC "
            "LIMIT 1) WHERE team_id = ? AND name = ?",
            (team_id, member, team_id, member),
        )
