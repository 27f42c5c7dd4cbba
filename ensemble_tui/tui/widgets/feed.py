"""The message feed: every team message, newest at the bottom; enter shows one whole.

An `OptionList` rather than a `RichLog`: a message must be selectable to be opened,
and it keeps at most `KEEP` messages as a log would.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from textual.binding import Binding, BindingType
from textual.content import Content
from textual.message import Message as TextualMessage
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from ensemble_tui.tui.views import format_clock

if TYPE_CHECKING:
    from ensemble_tui.core.models import Message

KEEP = 500
PREVIEW = 140


def message_line(message: Message) -> Content:
    """`12:03 alice → bob  Hi bob…`, a broadcast marked as such."""
    text = " ".join(message.text.split())
    if len(text) > PREVIEW:
        text = text[: PREVIEW - 1] + "…"
    if message.recipient is None:
        to = ("all ⟪broadcast⟫", "$accent")
    else:
        to = (message.recipient, "bold")
    return Content.assemble(
        (format_clock(message.created), "$text-muted"),
        " ",
        (message.sender, "bold"),
        " → ",
        to,
        "  ",
        text,
    )


class MessageFeed(OptionList):
    """Team messages as they are sent; follows the newest unless the human moved up."""

    DEFAULT_CSS = """
    MessageFeed {
        height: 1fr;
        border: round $border-blurred;
        border-title-color: $text;
        border-subtitle-color: $text-muted;
        background: $surface;
        &:focus { border: round $border; }
        & > .option-list--option { padding: 0 1; }
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j", "cursor_down", "Down", show=False, id="feed.down"),
        Binding("k", "cursor_up", "Up", show=False, id="feed.up"),
    ]

    @dataclass
    class MessageChosen(TextualMessage):
        """The human pressed enter on a message."""

        message: Message

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.messages: dict[str, Message] = {}
        self.last_id = 0
        self.following = True
        self.border_title = "Messages"
        self.border_subtitle = "enter read"

    def add(self, messages: list[Message]) -> None:
        """Add new messages at the bottom (older ones than the last shown are ignored)."""
        fresh = [m for m in messages if m.id > self.last_id]
        if not fresh:
            return
        following = self.highlighted is None or self.highlighted == self.option_count - 1
        self.add_options([Option(message_line(m), id=str(m.id)) for m in fresh])
        for message in fresh:
            self.messages[str(message.id)] = message
        self.last_id = fresh[-1].id
        while self.option_count > KEEP:
            oldest = self.get_option_at_index(0)
            self.messages.pop(oldest.id or "", None)
            self.remove_option_at_index(0)
        self.border_title = f"Messages {len(self.messages)}"
        self.following = following
        if following:
            self.highlighted = self.option_count - 1 if self.has_focus else None
            self.scroll_end(animate=False)

    def on_resize(self) -> None:
        # Lines rewrap when the width settles (a scroll bar comes or goes), and the pane
        # shrinks when the layout settles: stay at the end.
        if self.following:
            self.scroll_end(animate=False)

    def on_focus(self) -> None:
        # Enter should open something at once: start on the newest message.
        if self.highlighted is None and self.option_count:
            self.highlighted = self.option_count - 1

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        message = self.messages.get(event.option.id or "")
        if message is not None:
            self.post_message(self.MessageChosen(message))
