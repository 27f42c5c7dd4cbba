"""The teammate list: one row per member, the lead first, updated cell by cell."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar

from rich.style import Style
from rich.text import Text
from textual.binding import Binding, BindingType
from textual.coordinate import Coordinate
from textual.events import Resize
from textual.message import Message
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist, RowDoesNotExist

from ensemble_tui.tui.views import (
    STATUS_COLOURS,
    STATUS_ICONS,
    format_cost,
    format_elapsed,
    format_tokens,
)
from ensemble_tui.tui.widgets.table import LiveTable

# Only named (the rows come with the team, after the first frame).
if TYPE_CHECKING:
    from ensemble_tui.core.team.read_model import MemberRow

# The branch column only when the list is this wide: the names say it otherwise, and on
# an 80-column terminal the task needs the room.
BRANCH_WIDTH = 90
# The cost column only from this width (the status bar has the team's cost): below it the
# task's text gets the room, as at 80 columns beside the activity column.
COST_WIDTH = 72
COLUMNS = ("name", "status", "check", "task", "branch", "time", "tokens", "cost")
# Before the name of a member forked from another's conversation.
FORK_MARK = "⑂ "
# The check column's glyph and theme colour per result (the label says the rest).
CHECK_LOOKS: dict[str, tuple[str, str | None]] = {
    "passed": ("✓", "success"),
    "failed": ("✗", "error"),
    "timed out": ("⏱", "error"),
    "not run": ("!", "warning"),
    "running…": ("⧗", None),
    "approved": ("✓", "success"),
    "changes": ("✗", "error"),
    "reviewing…": ("⧗", None),
    "no verdict": ("!", "warning"),
}


class TeammateList(LiveTable):
    """Name, status, check (when a `check` is set), task, branch, time in status, tokens
    and cost of every member."""

    DEFAULT_CSS = """
    TeammateList {
        height: auto;
        max-height: 40%;
        overflow-x: hidden;
        border: round $border-blurred;
        border-title-color: $text;
        border-subtitle-color: $text-muted;
        background: $surface;
        &:focus { border: round $border; }
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j", "cursor_down", "Down", show=False, id="teammates.down"),
        Binding("k", "cursor_up", "Up", show=False, id="teammates.up"),
        Binding("escape", "app.show_lead", "Back to the lead", id="teammates.lead"),
    ]

    @dataclass
    class MemberHighlighted(Message):
        """The cursor moved onto a member."""

        name: str

    @dataclass
    class MemberChosen(Message):
        """The human pressed enter on a member."""

        name: str

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=False, show_cursor=True)
        self.rows_shown: dict[str, MemberRow] = {}
        self.cells_shown: dict[str, dict[str, Text]] = {}
        self.shown_member = "lead"
        self.told: str | None = None
        """The member the app was last told is under the cursor."""
        self.now: datetime | None = None
        self.with_branch = False
        self.with_cost = True
        self.with_check = False
        self.task_width = 4
        self.border_title = "Team"

    def on_mount(self) -> None:
        self._add_columns()

    def _columns(self) -> tuple[str, ...]:
        hidden = {"branch"} if not self.with_branch else set()
        if not self.with_cost:
            hidden.add("cost")
        if not self.with_check:
            hidden.add("check")
        return tuple(c for c in COLUMNS if c not in hidden)

    def _add_columns(self) -> None:
        for column in self._columns():
            # Text, not a str: a str is read as markup, and markup loads Rich's table of
            # emoji names (15 ms before the first frame).
            self.add_column(Text(column), key=column)

    def on_resize(self, event: Resize) -> None:
        wide = event.size.width >= BRANCH_WIDTH
        costly = event.size.width >= COST_WIDTH
        if (wide, costly) != (self.with_branch, self.with_cost):
            self.with_branch, self.with_cost = wide, costly
            self._rebuild()

    def show_check_column(self, shown: bool) -> None:
        """Show the check column (a `check` is set) or not."""
        if shown != self.with_check:
            self.with_check = shown
            self._rebuild()

    def _rebuild(self) -> None:
        selected = self.selected
        rows = list(self.rows_shown.values())
        self.clear(columns=True)
        self.rows_shown.clear()
        self.cells_shown.clear()
        self._add_columns()
        if self.now is not None:
            self.show(rows, self.now)
        if selected is not None:
            self.select(selected)

    @property
    def selected(self) -> str | None:
        """The member under the cursor."""
        if not self.rows_shown or self.cursor_row < 0:
            return None
        try:
            key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key
        except CellDoesNotExist:
            return None
        return key.value

    def select(self, name: str) -> None:
        with contextlib.suppress(RowDoesNotExist):
            self.move_cursor(row=self.get_row_index(name))

    def show(self, rows: list[MemberRow], now: datetime) -> None:
        """Show these members, changing only the cells that differ."""
        self.now = now
        self.task_width = self._task_width(rows)
        names = {row.name for row in rows}
        for gone in [name for name in self.rows_shown if name not in names]:
            self.remove_row(gone)
            del self.rows_shown[gone]
            del self.cells_shown[gone]
        for row in rows:
            cells = self._cells(row, now)
            before = self.cells_shown.get(row.name)
            if before is None:
                self.add_row(*cells.values(), key=row.name)
            else:
                for column, cell in cells.items():
                    if cell != before[column]:
                        self.set_cell(row.name, column, cell)
            self.rows_shown[row.name] = row
            self.cells_shown[row.name] = cells
        self._tell_highlighted()

    def _task_width(self, rows: list[MemberRow]) -> int:
        """What the other columns leave for the task's id and text (the id at least)."""
        widths = {
            "name": max((len(row.name) + 2 * bool(row.forked_from) for row in rows), default=4) + 2,
            "status": max((len(row.status.value) for row in rows), default=6) + 2,
            "check": max([5, *(len(row.check_label) + 2 for row in rows)]),
            "branch": max([len("(your tree)"), *(len(row.branch) for row in rows)]),
            "time": 5,
            "tokens": 6,
            "cost": 6,
        }
        others = sum(widths[c] for c in self._columns() if c in widths)
        return max(4, self.size.width - others - 2 * len(self._columns()) - 1)

    def mark_shown(self, name: str) -> None:
        """Mark the member whose session the session pane shows."""
        previous, self.shown_member = self.shown_member, name
        for member in {previous, name}:
            row = self.rows_shown.get(member)
            if row is not None and self.now is not None:
                cell = self._cells(row, self.now)["name"]
                if cell != self.cells_shown[member]["name"]:
                    self.set_cell(member, "name", cell)
                    self.cells_shown[member]["name"] = cell

    def _cells(self, row: MemberRow, now: datetime) -> dict[str, Text]:
        colour = STATUS_COLOURS.get(row.status)
        status_style = Style(color=self.app.theme_variables[colour]) if colour else Style(dim=True)
        marker = "▶ " if row.name == self.shown_member else "  "
        cells = {
            "name": Text(
                marker + (FORK_MARK if row.forked_from else "") + row.name,
                style="bold" if row.is_lead else "",
            ),
            "status": Text(f"{STATUS_ICONS.get(row.status, '')} {row.status.value}", status_style),
            "check": self._check_cell(row),
            "task": Text(_clip(row.task, self.task_width)),
            "branch": Text(row.branch or ("(your tree)" if row.is_lead else "—"), style="dim"),
            "time": Text(format_elapsed(row.since, now), justify="right"),
            "tokens": Text(format_tokens(row.tokens), justify="right"),
            "cost": Text(format_cost(row.cost), justify="right"),
        }
        return {column: cells[column] for column in self._columns()}

    def _check_cell(self, row: MemberRow) -> Text:
        label = row.check_label
        if not label:
            return Text("—" if not row.is_lead else "", style="dim")
        # With a review, its verdict (the last word) decides the look: it came after the check.
        glyph, colour = CHECK_LOOKS.get(label.rsplit(" · ", 1)[-1], ("", None))
        style = Style(color=self.app.theme_variables[colour]) if colour else Style(dim=True)
        return Text(f"{glyph} {label}", style)

    def watch_cursor_coordinate(self, old: Coordinate, new: Coordinate) -> None:
        super().watch_cursor_coordinate(old, new)
        self._tell_highlighted()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        self._tell_highlighted()

    def _tell_highlighted(self) -> None:
        """Tell the app the member under the cursor when it changed: at once, as the cursor
        moves, and to the app itself, not through the panes in between (each a queue where
        a key's answer would wait behind the stream's work)."""
        selected = self.selected
        if selected is not None and selected != self.told:
            self.told = selected
            self.app.post_message(self.MemberHighlighted(selected))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.row_key.value is not None:
            self.post_message(self.MemberChosen(event.row_key.value))


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(1, width - 1)] + "…"
