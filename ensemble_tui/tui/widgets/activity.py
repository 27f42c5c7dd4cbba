"""The team at a glance: a sparkline per member beside the team list, row for row, and
the team's spend over time.

Each member's sparkline is the member's session events per 5 seconds over the last minutes. A
working member whose line has gone flat is drawn in the warning colour (`-quiet`), so
the human sees it go quiet well before the watchdog marks it stalled.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Sparkline, Static

from ensemble_tui.core.team.activity import ACTIVITY_WINDOW_SECONDS, SPEND_WINDOW_SECONDS
from ensemble_tui.tui.views import format_cost, format_tokens


@dataclass(frozen=True)
class ActivityLine:
    """What one member's sparkline shows."""

    name: str
    counts: list[int]
    quiet: bool
    """Working, yet silent for a while."""


class ActivityColumn(Vertical):
    """A header aligned with the team list's, then a sparkline per member in its order."""

    DEFAULT_CSS = """
    ActivityColumn {
        width: 10;
        height: auto;
        max-height: 40%;
        border: round $border-blurred;
        border-title-color: $text-muted;
        background: $surface;
        overflow: hidden hidden;
        & > .activity-header { color: $text-muted; text-style: bold; width: 1fr; }
        & > Sparkline { width: 1fr; }
        & > Sparkline.-idle > .sparkline--min-color { color: $text-muted 40%; }
        & > Sparkline.-quiet > .sparkline--min-color { color: $warning; }
        & > Sparkline.-quiet > .sparkline--max-color { color: $warning; }
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.names: list[str] = []
        self.sparklines: list[Sparkline] = []
        self.border_title = "Activity"

    def compose(self) -> ComposeResult:
        minutes = round(ACTIVITY_WINDOW_SECONDS / 60)
        yield Static(f"last {minutes}m", classes="activity-header", markup=False)

    def show(self, lines: list[ActivityLine]) -> None:
        """Draw these members' lines (remounting only when the members change)."""
        names = [line.name for line in lines]
        if names != self.names:
            self.names = names
            for old in self.sparklines:
                old.remove()
            self.sparklines = [Sparkline(line.counts) for line in lines]
            self.mount_all(self.sparklines)
        for sparkline, line in zip(self.sparklines, lines, strict=True):
            sparkline.data = line.counts
            sparkline.set_class(line.quiet, "-quiet")
            sparkline.set_class(not line.quiet and not any(line.counts), "-idle")
            sparkline.tooltip = (
                f"{line.name}: {sum(line.counts)} events in the last "
                f"{round(ACTIVITY_WINDOW_SECONDS / 60)} minutes"
                + (" (quiet lately)" if line.quiet else "")
            )


class SpendChart(Vertical):
    """The team's running token total over the last half hour, with its figures."""

    DEFAULT_CSS = """
    SpendChart {
        width: 18;
        height: 3;
        padding: 0 1;
        border: round $border-blurred;
        border-title-color: $text;
        border-subtitle-color: $text-muted;
        background: $surface;
        & > Sparkline { width: 1fr; }
        & > Sparkline > .sparkline--min-color { color: $accent 40%; }
        & > Sparkline > .sparkline--max-color { color: $accent; }
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.border_title = f"Tokens {round(SPEND_WINDOW_SECONDS / 60)}m"

    def compose(self) -> ComposeResult:
        yield Sparkline([])

    def show(self, tokens: list[int], total_tokens: int, total_cost: float) -> None:
        """Draw the running totals per bucket, and the totals now."""
        self.query_one(Sparkline).data = tokens
        figures = f"{format_tokens(total_tokens)} {format_cost(total_cost)}"
        # Setting a border's subtitle redraws the chart, even with the same text.
        if figures != self.border_subtitle:
            self.border_subtitle = figures
