"""`?`: every key of the screen, where it works, and what it does."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

KEYS = """\
| Where | Key | What it does |
| :- | :- | :- |
| prompt | `enter` | send to the shown session |
| prompt | `ctrl+j` | new line |
| prompt | `esc` | leave the prompt for the team list |
| anywhere else | `i` | back to the prompt |
| team list | `j` `k` `↑` `↓` | move |
| team list | `enter` | show that member's session (the prompt talks to it) |
| team list | `esc` | back to the lead's session |
| not typing | `o` | open the shown session in OpenCode's own TUI |
| not typing | `d` | diff of the selected teammate's work against its base |
| not typing | `m` | merge the selected teammate into your working directory |
| not typing | `x` | shut the selected teammate down |
| not typing | `a` `A` `r` | allow once / always / reject the request (`a` answers a question) |
| not typing | `n` | next member that needs you |
| not typing | `S` | stop the shown member's current turn |
| not typing | `C` | clean up: shut everyone down, merge what merges, end the team |
| transcript | `e` / `home` | open or fold tool calls / load earlier parts |
| tasks, messages | `enter` | show the whole task or message |
| diff | `j` `k` / `esc` | next or previous file / close |
| anywhere | `tab` | next pane |
| anywhere | `ctrl+p` | every action, searchable |
| anywhere | `ctrl+q` | quit (OpenCode sessions and branches are kept) |
"""


class HelpScreen(ModalScreen[None]):
    """The keys, as a table."""

    DEFAULT_CSS = """
    HelpScreen {
        align: center middle;
        & > VerticalScroll {
            width: 90%;
            max-width: 110;
            height: auto;
            max-height: 90%;
            border: round $border;
            border-title-color: $text;
            border-subtitle-color: $text-muted;
            background: $surface;
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
            yield Markdown(KEYS)

    def action_close(self) -> None:
        self.dismiss(None)
