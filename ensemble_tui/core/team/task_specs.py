"""Checking a batch of new tasks before any is written: content, priority, dependencies."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pydantic import BaseModel, Field

from ensemble_tui.core.models import TaskPriority, TaskStatus
from ensemble_tui.core.store.connection import StoreError

MAX_CONTENT_CHARS = 2000
_PRIORITY_VALUES = [priority.value for priority in TaskPriority]
_PRIORITY_NAMES = ", ".join(_PRIORITY_VALUES)


class TaskBoardError(StoreError):
    """A task board request that was refused; nothing was changed.

    The message is a sentence that names the bad value and what is allowed, fit to be
    shown to an agent verbatim.
    """


class TaskSpec(BaseModel):
    """One task to add, as an agent or the user gives it.

    The fields are deliberately loose (plain strings) so that a bad value reaches
    `plan_tasks`, which explains it in words an agent can act on.
    """

    content: str = Field(description="What to do, 1 to 2000 characters.")
    priority: str = Field(default="medium", description="high, medium or low.")
    depends_on: list[str] = Field(
        default_factory=list,
        description="Ids of tasks that must be completed first: existing ones, or ones "
        "of the same call by the ids they will get (the next free t<n>, in list order).",
    )


@dataclass(frozen=True)
class PlannedTask:
    """A checked task with the id it will get."""

    id: str
    content: str
    priority: TaskPriority
    depends_on: tuple[str, ...]


def task_id(number: int) -> str:
    """The id a team's `number`-th task gets."""
    return f"t{number}"


def plan_tasks(
    specs: Sequence[TaskSpec], first_number: int, existing: Mapping[str, TaskStatus]
) -> list[PlannedTask]:
    """Check every spec, give each the next free id, and raise one error naming all problems.

    `existing` maps the team's task ids to their status. A spec may depend on an
    existing task that is not cancelled, or on any task of the same batch (by the id it
    will get), as long as the batch has no cycle.
    """
    if not specs:
        raise TaskBoardError("No tasks were given; add at least one task.")
    new_ids = [task_id(first_number + index) for index in range(len(specs))]
    problems: list[str] = []
    planned: list[PlannedTask] = []
    unknown_ids = False
    for index, (spec, new_id) in enumerate(zip(specs, new_ids, strict=True), start=1):
        where = f"Task {index} of the list (would be {new_id})"
        content = spec.content.strip()
        if not content:
            problems.append(f"{where} has no content; describe what to do.")
        elif len(content) > MAX_CONTENT_CHARS:
            problems.append(
                f"{where} is {len(content)} characters long; the limit is {MAX_CONTENT_CHARS}."
            )
        priority_name = spec.priority.strip().lower()
        if priority_name not in _PRIORITY_VALUES:
            problems.append(
                f"{where} has priority {spec.priority!r}; use one of {_PRIORITY_NAMES}."
            )
        depends_on = tuple(dict.fromkeys(dep.strip().lower() for dep in spec.depends_on))
        for dep in depends_on:
            if dep in new_ids:
                continue
            status = existing.get(dep)
            if status is None:
                unknown_ids = True
                problems.append(f"{where} depends on {dep!r}, which does not exist.")
            elif status is TaskStatus.CANCELLED:
                problems.append(f"{where} depends on {dep}, which was cancelled.")
        if not problems:
            planned.append(PlannedTask(new_id, content, TaskPriority(priority_name), depends_on))
    if not problems:
        cycle = _find_cycle({task.id: task.depends_on for task in planned})
        if cycle is not None:
            problems.append(_describe_cycle(cycle))
    if problems:
        if unknown_ids:
            problems.append(_id_hint(new_ids, existing))
        raise TaskBoardError("No tasks were added. " + " ".join(problems))
    return planned


def _id_hint(new_ids: Sequence[str], existing: Mapping[str, TaskStatus]) -> str:
    known = ", ".join(existing) if existing else "none yet"
    batch = new_ids[0] if len(new_ids) == 1 else f"{new_ids[0]} to {new_ids[-1]}"
    return f"Existing task ids: {known}; the tasks of this call would get {batch}."


def _describe_cycle(cycle: Sequence[str]) -> str:
    if len(cycle) == 2:
        return f"Task {cycle[0]} depends on itself; a task cannot wait for itself."
    return (
        "These tasks depend on each other in a cycle, so none could ever start: "
        f"{' -> '.join(cycle)} (a -> b means a depends on b)."
    )


def _find_cycle(graph: Mapping[str, Sequence[str]]) -> list[str] | None:
    """A dependency cycle among the batch, as a path that ends where it starts, or None."""
    done: set[str] = set()
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        path.append(node)
        for dep in graph.get(node, ()):
            if dep in path:
                return [*path[path.index(dep) :], dep]
            if dep in graph and dep not in done and (cycle := visit(dep)):
                return cycle
        path.pop()
        done.add(node)
        return None

    for node in graph:
        if node not in done and (cycle := visit(node)):
            return cycle
    return None
