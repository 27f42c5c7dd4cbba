"""A modal that shows one thing whole: a task, a message, what an action did."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.markup import escape
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from ensemble_tui.tui.keys import key_of_action
from ensemble_tui.tui.views import format_clock

if TYPE_CHECKING:
    from ensemble_tui.core.models import Message, Task


class DetailScreen(ModalScreen[None]):
    """A title and a Markdown body; any of esc, enter or q closes it."""

    DEFAULT_CSS = """
    DetailScreen {
        align: center middle;
        & > VerticalScroll {
            width: 80%;
            max-width: 110;
            height: auto;
            max-height: 80%;
            border: round $border;
            border-title-color: $text;
            border-subtitle-color: $text-muted;
            background: $surface;
            padding: 0 1;
        }
        & .detail-facts { color: $text-muted; padding: 0 1; }
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,enter,q", "dismiss", "Close", id="detail.close"),
    ]

    def __init__(self, title: str, body: str, facts: str = "") -> None:
        super().__init__()
        self.title_text = title
        self.body = body
        self.facts = facts

    def on_mount(self) -> None:
        self.query_one(VerticalScroll).border_subtitle = f"{key_of_action(self, 'dismiss')} close"

    def compose(self) -> ComposeResult:
        from textual.widgets import Markdown  # Not before the first dialog: it is not light.

        with VerticalScroll() as box:
            box.border_title = self.title_text
            if self.facts:
                yield Static(escape(self.facts), classes="detail-facts")
            yield Markdown(self.body)

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(result)


def task_detail(task: Task) -> DetailScreen:
    facts = [
        f"status: {task.status.value}",
        f"priority: {task.priority.value}",
        f"assignee: {task.assignee or 'nobody yet'}",
        f"depends on: {', '.join(task.depends_on) or 'nothing'}",
        f"added by: {task.created_by or '?'} at {format_clock(task.created)}",
    ]
    body = task.content
    if task.result:
        body += f"\n\n**Result:** {task.result}"
    return DetailScreen(f"Task {task.id}", body, "\n".join(facts))


def message_detail(message: Message) -> DetailScreen:
    to = "everyone (broadcast)" if message.recipient is None else message.recipient
    delivered = format_clock(message.delivered_at) if message.delivered_at else "not yet"
    facts = f"from {message.sender} to {to} at {format_clock(message.created)}"
    facts += f"; delivered: {delivered}"
    return DetailScreen(f"Message {message.id}", message.text, facts)
