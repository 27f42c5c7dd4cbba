"""A DataTable for live figures: changing one cell renders that cell again, not the table.

Textual's DataTable keys every one of its render caches on a counter that each
`update_cell` bumps, so a new token count in one row renders every line and every cell
of the table again (tens of milliseconds for a team, at each batch of the stream).
`LiveTable` keeps each rendered line, and each rendered cell, for as long as the
values it shows (the same objects) and its look are unchanged, and measures a column
again only when a cell may change its width: an update that fits costs no layout of
the screen.

Textual applies the stylesheet to the table again whenever a class changes above it or
a widget is mounted elsewhere (each part streamed into the transcript), and tells it its
styles changed even when they are the same. The kept lines are dropped only when the
look they were rendered with (the table's style and those of its components) changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.cache import LRUCache
from textual.coordinate import Coordinate
from textual.geometry import Region
from textual.strip import Strip
from textual.widgets import DataTable
from textual.widgets.data_table import Column, ColumnKey, CursorType, RowKey

# Rendered cells and lines kept: those of a few hundred rows, in both cursor states.
KEPT_CELLS = 4000
KEPT_LINES = 1000

Key = tuple[object, ...]


@dataclass(frozen=True)
class _Drawing:
    """What every line and cell of one drawing of the table reads and none changes: read
    once per drawing, not at each line and cell (each is a reactive or a walk)."""

    style: Style
    columns: list[Column]
    widths: tuple[int, ...]
    cursor: Coordinate
    hover: Coordinate
    cursor_type: CursorType
    line_look: Key
    """What a line's look depends on, besides its row, place and cursor."""
    cell_look: Key
    """What a cell's look depends on, besides its place, width and cursor."""


class LiveTable(DataTable[Text]):
    """A DataTable of Text cells, updated cell by cell at the stream's pace."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._rendered: LRUCache[Key, tuple[object, list[list[Segment]]]] = LRUCache(KEPT_CELLS)
        self._lines: LRUCache[Key, tuple[tuple[object, ...], Strip]] = LRUCache(KEPT_LINES)
        self._look: tuple[Style, ...] | None = None
        self._look_checked = False
        self._drawing: _Drawing | None = None
        self._in_drawing = False

    def set_cell(self, row: str, column: str, value: Text) -> None:
        """`update_cell`, asking for the column to be measured again (a layout) only if
        this cell was or becomes its widest."""
        before = self.get_cell(row, column)
        width = self.columns[ColumnKey(column)].content_width
        fits = value.cell_len == before.cell_len or (
            value.cell_len < width and before.cell_len < width
        )
        self.update_cell(row, column, value, update_width=not fits)

    @property
    def rich_style(self) -> Style:
        # DataTable asks for it at every line, and it is computed from the styles of every
        # ancestor: while the lines of one drawing are rendered, once.
        return self._now().style if self._in_drawing else super().rich_style

    def render_lines(self, crop: Region) -> list[Strip]:
        self._in_drawing = True
        try:
            return super().render_lines(crop)
        finally:
            self._in_drawing = False
            self._drawing = None

    def _now(self) -> _Drawing:
        """The table's settings for the line or cell being rendered (kept for the rest of
        a drawing: DataTable sets its pseudo-class state before the first line)."""
        drawing = self._drawing
        if drawing is not None:
            return drawing
        columns = self.ordered_columns
        widths = tuple(column.get_render_width(self) for column in columns)
        padding = self.cell_padding
        fixed_rows, fixed_columns = self.fixed_rows, self.fixed_columns
        show_cursor, pseudo_classes = self.show_cursor, self._pseudo_class_state
        drawing = _Drawing(
            style=super().rich_style,
            columns=columns,
            widths=widths,
            cursor=self.cursor_coordinate,
            hover=self.hover_coordinate,
            cursor_type=self.cursor_type,
            line_look=(
                self.size.width,
                self.cursor_type,
                show_cursor,
                self._show_hover_cursor,
                pseudo_classes,
                widths,
                fixed_rows,
                fixed_columns,
                self.zebra_stripes,
                self.show_row_labels,
                self._labelled_row_exists,
                padding,
            ),
            cell_look=(
                show_cursor,
                self._show_hover_cursor,
                self.cursor_foreground_priority,
                self.cursor_background_priority,
                fixed_rows,
                fixed_columns,
                padding,
                pseudo_classes,
            ),
        )
        if self._in_drawing:
            self._drawing = drawing
        return drawing

    def notify_style_update(self) -> None:
        # Compared when next rendered: the components' styles are applied after this.
        self._look_checked = False
        super().notify_style_update()

    def _check_look(self) -> None:
        """Drop the kept lines and cells if the look they were rendered with changed."""
        self._look_checked = True
        null = Style.null()
        look = (
            self.rich_style,
            *(
                self.get_component_rich_style(name, partial=partial, default=null)
                for name in sorted(self._get_component_classes())
                for partial in (False, True)
            ),
        )
        if look != self._look:
            self._look = look
            self._rendered.clear()
            self._lines.clear()

    def _render_line(self, y: int, x1: int, x2: int, base_style: Style) -> Strip:
        if not self._look_checked:
            self._check_look()
        try:
            row_key, line = self._get_offsets(y)
        except LookupError:
            return super()._render_line(y, x1, x2, base_style)
        drawing = self._now()
        columns = drawing.columns
        values: tuple[object, ...]
        if row_key == self._header_row_key:
            row_index = -1
            values = tuple(column.label for column in columns)
        else:
            found = self._row_locations.get(row_key)
            row_index = -2 if found is None else found
            cells = self._data.get(row_key, {})
            row = self.rows.get(row_key)
            label = row.label if row is not None else None
            values = (label, *(cells.get(column.key) for column in columns))
        cursor, hover = drawing.cursor, drawing.hover
        if drawing.cursor_type == "row":
            # A row cursor changes how a line looks only on its row.
            cursor_here: object = cursor.row == row_index
            hover_here: object = hover.row == row_index
        else:
            cursor_here, hover_here = cursor, hover
        key: Key = (y, row_key, line, row_index, x1, x2, base_style, cursor_here, hover_here)
        key += drawing.line_look
        kept = self._lines.get(key)
        if kept is not None:
            if _same(kept[0], values):
                return kept[1]
            spliced = self._splice(kept, values, row_index, line, base_style, x1)
            if spliced is not None:
                self._lines[key] = (values, spliced)
                return spliced
        strip: Strip = super()._render_line(y, x1, x2, base_style)
        self._lines[key] = (values, strip)
        return strip

    def _splice(
        self,
        kept: tuple[tuple[object, ...], Strip],
        values: tuple[object, ...],
        row_index: int,
        line: int,
        base_style: Style,
        x1: int,
    ) -> Strip | None:
        """The kept line of a row with the cells whose values changed rendered again in
        place (the others are the same cells at the same places), or None when the line
        must be rendered whole: a header, a row label, fixed columns, a scrolled view."""
        before, strip = kept
        if (
            row_index < 0
            or x1
            or self.fixed_columns
            or (self._labelled_row_exists and self.show_row_labels)
            or before[0] is not values[0]
        ):
            return None
        drawing = self._now()
        row_style = self._get_row_style(row_index, base_style)
        cursor, hover, kind = drawing.cursor, drawing.hover, drawing.cursor_type
        highlight = self._should_highlight
        total = strip.cell_length
        # Where each changed cell starts and ends, and its new rendering.
        cuts: list[int] = []
        cells: list[list[Segment]] = []
        x = 0
        for index, width in enumerate(drawing.widths):
            if before[index + 1] is not values[index + 1]:
                if x + width > total:
                    return None  # cut at the widget's edge: rendered whole
                here = Coordinate(row_index, index)
                cells.append(
                    self._render_cell(
                        row_index,
                        index,
                        row_style,
                        width,
                        cursor=highlight(cursor, here, kind),
                        hover=highlight(hover, here, kind),
                    )[line]
                )
                cuts += (x, x + width)
            x += width
        cuts.append(total)
        # The kept line's pieces between the changed cells, with the new cells between them.
        pieces = list(Segment.divide(strip, cuts))
        segments: list[Segment] = []
        for number, cell in enumerate(cells):
            segments += pieces[2 * number]
            segments += cell
        segments += pieces[-1]
        return Strip(Segment.simplify(segments), total)

    def _render_cell(
        self,
        row_index: int,
        column_index: int,
        base_style: Style,
        width: int,
        cursor: bool = False,
        hover: bool = False,
    ) -> list[list[Segment]]:
        if not self._look_checked:
            self._check_look()
        locations = self._row_locations
        row_key = self._header_row_key if row_index == -1 else locations.get_key(row_index)
        column_key = self._column_locations.get_key(column_index)
        value = self._value_of(row_key, column_key, column_index)
        height = self.rows[row_key].height if row_key in self.rows else self.header_height
        key: Key = (
            row_key,
            column_key,
            row_index,
            column_index,
            height,
            base_style,
            width,
            cursor,
            hover,
        )
        key += self._now().cell_look
        kept = self._rendered.get(key)
        if kept is not None and kept[0] is value and value is not None:
            return kept[1]
        lines = super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        self._rendered[key] = (value, lines)
        return lines

    def _value_of(
        self, row_key: RowKey | None, column_key: ColumnKey | None, column_index: int
    ) -> object:
        """The object a cell is rendered from (None when it cannot be told)."""
        if row_key is None:
            return None
        if row_key == self._header_row_key:
            column = self.columns.get(column_key) if column_key is not None else None
            return column.label if column is not None else None
        if column_index == -1:
            row = self.rows.get(row_key)
            return row.label if row is not None else None
        if column_key is None:
            return None
        return self._data.get(row_key, {}).get(column_key)


def _same(kept: tuple[object, ...], values: tuple[object, ...]) -> bool:
    """Whether a line kept for *kept* shows *values* (the same objects)."""
    return len(kept) == len(values) and all(
        old is new for old, new in zip(kept, values, strict=True)
    )
