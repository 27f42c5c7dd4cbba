"""The session pane: whose session is shown, its live transcript, and the prompt box."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.content import Content
from textual.message import Message
from textual.widgets import TextArea

from ensemble_tui.core.states import MemberStatus
from ensemble_tui.tui.views import STATUS_COLOURS, STATUS_ICONS
from ensemble_tui.tui.widgets.transcript import Transcript


class PromptBox(TextArea):
    """Where the human types to the shown session: `enter` sends, `ctrl+j` breaks a line."""

    DEFAULT_CSS = """
    PromptBox {
        height: auto;
        min-height: 3;
        max-height: 10;
        border: tall $border-blurred;
        &:focus { border: tall $border; }
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+j,alt+enter", "newline", "New line", id="prompt.newline"),
        Binding("escape", "app.leave_prompt", "Leave the prompt", id="prompt.leave"),
        # What waits for the human is answered from here too: `a` would type an "a".
        Binding("ctrl+o", "screen.allow_once", "Allow once (or answer)", id="prompt.allow_once"),
        Binding("ctrl+l", "screen.allow_always", "Allow always", id="prompt.allow_always"),
        Binding("ctrl+r", "screen.reject", "Reject", id="prompt.reject"),
    ]

    @dataclass
    class Submitted(Message):
        """The human pressed enter on some text."""

        text: str

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, soft_wrap=True, show_line_numbers=False, compact=False)

    async def _on_key(self, event: events.Key) -> None:
        if event.key == "enter":
            event.stop()
            event.prevent_default()
            self.action_submit()
            return
        await super()._on_key(event)

    def action_submit(self) -> None:
        if self.text.strip():
            self.post_message(self.Submitted(self.text))
            self.clear()

    def action_newline(self) -> None:
        self.insert("\n")


class SessionPane(Vertical):
    """The shown member's transcript above the prompt box that talks to it."""

    DEFAULT_CSS = """
    SessionPane {
        border: round $border-blurred;
        border-title-color: $text;
        border-subtitle-color: $text-muted;
        &:focus-within { border: round $border; }
    }
    """

    prompt_keys = "enter send"
    """The keys the prompt box's placeholder names (the app renders them from its keymap)."""

    def compose(self) -> ComposeResult:
        yield Transcript(id="transcript")
        yield PromptBox(id="prompt")

    _shown: tuple[str, MemberStatus | None, str, str] | None = None

    def show(self, member: str, status: MemberStatus | None, where: str) -> None:
        """Name the shown member in the pane's border and the prompt's placeholder."""
        # Setting a border's title redraws the pane, even with the same title.
        shown = (member, status, where, self.prompt_keys)
        if shown == self._shown:
            return
        self._shown = shown
        if status is None:
            self.border_title = Content.assemble((member, "bold"))
        else:
            colour = STATUS_COLOURS.get(status)
            style = f"${colour}" if colour else "$text-muted"
            icon = STATUS_ICONS.get(status, "")
            self.border_title = Content.assemble(
                (member, "bold"), " ", (f"{icon} {status.value}", style)
            )
        self.border_subtitle = where
        if status is not None and status.ended:
            said = f"{member} has ended ({status.value}): nothing can be sent to it."
        else:
            said = f"Message {member}…  ({self.prompt_keys})"
        self.query_one(PromptBox).placeholder = said
