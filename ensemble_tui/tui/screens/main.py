"""The main screen: the panes, and typed accessors the app reaches them by.

The app reaches its panes through this screen rather than through `App.query_one`,
which searches whichever screen is on top (a diff, a confirmation) and would miss them.
"""

from __future__ import annotations

from textual import getters
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen

from ensemble_tui.tui.widgets.attention import AttentionBar
from ensemble_tui.tui.widgets.feed import MessageFeed
from ensemble_tui.tui.widgets.session import PromptBox, SessionPane
from ensemble_tui.tui.widgets.statusbar import StatusBar
from ensemble_tui.tui.widgets.taskboard import TaskBoard
from ensemble_tui.tui.widgets.teammates import TeammateList
from ensemble_tui.tui.widgets.transcript import Transcript


class MainScreen(Screen[None]):
    """The team list on top; the session pane beside the tasks and messages; the
    attention line and the status bar at the bottom."""

    teammates = getters.query_one(TeammateList)
    session = getters.query_one(SessionPane)
    transcript = getters.query_one(Transcript)
    prompt = getters.query_one(PromptBox)
    tasks = getters.query_one(TaskBoard)
    messages = getters.query_one(MessageFeed)
    attention = getters.query_one(AttentionBar)
    status = getters.query_one(StatusBar)

    class Ready(Message):
        """The panes are mounted: the app can fill them."""

    def compose(self) -> ComposeResult:
        yield TeammateList(id="teammates")
        with Horizontal(id="main"):
            yield SessionPane(id="session")
            with Vertical(id="side"):
                yield TaskBoard(id="tasks")
                yield MessageFeed(id="messages")
        yield AttentionBar(id="attention")
        yield StatusBar(id="status")

    def on_mount(self) -> None:
        self.post_message(self.Ready())
