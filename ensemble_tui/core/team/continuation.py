"""Until done: when the lead stops while work is open, the coordinator tells it what remains.

This is the one owner of continuation: nothing else re-prompts the lead for it. It acts
only when the whole team is quiet (every session idle, nothing waiting for delivery) and
the board still has open tasks, or a teammate's OpenCode todo list has unchecked items.
Its prompt names exactly what remains: each open task with its owner and what blocks
it, the idle teammates, the unchecked todos. A round that changes nothing (no task moved,
no commit on any branch, no message) counts toward `no_progress_limit`; at the limit the
team is paused and the report written. A pause (the human's, or a budget's) always wins.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from enum import StrEnum

from ensemble_tui.core.git.commands import GitError
from ensemble_tui.core.git.work import branch_heads
from ensemble_tui.core.models import LEAD_NAME, Task, TaskStatus, Team
from ensemble_tui.core.team.coordinator import Coordinator
from ensemble_tui.core.team.events import TeamContinued
from ensemble_tui.core.team.report import write_report
from ensemble_tui.core.team.sessions import SessionState
from ensemble_tui.opencode.client import OpenCodeError
from ensemble_tui.opencode.events import Event, TodoUpdated

log = logging.getLogger(__name__)

NO_PROGRESS_CAUSE = "no_progress"
OPEN = (TaskStatus.PENDING, TaskStatus.BLOCKED, TaskStatus.IN_PROGRESS)
QUIET_FOR = 0.5
"""Seconds the team must stay quiet before a round is judged (a turn's end is busy)."""


class Outcome(StrEnum):
    """What one look at the team decided."""

    OFF = "off"
    """Until-done is off (or there is no team)."""
    BUSY = "busy"
    """Someone works or something waits: nothing to judge yet."""
    PAUSED = "paused"
    DONE = "done"
    """Nothing is open."""
    CONTINUED = "continued"
    NO_PROGRESS = "no_progress"


@dataclass(frozen=True)
class Remaining:
    """What is still open, as the continuation prompt names it."""

    tasks: list[Task]
    idle: list[str]
    todos: dict[str, list[str]]

    @property
    def empty(self) -> bool:
        return not self.tasks and not any(self.todos.values())


def _task_line(task: Task, by_id: dict[str, Task]) -> str:
    owner = f"held by {task.assignee}" if task.assignee else "unclaimed"
    blockers = [
        f"{d} ({by_id[d].status.value})"
        for d in task.depends_on
        if d in by_id and by_id[d].status in OPEN
    ]
    blocked = f", blocked by {', '.join(blockers)}" if blockers else ""
    return f"- {task.id} [{task.status.value}, {owner}{blocked}]: {task.content}"


def continuation_text(remaining: Remaining, all_tasks: list[Task], round_number: int) -> str:
    """The prompt that tells the lead exactly what remains."""
    by_id = {task.id: task for task in all_tasks}
    lines = [
        f"ensemble (until done, round {round_number}): you stopped, but the work is not done.",
    ]
    if remaining.tasks:
        lines += ["Open tasks:", *(_task_line(task, by_id) for task in remaining.tasks)]
    for member, items in remaining.todos.items():
        if items:
            lines.append(f"{member}'s todo list has unchecked items: {'; '.join(items)}")
    idle = ", ".join(remaining.idle) if remaining.idle else "none"
    lines += [
        f"Idle teammates: {idle}.",
        "Carry on: give the open tasks to idle teammates (team_message) or spawn new ones, "
        "and unblock what is blocked. When every task is done, merge the branches "
        "(team_merge or team_cleanup).",
    ]
    return "\n".join(lines)


class Continuation:
    """Keeps a team in until-done mode going; the coordinator's one re-prompter."""

    def __init__(self, coordinator: Coordinator) -> None:
        self.coordinator = coordinator
        self.rounds = 0
        self.without_progress = 0
        self._fingerprint: tuple[object, ...] | None = None
        self._lock = asyncio.Lock()
        self._todos: dict[str, list[str]] = {}
        coordinator.add_session_listener(self._follow_todos)

    def _follow_todos(self, state: SessionState, event: Event) -> None:
        if isinstance(event, TodoUpdated):
            self._todos[state.member] = [
                todo.content
                for todo in event.todos
                if todo.status not in ("completed", "cancelled")
            ]

    def remaining(self, team: Team) -> Remaining:
        """The open tasks, the idle teammates and the unchecked todos of live teammates."""
        coordinator = self.coordinator
        tasks = [t for t in coordinator.board.list_tasks(team.id) if t.status in OPEN]
        live = [
            m.name
            for m in coordinator.store.list_members(team.id)
            if m.name != LEAD_NAME and not m.status.ended
        ]
        idle = []
        for name in live:
            state = coordinator.session_of(name)
            if state is not None and state.idle:
                idle.append(name)
        todos = {name: self._todos.get(name, []) for name in live if self._todos.get(name)}
        return Remaining(tasks, idle, todos)

    async def _fingerprint_of(self, team: Team) -> tuple[object, ...]:
        """What counts as progress: tasks' states, branch heads, messages sent."""
        coordinator = self.coordinator
        tasks = tuple(
            (t.id, t.status.value, t.assignee) for t in coordinator.board.list_tasks(team.id)
        )
        try:
            heads = await asyncio.to_thread(
                branch_heads, coordinator.repo_root, f"ensemble/{team.name}/"
            )
        except GitError:
            heads = {}
        messages = coordinator.store.list_messages(team.id)
        last_message = messages[-1].id if messages else 0
        return tasks, tuple(sorted(heads.items())), last_message

    def quiet(self) -> bool:
        return self.coordinator.settled()

    @property
    def enabled(self) -> bool:
        return self.coordinator.until_done

    async def step(self) -> Outcome:
        """Judge the team once: continue the lead if it is quiet with work open."""
        async with self._lock:
            coordinator = self.coordinator
            team = coordinator.team
            if not self.enabled or team is None:
                return Outcome.OFF
            if coordinator.paused is not None:
                return Outcome.PAUSED
            lead = coordinator.lead
            if lead is None or not self.quiet():
                return Outcome.BUSY
            remaining = self.remaining(team)
            if remaining.empty:
                return Outcome.DONE
            fingerprint = await self._fingerprint_of(team)
            if not self.quiet() or coordinator.paused is not None:
                return Outcome.BUSY
            if fingerprint == self._fingerprint:
                self.without_progress += 1
            else:
                self.without_progress = 0
            self._fingerprint = fingerprint
            limit = coordinator.settings.no_progress_limit
            if self.without_progress >= limit:
                said = (
                    f"{self.without_progress} until-done rounds in a row changed nothing "
                    f"(no task moved, no commit, no message); {len(remaining.tasks)} "
                    "task(s) still open"
                )
                coordinator.pause(said, NO_PROGRESS_CAUSE)
                await write_report(coordinator, team, f"paused: {said}")
                return Outcome.NO_PROGRESS
            self.rounds += 1
            all_tasks = coordinator.board.list_tasks(team.id)
            text = continuation_text(remaining, all_tasks, self.rounds)
            coordinator.record(
                TeamContinued(
                    member=LEAD_NAME,
                    text=text,
                    round=self.rounds,
                    remaining=[task.id for task in remaining.tasks],
                    idle=remaining.idle,
                    without_progress=self.without_progress,
                )
            )
            try:
                await coordinator.prompt(lead, text)
            except OpenCodeError as error:
                log.warning("the continuation did not reach the lead: %s", error)
                return Outcome.BUSY
            return Outcome.CONTINUED

    async def run(self) -> None:
        """Look whenever the team has been quiet for a moment (cancel to stop)."""
        while True:
            await asyncio.sleep(QUIET_FOR)
            if not self.enabled or self.coordinator.paused is not None:
                continue
            try:
                if self.quiet():
                    await asyncio.sleep(QUIET_FOR)
                    if self.quiet():
                        await self.step()
            except Exception:
                log.exception("the until-done check failed; it keeps watching")
