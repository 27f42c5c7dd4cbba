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

from ensemble_tui.tui.keys import KeyHints

# A key is a binding id (rendered under the user's keymap) or, for Textual's own keys
# that the keymap does not reach, the key itself; several are shown side by side.
Entry = tuple[tuple[str, ...], str]
Section = tuple[str, tuple[Entry, ...]]

LEFT: tuple[Section, ...] = (
    (
        "In the prompt box",
        (
            (("enter",), "send to the shown session"),
            (("prompt.newline",), "new line"),
            (("prompt.leave",), "to the team list"),
            (("prompt.allow_once",), "allow once (or answer)"),
            (("prompt.allow_always",), "allow always"),
            (("prompt.reject",), "reject"),
        ),
    ),
    (
        "In the team list",
        (
            (("teammates.down", "teammates.up", "down", "up"), "move"),
            (("enter",), "show that member's session"),
            (("teammates.lead",), "back to the lead's session"),
        ),
    ),
    (
        "In the transcript",
        (
            (("transcript.folds",), "open or fold tool calls"),
            (("transcript.earlier",), "load earlier parts"),
        ),
    ),
    ("In tasks, messages", ((("enter",), "show it whole"),)),
    (
        "In the timeline",
        (
            (("timeline.earlier", "timeline.later"), "earlier or later event"),
            (("timeline.open",), "show it whole"),
        ),
    ),
    (
        "In the diff",
        (
            (("diff.next", "diff.previous"), "next or previous file"),
            (("tab",), "the patch"),
            (("diff.close",), "close"),
        ),
    ),
)
RIGHT: tuple[Section, ...] = (
    (
        "Anywhere but the prompt box",
        (
            (("app.prompt",), "back to the prompt box"),
            (("app.allow_once",), "allow once (or answer)"),
            (("app.allow_always", "app.reject"), "allow always / reject"),
            (("app.next",), "next member that needs you"),
            (("app.diff",), "diff of the selected teammate"),
            (("app.merge",), "merge it into your tree"),
            (("app.shutdown",), "shut it down"),
            (("app.open",), "open the session in OpenCode"),
            (("app.abort",), "stop the shown member's turn"),
            (("app.cleanup",), "clean up and end the team"),
            (("main.timeline",), "timeline on or off"),
            (("app.fork", "app.fork_many"), "fork it (once, or N ways)"),
            (("app.compare",), "compare forks, keep one"),
            (("app.handoff",), "hand it off"),
            (("app.earlier",), "earlier sessions"),
        ),
    ),
    (
        "Everywhere",
        (
            (("tab",), "next pane"),
            (("ctrl+p",), "every action, searchable"),
            (("app.help",), "these keys"),
            (("app.quit",), "quit (sessions are kept)"),
        ),
    ),
)


def sections(found: tuple[Section, ...], hints: KeyHints) -> Group:
    """Each section's title over a small table of its keys."""
    parts: list[Text | Table] = []
    for title, entries in found:
        table = Table.grid(padding=(0, 2))
        table.add_column(width=8, style="bold")
        table.add_column()
        for keys, what in entries:
            table.add_row(" ".join(shown_key(hints, key) for key in keys), what)
        parts += [Text(title, style="bold underline"), table, Text()]
    return Group(*parts[:-1])


def shown_key(hints: KeyHints, key: str) -> str:
    """A binding id under the keymap, or one of Textual's own keys, as the screen shows it."""
    return hints.key(key) if "." in key else hints.app.get_key_display(Binding(key, ""))


def keys_table(hints: KeyHints) -> Table:
    """Both columns of sections side by side."""
    grid = Table.grid(padding=(0, 4))
    grid.add_row(sections(LEFT, hints), sections(RIGHT, hints))
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

    def __init__(self, hints: KeyHints) -> None:
        super().__init__()
        self.hints = hints

    def compose(self) -> ComposeResult:
        with VerticalScroll() as box:
            box.border_title = "Keys"
            box.border_subtitle = f"{self.hints.key('help.close')} close"
            yield Static(keys_table(self.hints))

    def action_close(self) -> None:
        self.dismiss(None)
