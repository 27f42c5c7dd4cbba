"""What keeps the screen cheap while teammates stream: tables that render again only the
rows that changed, panes not redrawn with what they show already, one toast for many
ended turns."""

from __future__ import annotations

import pytest
from rich.text import Text
from textual.app import App, ComposeResult
from textual.content import Content
from textual.widgets import Static
from textual.widgets.data_table import ColumnKey

from ensemble_tui.core.team.events import MemberIdle, PermissionAsked
from ensemble_tui.core.team.read_model import Totals
from ensemble_tui.tui.notices import Notice, merged, notice_for
from ensemble_tui.tui.widgets.statusbar import Connection, StatusBar
from ensemble_tui.tui.widgets.table import LiveTable


class TableApp(App[None]):
    def compose(self) -> ComposeResult:
        yield LiveTable()


async def test_a_changed_cell_renders_again_its_row_only() -> None:
    app = TableApp()
    async with app.run_test(size=(60, 10)) as pilot:
        table = app.query_one(LiveTable)
        table.add_column("who", key="who")
        table.add_column("t", key="tokens")
        for name in ("ada", "bob", "cy"):
            table.add_row(Text(name), Text("1k"), key=name)
        await pilot.pause()
        before = [table.render_line(y) for y in range(4)]
        table.set_cell("bob", "tokens", Text("2k"))
        await pilot.pause()
        after = [table.render_line(y) for y in range(4)]
        assert "2k" in after[2].text
        # The header and the other rows are the lines already rendered, not new ones.
        assert [after[y] is before[y] for y in (0, 1, 3)] == [True, True, True]


async def test_a_cell_wider_or_narrower_than_its_column_resizes_it() -> None:
    app = TableApp()
    async with app.run_test(size=(60, 10)) as pilot:
        table = app.query_one(LiveTable)
        table.add_column("who", key="who")
        table.add_column("t", key="tokens")
        for name in ("ada", "bob"):
            table.add_row(Text(name), Text("1k"), key=name)
        await pilot.pause()
        column = table.columns[ColumnKey("tokens")]
        table.set_cell("bob", "tokens", Text("1,234k"))
        await pilot.pause()
        assert column.content_width == 6
        table.set_cell("bob", "tokens", Text("9k"))
        await pilot.pause()
        assert column.content_width == 2
        assert "9k" in table.render_line(2).text


class BarApp(App[None]):
    def compose(self) -> ComposeResult:
        yield StatusBar()


async def test_the_status_bar_is_not_redrawn_with_what_it_shows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = BarApp()
    async with app.run_test(size=(100, 3)) as pilot:
        bar = app.query_one(StatusBar)
        figures = bar.query_one(".status-figures", Static)
        drawn: list[Content] = []
        update = figures.update

        def counted(content: Content, *, layout: bool = True) -> None:
            drawn.append(content)
            update(content, layout=layout)

        monkeypatch.setattr(figures, "update", counted)
        connection = Connection("http://127.0.0.1:4096", "connected")
        totals = Totals(team="t1", ended=None, members=3, working=2, tokens=1200, cost=0.5)
        for _ in range(3):
            bar.show(connection, totals)
        bar.show(Connection("http://127.0.0.1:4096", "reconnecting"), totals)
        await pilot.pause()
        assert len(drawn) == 2
        assert "reconnecting" in drawn[-1].plain


def test_the_ended_turns_of_one_batch_are_one_notice() -> None:
    asked = notice_for(PermissionAsked(member="dana", text="bash", patterns=["*"]))
    assert asked is not None
    ended = [notice_for(MemberIdle(member=name)) for name in ("ada", "bob", "ada", "cy")]
    notices = [n for n in ended if n is not None]
    assert len(notices) == 4
    together = merged([notices[0], asked, *notices[1:]])
    assert [n.text for n in together] == [
        "ada, bob and cy finished their turns.",
        asked.text,
    ]
    many = [Notice(f"{name} finished its turn.", finished=name) for name in "abcdefg"]
    assert [n.text for n in merged(many)] == ["a, b, c and 4 more finished their turns."]
    # One alone says it as before.
    assert [n.text for n in merged(notices[:1])] == ["ada finished its turn."]
