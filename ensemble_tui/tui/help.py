"""`?`: every key of the screen, by where it works."""

from __future__ import annotations

from typing import ClassVar

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

Section = tuple[str, tuple[tuple[str, str], ...]]

LEFT: tuple[Section, ...] = (
    (
        "In the prompt box",
        (
            ("enter", "send to the shown session"),
            ("ctrl+j", "new line"),
            ("esc", "to the team list"),
            ("ctrl+o", "allow once (or answer)"),
            ("ctrl+l", "allow always"),
            ("ctrl+r", "reject"),
        ),
    ),
    (
        "In the team list",
        (
            ("j k ↑ ↓", "move"),
            ("enter", "show that member's session"),
            ("esc", "back to the lead's session"),
        ),
    ),
    ("In the transcript", (("e", "open or fold tool calls"), ("home", "load earlier parts"))),
    ("In tasks, messages", (("enter", "show it whole"),)),
    ("In the timeline", (("← → h l", "earlier or later event"), ("enter", "show it whole"))),
    ("In the diff", (("j k", "next or previous file"), ("tab", "the patch"), ("esc", "close"))),
)
RIGHT: tuple[Section, ...] = (
    (
        "Anywhere but the prompt box",
        (
            ("i", "back to the prompt box"),
            ("a", "allow once (or answer)"),
            ("A  r", "allow always / reject"),
            ("n", "next member that needs you"),
            ("d", "diff of the selected teammate"),
            ("m", "merge it into your tree"),
            ("x", "shut it down"),
            ("o", "open the session in OpenCode"),
            ("S", "stop the shown member's turn"),
            ("C", "clean up and end the team"),
            ("t", "timeline on or off"),
        ),
    ),
    (
        "Everywhere",
        (
            ("tab", "next pane"),
            ("ctrl+p", "every action, searchable"),
            ("?", "these keys"),
            ("ctrl+q", "quit (sessions are kept)"),
        ),
    ),
)


def sections(found: tuple[Section, ...]) -> Group:
    """Each section's title over a small table of its keys."""
    parts: list[Text | Table] = []
    for title, keys in found:
        table = Table.grid(padding=(0, 2))
        table.add_column(width=8, style="bold")
        table.add_column()
        for key, what in keys:
            table.add_row(key, what)
        parts += [Text(title, style="bold underline"), table, Text()]
    return Group(*parts[:-1])


def keys_table() -> Table:
    """Both columns of sections side by side."""
    grid = Table.grid(padding=(0, 4))
    grid.add_row(sections(LEFT), sections(RIGHT))
    return grid


class HelpScreen(ModalScreen[None]):
    """The keys, by where they work."""

    DEFAULT_CSS = """
    HelpScreen {
        align: center middle;
        & > VerticalScroll {
            width: 90;
            max-width: 100%;
            height: auto;
            max-height: 90%;
            border: round $border;
            border-title-color: $text;
            border-subtitle-color: $text-muted;
            background: $surface;
            padding: 0 2;
        }
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,question_mark,q", "close", "Close", id="help.close")
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll() as box:
            box.border_title = "Keys"
            box.border_subtitle = "esc close"
            yield Static(keys_table())

    def action_close(self) -> None:
        self.dismiss(None)
