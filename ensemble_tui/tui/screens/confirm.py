"""Asking the human before an action, and asking for a few words (a reason, an answer)."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

if TYPE_CHECKING:
    from ensemble_tui.opencode.models import QuestionRequest

MODAL_CSS = """
    align: center middle;
    & > Vertical {
        width: 80%;
        max-width: 100;
        height: auto;
        max-height: 90%;
        border: round $border;
        border-title-color: $text;
        background: $surface;
        padding: 0 1;
    }
    & Horizontal { height: auto; align-horizontal: right; margin-top: 1; }
    & Button { margin-left: 2; }
"""


class ConfirmScreen(ModalScreen[bool]):
    """What an action will do, and a button to do it (`y`) or not (`n`, `esc`).

    With no `confirm` label it only reports (what an action did, why it cannot run).
    """

    DEFAULT_CSS = "ConfirmScreen {" + MODAL_CSS + "}"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Yes", id="confirm.yes"),
        Binding("n,escape", "answer(False)", "No", id="confirm.no"),
    ]

    def __init__(self, title: str, body: str, confirm: str | None = None) -> None:
        super().__init__()
        self.title_text = title
        self.body = body
        self.confirm = confirm

    def compose(self) -> ComposeResult:
        from textual.widgets import Markdown  # Not before the first dialog: it is not light.

        with Vertical() as box:
            box.border_title = self.title_text
            yield Markdown(self.body)
            with Horizontal():
                if self.confirm is not None:
                    yield Button("Cancel (n)", id="no")
                    yield Button(f"{self.confirm} (y)", id="yes", variant="warning")
                else:
                    yield Button("Close", id="no", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return not (action == "answer" and parameters == (True,) and self.confirm is None)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes and self.confirm is not None)


class TextScreen(ModalScreen[str | None]):
    """A line of text (a reason to reject, say); enter gives it, esc gives None."""

    DEFAULT_CSS = "TextScreen {" + MODAL_CSS + "}"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="text.cancel")
    ]

    def __init__(self, title: str, prompt: str, placeholder: str = "") -> None:
        super().__init__()
        self.title_text = title
        self.prompt = prompt
        self.placeholder = placeholder

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = self.title_text
            # A Static wraps at the box's width where a Label would be cut off.
            yield Static(self.prompt, markup=False, classes="question")
            yield Input(placeholder=self.placeholder)

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)


class QuestionScreen(ModalScreen[list[list[str]] | None]):
    """An agent's questions, one line each: type an option's number(s) or your own words."""

    DEFAULT_CSS = "QuestionScreen {" + MODAL_CSS + "& Input { margin-bottom: 1; } }"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="question.cancel")
    ]

    def __init__(self, member: str, request: QuestionRequest) -> None:
        super().__init__()
        self.member = member
        self.request = request

    def compose(self) -> ComposeResult:
        from textual.widgets import Markdown  # Not before the first dialog: it is not light.

        with Vertical() as box:
            box.border_title = f"{self.member} asks"
            for number, info in enumerate(self.request.questions):
                options = "\n".join(
                    f"{index}. **{option.label}** {option.description}"
                    for index, option in enumerate(info.options, start=1)
                )
                yield Markdown(
                    f"**{info.header or info.question}**\n\n{info.question}\n\n{options}"
                )
                hint = "an option's number (1,2 for several)" if info.options else "your answer"
                yield Input(placeholder=f"{hint}, or your own words", id=f"answer-{number}")
            with Horizontal():
                yield Button("Send answers", id="send", variant="primary")

    def on_mount(self) -> None:
        self.query(Input).first().focus()

    @on(Input.Submitted)
    def _next(self, event: Input.Submitted) -> None:
        inputs = list(self.query(Input))
        if event.input is inputs[-1]:
            self._send()
        else:
            inputs[inputs.index(event.input) + 1].focus()

    @on(Button.Pressed, "#send")
    def _send(self) -> None:
        answers: list[list[str]] = []
        for number, info in enumerate(self.request.questions):
            value = self.query_one(f"#answer-{number}", Input).value.strip()
            answers.append(choose_options(value, [option.label for option in info.options]))
        self.dismiss(answers)

    def action_cancel(self) -> None:
        self.dismiss(None)


def choose_options(value: str, labels: list[str]) -> list[str]:
    """Turn `1,3` into those options' labels; anything else is a free answer."""
    pieces = [piece.strip() for piece in value.replace(" ", ",").split(",") if piece.strip()]
    if pieces and all(p.isdigit() and 1 <= int(p) <= len(labels) for p in pieces):
        return [labels[int(p) - 1] for p in pieces]
    return [value] if value else []
