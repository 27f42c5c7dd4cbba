"""The panes' outlines: what the first frame draws while the panes themselves load.

The panes' widgets (tables, the prompt's text area, sparklines) and the modules behind
them cost more to import, style and draw than the rest of the start-up: the screen first
shows the main panes' borders and titles where the panes go, and mounts the panes in
their place just after (`MainScreen`). As few widgets as draw that (each costs the first
frame its styling, layout and drawing): the team list's and the timeline's outlines
take the width of the activity column and the spend chart beside them.
"""

from __future__ import annotations

from collections.abc import Callable

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.geometry import Region
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import Static


def _outline(title: str | Content, classes: str = "") -> Static:
    box = Static(classes=f"outline {classes}".strip())
    box.border_title = title
    return box


class PaneOutlines(Widget):
    """The main panes' borders and titles where the panes will be, nothing in them."""

    DEFAULT_CSS = """
    PaneOutlines {
        height: 1fr;
        & .outline {
            height: 1fr;
            border: round $border-blurred;
            border-title-color: $text;
            background: $surface;
        }
        & > .strip { height: 3; }
        & > .main { height: 1fr; }
        & .session { width: 1fr; min-width: 40; background: $background; }
        & .side { width: 42%; min-width: 36; max-width: 90; }
        & > .status { height: 1; background: $panel; }
    }
    """

    def __init__(self, session_title: Content, drawn: Callable[[], object]) -> None:
        super().__init__()
        self.session_title = session_title
        self._drawn: Callable[[], object] | None = drawn
        """Called (on the screen, once) as the outlines are first drawn."""

    def render_lines(self, crop: Region) -> list[Strip]:
        if self._drawn is not None:
            # Run by the screen right after the frame being drawn: not by this widget,
            # which the callback removes.
            self.screen.call_next(self._drawn)
            self._drawn = None
        return super().render_lines(crop)

    def compose(self) -> ComposeResult:
        yield _outline("Team", "strip")
        yield _outline("Timeline", "strip")
        with Horizontal(classes="main"):
            yield _outline(self.session_title, "session")
            with Vertical(classes="side"):
                yield _outline("Tasks")
                yield _outline("Messages")
        yield Static(classes="status")
