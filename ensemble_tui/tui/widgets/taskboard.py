"""The task board: tasks grouped by status, with priority, assignee and what blocks them."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from rich.style import Style
from rich.text import Text
from textual.binding import Binding, BindingType
from textual.events import Resize
from textual.message import Message
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist, ColumnKey, RowDoesNotExist

from ensemble_tui.core.states import TaskPriority, TaskStatus
from ensemble_tui.tui.widgets.table import LiveTable

if TYPE_CHECKING:
    from ensemble_tui.core.models import Task

GROUPS: dict[TaskStatus, str] = {
    TaskStatus.IN_PROGRESS: "In progress",
    TaskStatus.PENDING: "Ready",
    TaskStatus.BLOCKED: "Blocked",
    TaskStatus.COMPLETED: "Done",
    TaskStatus.CANCELLED: "Cancelled",
}
GROUP_PREFIX = "group:"
PRIORITY_MARKS = {TaskPriority.HIGH: "▲", TaskPriority.MEDIUM: "•", TaskPriority.LOW: "▽"}
COLUMNS = ("id", "pri", "task", "who", "needs")
# Narrower than this, the board drops the cells' padding and puts the assignee after the
# task's text, so that an 80-column terminal shows more than a dozen characters of a task.
NARROW = 50

Row = tuple[str, tuple[Text, ...]]


class TaskBoard(LiveTable):
    """The team's tasks, live: a status change moves a task to its group."""

    DEFAULT_CSS = """
    TaskBoard {
        height: 1fr;
        overflow-x: hidden;
        border: round $border-blurred;
        border-title-color: $text;
        border-subtitle-color: $text-muted;
        background: $surface;
        &:focus { border: round $border; }
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j", "cursor_down", "Down", show=False, id="tasks.down"),
        Binding("k", "cursor_up", "Up", show=False, id="tasks.up"),
    ]

    @dataclass
    class TaskChosen(Message):
        """The human pressed enter on a task."""

        task: Task

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=False)
        self.tasks: dict[str, Task] = {}
        self.order: list[str] = []
        self.cells: dict[str, tuple[Text, ...]] = {}
        self.last: list[Task] = []
        self.task_width = 30
        self.narrow = False
        self.border_title = "Tasks"
        self.border_subtitle = "enter details"

    def on_mount(self) -> None:
        # No header: the labels are empty so that they take no width (Text, as in the
        # team list: a str would load Rich's emoji table).
        for column in COLUMNS:
            self.add_column(Text(), key=column)
        self.show_header = False

    def on_resize(self, event: Resize) -> None:
        self.show(self.last)

    def _fit_task_column(self, tasks: list[Task]) -> bool:
        """Give the task's text the width the other columns leave; True if it changed."""
        done = {task.id for task in tasks if task.status is TaskStatus.COMPLETED}
        ids = max((len(task.id) for task in tasks), default=2)
        who = max((len(task.assignee or "") for task in tasks), default=0)
        needs = max(
            (len(" ".join(d for d in task.depends_on if d not in done)) for task in tasks),
            default=0,
        )
        narrow = self.size.width < NARROW
        if narrow:
            # No padding: the id and the mark carry a space, the assignee joins the task.
            others = ids + 2 + 2 + (needs + 3 if needs else 0) + 2
        else:
            # Two cells of padding per column, the marks, and a column for the scroll bar.
            others = 2 * len(COLUMNS) + ids + 1 + who + (needs + 2 if needs else 0) + 2
        width = max(12, self.size.width - others)
        if width == self.task_width and narrow == self.narrow:
            return False
        self.task_width, self.narrow = width, narrow
        self.cell_padding = 0 if narrow else 1
        # The rows are made again: the other columns fit them anew (a table's columns only
        # ever grow to their cells, and narrow cells carry spaces that wide ones do not).
        for column in self.columns.values():
            column.content_width = 0
        column = self.columns[ColumnKey("task")]
        column.width, column.auto_width = width, False
        return True

    def show(self, tasks: list[Task]) -> None:
        """Show these tasks (in board order): cells are updated in place while the
        grouping stays the same, and the rows are rebuilt when a task changes group."""
        self.last = tasks
        self.tasks = {task.id: task for task in tasks}
        rebuild = self._fit_task_column(tasks)
        rows = self._rows(tasks)
        keys = [key for key, _ in rows]
        if keys == self.order and not rebuild:
            for key, cells in rows:
                for column, cell, before in zip(COLUMNS, cells, self.cells[key], strict=True):
                    if cell != before:
                        self.set_cell(key, column, cell)
                self.cells[key] = cells
            return
        selected = self._selected_key()
        self.clear()
        for key, cells in rows:
            self.add_row(*cells, key=key)
        self.order = keys
        self.cells = dict(rows)
        done = sum(task.status is TaskStatus.COMPLETED for task in tasks)
        self.border_title = f"Tasks {done}/{len(tasks)}" if tasks else "Tasks"
        if selected is not None:
            with contextlib.suppress(RowDoesNotExist):
                self.move_cursor(row=self.get_row_index(selected))

    def _selected_key(self) -> str | None:
        if not self.order:
            return None
        try:
            return self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        except CellDoesNotExist:
            return None

    def _rows(self, tasks: list[Task]) -> list[Row]:
        done = {task.id for task in tasks if task.status is TaskStatus.COMPLETED}
        rows: list[Row] = []
        for status, label in GROUPS.items():
            group = [task for task in tasks if task.status is status]
            if not group:
                continue
            heading = Text(f"{label} · {len(group)}", style="bold underline")
            rows.append((GROUP_PREFIX + status.value, (Text(), Text(), heading, Text(), Text())))
            rows += [(task.id, self._cells(task, done)) for task in group]
        return rows

    def _cells(self, task: Task, done: set[str]) -> tuple[Text, ...]:
        finished = task.status in (TaskStatus.COMPLETED, TaskStatus.CANCELLED)
        high = task.priority is TaskPriority.HIGH
        warning = Style(color=self.app.theme_variables["warning"])
        waiting = [dep for dep in task.depends_on if dep not in done]
        gap = " " if self.narrow else ""
        content = Text(
            task.content.splitlines()[0] if task.content else "", style="dim" if finished else ""
        )
        who = Text(task.assignee or "", style="italic")
        if self.narrow and task.assignee:
            content = Text.assemble(content, " · ", who)
            who = Text()
        return (
            Text(gap + task.id + gap, style="dim"),
            Text(PRIORITY_MARKS[task.priority] + gap, style=warning if high else Style(dim=True)),
            content,
            who,
            Text(gap + "⛓ " + " ".join(waiting), style=warning) if waiting else Text(),
        )

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        task = self.tasks.get(event.row_key.value or "")
        if task is not None:
            self.post_message(self.TaskChosen(task))


def _clip(text: str, width: int) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= width else line[: width - 1] + "…"
