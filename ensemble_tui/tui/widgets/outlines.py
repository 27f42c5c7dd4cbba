"""The panes' outlines: what the first frame draws while the panes themselves load.

The panes' widgets (tables, the prompt's text area, sparklines) and the modules behind
them cost more to import, style and draw than the rest of the start-up: the screen first
shows their borders and titles, laid out as the panes are, and mounts the panes in
their place just after (`MainScreen`). Plain `Static`s and containers only.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.widget import Widget
from textual.widgets import Static

from ensemble_tui.core.team.activity import SPEND_WINDOW_SECONDS


def _outline(title: str, classes: str = "") -> Static:
    box = Static(classes=f"outline {classes}".strip())
    box.border_title = title
    return box


class PaneOutlines(Widget):
    """Each pane's border and title where the pane will be, nothing in them."""

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
        & > .strip > .outline { height: 3; }
        & .team { width: 1fr; }
        & .activity { width: 10; border-title-color: $text-muted; }
        & .timeline { width: 1fr; }
        & .spend { width: 18; }
        & > .main { height: 1fr; }
        & .session {
            width: 1fr;
            min-width: 40;
            border: round $border-blurred;
            border-title-color: $text;
        }
        & .prompt { dock: bottom; height: 3; border: tall $border-blurred; }
        & .side { width: 42%; min-width: 36; max-width: 90; }
        & > .status { height: 1; background: $panel; }
    }
    """

    def __init__(self, session_title: Content) -> None:
        super().__init__()
        self.session_title = session_title

    def compose(self) -> ComposeResult:
        with Horizontal(classes="strip"):
            yield _outline("Team", "team")
            yield _outline("Activity", "activity")
        with Horizontal(classes="strip"):
            yield _outline("Timeline", "timeline")
            yield _outline(f"Tokens {round(SPEND_WINDOW_SECONDS / 60)}m", "spend")
        with Horizontal(classes="main"):
            session = Vertical(classes="session")
            session.border_title = self.session_title
            with session:
                yield Static(classes="prompt")
            with Vertical(classes="side"):
                yield _outline("Tasks")
                yield _outline("Messages")
        yield Static(classes="status")
