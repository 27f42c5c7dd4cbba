"""Forking and handing off from the screen: what to ask, and the forks side by side.

`ForkScreen` asks for a name and a prompt (`f`) or a name and one prompt per line (`F`);
`HandoffScreen` for a mode, an agent and the text; `CompareScreen` shows a fork group's
members side by side and answers with the one to keep.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from rich.markup import escape
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static, TextArea

from ensemble_tui.tui.keys import key_of_action
from ensemble_tui.tui.screens.confirm import MODAL_CSS

if TYPE_CHECKING:
    from ensemble_tui.core.team.forking import ForkView


@dataclass(frozen=True)
class ForkAsked:
    """What the human asked for: forks named *name* (or *name*-1...) with these prompts."""

    name: str
    prompts: list[str]


class ForkScreen(ModalScreen[ForkAsked | None]):
    """A name and a prompt for one fork, or a base name and one prompt per line."""

    DEFAULT_CSS = "ForkScreen {" + MODAL_CSS + "& TextArea { height: 8; } }"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="fork.cancel"),
        Binding("ctrl+s", "submit", "Fork", id="fork.submit"),
    ]

    def __init__(self, member: str, *, many: bool) -> None:
        super().__init__()
        self.member = member
        self.many = many

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = f"Fork {self.member}" + (" several ways" if self.many else "")
            yield Label(
                "Each fork keeps the whole conversation so far and works in a worktree and "
                "branch of its own."
            )
            yield Input(
                placeholder="a base name: the forks are name-1, name-2, …"
                if self.many
                else "the fork's name, e.g. try-sqlite",
                id="fork-name",
            )
            yield Label("One prompt per line:" if self.many else "What should it do?")
            yield TextArea(id="fork-prompts", soft_wrap=True)
            with Horizontal():
                yield Button("Cancel", id="cancel")
                yield Button("Fork", id="fork", variant="warning")

    def on_mount(self) -> None:
        self.query_one("#fork-name", Input).focus()
        fork = self.query_one("#fork", Button)
        fork.label = f"Fork ({key_of_action(self, 'submit')})"

    @on(Input.Submitted)
    def _to_prompts(self) -> None:
        self.query_one(TextArea).focus()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "fork":
            self.action_submit()
        else:
            self.dismiss(None)

    def action_submit(self) -> None:
        name = self.query_one("#fork-name", Input).value.strip()
        text = self.query_one(TextArea).text.strip()
        prompts = (
            [line.strip() for line in text.splitlines() if line.strip()] if self.many else [text]
        )
        if not name or not any(prompts):
            self.notify("Give a name and a prompt first.", severity="warning")
            return
        self.dismiss(ForkAsked(name, prompts))

    def action_cancel(self) -> None:
        self.dismiss(None)


@dataclass(frozen=True)
class HandoffAsked:
    """A hand-off the human asked for."""

    mode: str
    text: str
    agent: str | None


MODES = (
    ("message: the same conversation, another agent", "message"),
    ("new: a fresh session with a hand-off note", "new"),
    ("compact: summarize, then go on", "compact"),
)


class HandoffScreen(ModalScreen[HandoffAsked | None]):
    """A mode, an agent (optional but for `message`) and the text the next turn starts with."""

    DEFAULT_CSS = "HandoffScreen {" + MODAL_CSS + "& TextArea { height: 6; } }"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="handoff.cancel"),
        Binding("ctrl+s", "submit", "Hand off", id="handoff.submit"),
    ]

    def __init__(self, member: str) -> None:
        super().__init__()
        self.member = member

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = f"Hand off {self.member}"
            yield Select(MODES, value="message", allow_blank=False, id="handoff-mode")
            yield Input(placeholder="agent, e.g. plan (empty: keep the same)", id="handoff-agent")
            yield Label("The prompt (or, for new, the hand-off note):")
            yield TextArea(id="handoff-text", soft_wrap=True)
            with Horizontal():
                yield Button("Cancel", id="cancel")
                yield Button("Hand off", id="handoff", variant="warning")

    def on_mount(self) -> None:
        self.query_one("#handoff-agent", Input).focus()
        button = self.query_one("#handoff", Button)
        button.label = f"Hand off ({key_of_action(self, 'submit')})"

    @on(Input.Submitted)
    def _to_text(self) -> None:
        self.query_one(TextArea).focus()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "handoff":
            self.action_submit()
        else:
            self.dismiss(None)

    def action_submit(self) -> None:
        mode = str(self.query_one(Select).value)
        agent = self.query_one("#handoff-agent", Input).value.strip() or None
        text = self.query_one(TextArea).text.strip()
        if not text:
            self.notify("Write the text the next turn starts with.", severity="warning")
            return
        self.dismiss(HandoffAsked(mode, text, agent))

    def action_cancel(self) -> None:
        self.dismiss(None)


def fork_card(view: ForkView) -> str:
    """One fork as its column shows it: status, branch, files +/-, its last words."""
    files = "\n".join(
        f"  {f.path} +{f.additions or 0} -{f.deletions or 0}" for f in view.files[:12]
    )
    more = f"\n  … {len(view.files) - 12} more" if len(view.files) > 12 else ""
    said = view.last_message or "(nothing yet)"
    if len(said) > 600:
        said = said[:597] + "…"
    return (
        f"[b]{escape(view.name)}[/b]  {view.status.value}\n"
        f"[dim]{escape(view.branch or 'no branch')}[/dim]\n\n"
        f"{len(view.files)} files  [green]+{view.added}[/green] [red]-{view.removed}[/red]\n"
        f"{escape(files)}{escape(more)}\n\n{escape(said)}"
    )


class CompareScreen(ModalScreen[str | None]):
    """A fork group side by side; the chosen one is kept (after a confirmation)."""

    DEFAULT_CSS = """
    CompareScreen {
        align: center middle;
        & > Vertical {
            width: 95%;
            height: 85%;
            border: round $border;
            border-title-color: $text;
            border-subtitle-color: $text-muted;
            background: $surface;
        }
        & VerticalScroll.fork-card {
            width: 1fr;
            border: round $border-blurred;
            padding: 0 1;
        }
        & VerticalScroll.fork-card.-chosen { border: round $accent; }
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("left,h", "move(-1)", "Previous fork", show=False, id="compare.previous"),
        Binding("right,l", "move(1)", "Next fork", show=False, id="compare.next"),
        Binding("k,enter", "keep", "Keep this one", id="compare.keep"),
        Binding("escape,q", "close", "Close", id="compare.close"),
    ]

    def __init__(self, views: list[ForkView], selected: str) -> None:
        super().__init__()
        self.views = views
        names = [view.name for view in views]
        self.chosen = names.index(selected) if selected in names else 0

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = f"{len(self.views)} forks side by side"
            with Horizontal():
                for view in self.views:
                    with VerticalScroll(classes="fork-card", id=f"card-{view.name}"):
                        yield Static(fork_card(view))

    def on_mount(self) -> None:
        box = self.query_one(Vertical)
        box.border_subtitle = (
            f"{key_of_action(self, 'move(-1)')}/{key_of_action(self, 'move(1)')} choose · "
            f"{key_of_action(self, 'keep')} keep it (merge; the others shut down) · "
            f"{key_of_action(self, 'close')} close"
        )
        self._mark()

    def _mark(self) -> None:
        for number, card in enumerate(self.query(".fork-card")):
            card.set_class(number == self.chosen, "-chosen")

    @property
    def chosen_name(self) -> str:
        return self.views[self.chosen].name

    def action_move(self, step: int) -> None:
        self.chosen = (self.chosen + step) % len(self.views)
        self._mark()

    def action_keep(self) -> None:
        self.dismiss(self.chosen_name)

    def action_close(self) -> None:
        self.dismiss(None)
