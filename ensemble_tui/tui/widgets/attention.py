"""The attention line: what waits for the human (a permission, a question), and the keys
that answer it from where the focus is."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from textual.content import Content
from textual.keys import key_to_character
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Input, Static, TextArea

from ensemble_tui.tui.views import same_content

# Only named (the rows come with the team, after the first frame).
if TYPE_CHECKING:
    from ensemble_tui.core.team.read_model import PendingRequest


ANSWERS = ("allow_once", "allow_always", "reject")
LEAVE = "leave_prompt"


def _typed(key: str) -> bool:
    """A key that a text box takes as text rather than as a binding."""
    character = key_to_character(key)
    return character is not None and character.isprintable()


def answer_keys(screen: Screen[object]) -> dict[str, str]:
    """The key for each answer that works from the focused widget, as its bindings say
    (so a changed keymap shows here). In a text box a printable key types itself; an
    answer with no other key there is shown as leaving the box first."""
    focused: Widget | None = screen.focused
    typing = isinstance(focused, TextArea | Input)
    found: dict[str, str] = {}
    anywhere: dict[str, str] = {}
    for key, active in screen.active_bindings.items():
        action = active.binding.action.rpartition(".")[2]
        shown = screen.app.get_key_display(active.binding)
        if action in (*ANSWERS, LEAVE) and action not in anywhere and active.enabled:
            anywhere[action] = shown
        if action in ANSWERS and action not in found and not (typing and _typed(key)):
            found[action] = shown
    leave = anywhere.get(LEAVE)
    for action in ANSWERS:
        if action not in found and action in anywhere and leave is not None:
            found[action] = f"{leave} {anywhere[action]}"
    return found


def _key(name: str | None, what: str) -> tuple[Content | str, ...]:
    if name is None:
        return ()
    return Content.styled(f" {name} ", "bold reverse"), f" {what}  "


def describe(request: PendingRequest, keys: Mapping[str, str]) -> Content:
    """The keys that answer, then who asks what: on a narrow terminal the line wraps or is
    cut at its end, and the keys must stay."""
    if request.permission is not None:
        permission = request.permission
        what = ", ".join(permission.patterns) or permission.permission
        return Content.assemble(
            *_key(keys.get("allow_once"), "allow once"),
            *_key(keys.get("allow_always"), "always"),
            *_key(keys.get("reject"), "reject"),
            " ",
            (request.member, "bold"),
            " asks to use ",
            (permission.permission, "bold"),
            ": ",
            what,
        )
    assert request.question is not None
    asked = "; ".join(q.question for q in request.question.questions)
    return Content.assemble(
        *_key(keys.get("allow_once"), "answer"), " ", (request.member, "bold"), " asks: ", asked
    )


class AttentionBar(Static):
    """Shown only while a request waits (the oldest first, with how many more), or while
    no model answers (why, and the fix)."""

    DEFAULT_CSS = """
    AttentionBar {
        display: none;
        height: auto;
        max-height: 3;
        padding: 0 1;
        background: $warning-muted;
        color: $text;
        &.-active { display: block; }
        &.-problem { background: $error-muted; max-height: 4; }
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, markup=False)
        self.requests: list[PendingRequest] = []
        self.problem: str | None = None
        self.said: Content | None = None

    def on_mount(self) -> None:
        # The keys depend on the focus: `a` in the team list, another key in the prompt.
        self.watch(self.screen, "focused", self._focus_moved, init=False)

    @property
    def first(self) -> PendingRequest | None:
        return self.requests[0] if self.requests else None

    def show(self, requests: list[PendingRequest]) -> None:
        """Show what waits (with nothing waiting, the model problem if there is one)."""
        self.requests = requests
        self._draw()

    def show_problem(self, problem: str | None) -> None:
        """Why no model answers and the fix, shown while nothing else waits (None: gone)."""
        self.problem = problem
        self._draw()

    def _focus_moved(self, _focused: Widget | None) -> None:
        self._draw()

    def _draw(self) -> None:
        self.set_class(bool(self.requests) or self.problem is not None, "-active")
        self.set_class(not self.requests and self.problem is not None, "-problem")
        if not self.requests:
            said = Content.assemble(("✖ ", "bold"), self.problem) if self.problem else Content()
        else:
            more = len(self.requests) - 1
            tail = f"   (+{more} more, n next)" if more else ""
            keys = answer_keys(self.screen)
            said = Content.assemble(
                ("⚠ ", "bold"), describe(self.requests[0], keys), (tail, "italic")
            )
        # Drawn at every batch of the team's events: a layout only when it says something new.
        if not same_content(said, self.said):
            self.said = said
            self.update(said)
