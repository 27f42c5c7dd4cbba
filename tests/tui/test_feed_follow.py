"""The message feed keeps following the newest message when its pane changes size.

A pane that shrinks after the messages arrived (the layout settling, a strip shown
above it) used to leave the newest lines below the fold.
"""

from __future__ import annotations

from datetime import UTC, datetime

from textual.app import App, ComposeResult

from ensemble_tui.core.models import Message
from ensemble_tui.tui.widgets.feed import MessageFeed


class FeedOnly(App[None]):
    def compose(self) -> ComposeResult:
        yield MessageFeed(id="messages")


async def test_the_feed_follows_the_newest_after_it_shrinks() -> None:
    app = FeedOnly()
    async with app.run_test(size=(60, 40)) as pilot:
        feed = app.query_one(MessageFeed)
        when = datetime(2026, 1, 15, 14, 30, tzinfo=UTC)
        feed.add(
            [
                Message(
                    id=n, team_id=1, sender="alice", recipient="bob", text=f"note {n}", created=when
                )
                for n in range(1, 21)
            ]
        )
        await pilot.pause()
        assert feed.scroll_y == feed.max_scroll_y, "all fit, or it is at the end"
        await pilot.resize_terminal(60, 8)
        await pilot.pause()
        assert feed.max_scroll_y > 0, "the messages no longer fit"
        assert feed.scroll_y == feed.max_scroll_y, "the newest message is still in view"
