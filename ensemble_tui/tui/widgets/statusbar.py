"""The status bar: the server and its connection, the team, and what the team has spent."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.content import Content
from textual.widgets import Static

from ensemble_tui.tui.views import Connection, format_cost, format_tokens, same_content

# Only named (the rows come with the team, after the first frame).
if TYPE_CHECKING:
    from ensemble_tui.core.team.read_model import Totals


KEYS = Content.assemble(("?", "bold $text"), " keys ", ("^p", "bold $text"), " actions")

STATE_STYLES = {
    "starting": "$text-muted",
    "connected": "$success",
    "reconnecting": "$warning",
    "failed": "$error",
}


class StatusBar(Horizontal):
    """One line at the bottom of the screen: the figures left, the key hints right."""

    DEFAULT_CSS = """
    StatusBar {
        height: 1;
        padding: 0 1;
        background: $panel;
        color: $text-muted;
        & > .status-figures { width: 1fr; text-wrap: nowrap; text-overflow: ellipsis; }
        & > .status-keys { width: auto; padding-left: 2; }
    }
    """

    shown: Content | None = None

    def compose(self) -> ComposeResult:
        yield Static(classes="status-figures", markup=False)
        yield Static(KEYS, classes="status-keys")

    def show(
        self,
        connection: Connection,
        totals: Totals | None,
        *,
        paused: str | None = None,
        until_done: bool = False,
    ) -> None:
        """The connection, the team and its spending; a pause (with its reason) and
        until-done mode when they apply."""
        state = Content.styled(f"● {connection.state}", STATE_STYLES.get(connection.state, ""))
        parts: list[Content | str | tuple[str, str]] = [state]
        if connection.url:
            parts += [" ", connection.url.removeprefix("http://")]
        if totals is not None:
            parts += [" │ "]
            if totals.team is None and totals.ended is not None:
                parts += ["team ", (totals.ended, "bold $text"), " ended"]
            elif totals.team is None:
                parts += ["no team yet"]
            else:
                parts += ["team ", (totals.team, "bold $text")]
                parts += [f": {totals.working} of {totals.members} working"]
            parts += [
                " │ ",
                (f"{format_tokens(totals.tokens)} tokens", "$text"),
                " ",
                (format_cost(totals.cost), "$text"),
            ]
        if until_done:
            parts += [" │ ", ("until done", "bold $accent")]
        if paused is not None:
            parts += [" │ ", (f"⏸ {paused}", "bold $warning")]
        figures = Content.assemble(*parts)
        if same_content(figures, self.shown):
            return
        self.shown = figures
        # One line whatever it says: no layout of the screen.
        self.query_one(".status-figures", Static).update(figures, layout=False)
