"""The attention line: what waits for the human (a permission, a question), and the keys."""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Static

from ensemble_tui.core.read_model import PendingRequest


def describe(request: PendingRequest) -> Content:
    """Who asks what, in one line."""
    if request.permission is not None:
        permission = request.permission
        what = ", ".join(permission.patterns) or permission.permission
        return Content.assemble(
            (request.member, "bold"),
            " asks to use ",
            (permission.permission, "bold"),
            ": ",
            what,
            "   ",
            ("a", "bold reverse"),
            " allow once  ",
            ("A", "bold reverse"),
            " allow always  ",
            ("r", "bold reverse"),
            " reject",
        )
    assert request.question is not None
    asked = "; ".join(q.question for q in request.question.questions)
    return Content.assemble(
        (request.member, "bold"), " asks: ", asked, "   ", ("a", "bold reverse"), " answer"
    )


class AttentionBar(Static):
    """Shown only while a request waits; the oldest first, with how many more."""

    DEFAULT_CSS = """
    AttentionBar {
        display: none;
        height: auto;
        max-height: 3;
        padding: 0 1;
        background: $warning-muted;
        color: $text;
        &.-active { display: block; }
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, markup=False)
        self.requests: list[PendingRequest] = []

    @property
    def first(self) -> PendingRequest | None:
        return self.requests[0] if self.requests else None

    def show(self, requests: list[PendingRequest]) -> None:
        self.requests = requests
        self.set_class(bool(requests), "-active")
        if not requests:
            self.update("")
            return
        more = len(requests) - 1
        tail = f"   (+{more} more, n next)" if more else ""
        self.update(Content.assemble(("⚠ ", "bold"), describe(requests[0]), (tail, "italic")))
