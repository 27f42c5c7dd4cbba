"""What keeps the screen cheap while teammates stream: tables that render again only the
rows that changed, panes not redrawn with what they show already, one toast for many
ended turns, the team list telling the app its cursor at once, and a batch of the shown
session mounted in one go and laid out once."""

from __future__ import annotations

import asyncio
import gc
from collections import Counter
from pathlib import Path
from types import SimpleNamespace
from typing import Any, NamedTuple

import pytest
from rich.style import Style
from rich.text import Text
from textual import events
from textual.app import App, ComposeResult
from textual.content import Content
from textual.dom import DOMNode
from textual.geometry import Region
from textual.message import Message
from textual.pilot import Pilot
from textual.screen import Screen
from textual.scrollbar import ScrollBar
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import DataTable, Static
from textual.widgets.data_table import Column, ColumnKey, RowKey

from bench.frames import FrameMaker
from ensemble_tui.core.team.events import MemberIdle, TaskAdded
from ensemble_tui.core.team.read_model import Totals
from ensemble_tui.core.team.sessions import SessionState
from ensemble_tui.opencode.events import PartDelta
from ensemble_tui.tui import bridge as bridge_module
from ensemble_tui.tui.app import EnsembleApp
from ensemble_tui.tui.bridge import Bridge, KeysFirst
from ensemble_tui.tui.notices import (
    TURNS_TOLD_EVERY,
    EndedTurns,
    ended_turns_notice,
    notice_for,
)
from ensemble_tui.tui.views import Connection
from ensemble_tui.tui.widgets.activity import ActivityLine
from ensemble_tui.tui.widgets.parts import AgentText
from ensemble_tui.tui.widgets.statusbar import StatusBar
from ensemble_tui.tui.widgets.table import LiveTable
from ensemble_tui.tui.widgets.teammates import TeammateList
from ensemble_tui.tui.widgets.transcript import Transcript
from tests.tui.scenes import (
    Collector,
    TranscriptApp,
    build_scene,
    delta,
    offline_coordinator,
    settle,
    stream_turns,
    turn_events,
)


class TableApp(App[None]):
    def compose(self) -> ComposeResult:
        yield LiveTable()


def filled_table(app: TableApp) -> LiveTable:
    """The app's table with two columns and three rows."""
    table = app.query_one(LiveTable)
    table.add_column("who", key="who")
    table.add_column("t", key="tokens")
    for name in ("ada", "bob", "cy"):
        table.add_row(Text(name), Text("1k"), key=name)
    return table


async def test_a_changed_cell_renders_again_its_row_only() -> None:
    app = TableApp()
    async with app.run_test(size=(60, 10)) as pilot:
        table = filled_table(app)
        await pilot.pause()
        before = [table.render_line(y) for y in range(4)]
        table.set_cell("bob", "tokens", Text("2k"))
        await pilot.pause()
        after = [table.render_line(y) for y in range(4)]
        assert "2k" in after[2].text
        # The header and the other rows are the lines already rendered, not new ones.
        assert [after[y] is before[y] for y in (0, 1, 3)] == [True, True, True]


async def test_a_changed_cell_is_rendered_into_the_kept_line_of_its_row(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A new token count renders that one cell and puts it in place in its row's line: the
    row's other cells are not assembled again, and the line is the one a whole render
    gives (here on the row under the cursor, whose cells have the cursor's look)."""
    app = TableApp()
    async with app.run_test(size=(60, 10)) as pilot:
        table = filled_table(app)
        table.cursor_type = "row"
        table.move_cursor(row=1)
        await pilot.pause()
        rows_assembled: list[object] = []
        assemble = DataTable._render_line_in_row

        def counted(self: DataTable[Any], row_key: RowKey, *args: Any, **options: Any) -> Any:
            rows_assembled.append(row_key.value)
            return assemble(self, row_key, *args, **options)

        monkeypatch.setattr(DataTable, "_render_line_in_row", counted)
        table.set_cell("bob", "tokens", Text("2k", style="bold"))
        await pilot.pause()
        spliced = table.render_line(2)
        assert "2k" in spliced.text
        assert rows_assembled == []
        table._lines.clear()  # what a table without kept lines renders
        assert table.render_line(2) == spliced
        assert rows_assembled == ["bob"]


async def test_a_drawing_of_the_table_reads_its_style_and_widths_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """DataTable reads its style (made from every ancestor's) and each column's width for
    each line: a drawing reads them once."""
    app = TableApp()
    async with app.run_test(size=(60, 10)) as pilot:
        table = filled_table(app)
        await pilot.pause()
        computed: list[DOMNode] = []
        measured: list[Column] = []
        style_of = DOMNode.__dict__["rich_style"].fget
        width_of = Column.get_render_width

        def counted_style(node: DOMNode) -> Style:
            computed.append(node)
            style: Style = style_of(node)
            return style

        def counted_width(column: Column, table: DataTable[Any]) -> int:
            measured.append(column)
            return width_of(column, table)

        monkeypatch.setattr(DOMNode, "rich_style", property(counted_style))
        monkeypatch.setattr(Column, "get_render_width", counted_width)
        table.set_cell("ada", "tokens", Text("2k"))
        table.set_cell("cy", "tokens", Text("3k"))
        table.refresh()
        lines = table.render_lines(Region(0, 0, table.size.width, table.size.height))
        assert "3k" in lines[3].text
        assert computed.count(table) == 1
        assert len(measured) == len(table.columns)


async def test_styles_applied_again_unchanged_render_no_line_again() -> None:
    """Textual restyles the table whenever a widget is mounted elsewhere (each part the
    stream adds to the transcript): the same look renders nothing again; a new one does."""
    app = TableApp()
    async with app.run_test(size=(60, 10)) as pilot:
        table = filled_table(app)
        await pilot.pause()
        before = [table.render_line(y) for y in range(4)]
        await app.mount(Static("a part streamed elsewhere"))
        app.update_styles(table)
        await pilot.pause()
        after = [table.render_line(y) for y in range(4)]
        assert [after[y] is before[y] for y in range(4)] == [True] * 4
        app.theme = "textual-light" if app.theme != "textual-light" else "nord"
        await pilot.pause()
        themed = [table.render_line(y) for y in range(4)]
        assert all(themed[y] != before[y] for y in range(4))


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


def test_ended_turns_are_told_together_at_most_every_two_seconds() -> None:
    now = [100.0]
    turns = EndedTurns(clock=lambda: now[0])
    assert turns.wait() is None
    ended = [notice_for(MemberIdle(member=name)) for name in ("ada", "bob", "ada", "cy")]
    for notice in ended:
        assert notice is not None
        assert notice.finished is not None
        turns.add(notice.finished)
    assert turns.wait() == 0
    told = turns.take()
    assert told is not None
    assert told.text == "ada, bob and cy finished their turns."
    turns.add("dee")
    now[0] += 0.5
    assert turns.wait() == TURNS_TOLD_EVERY - 0.5, "not again so soon"
    now[0] += TURNS_TOLD_EVERY
    assert turns.wait() == 0
    alone = turns.take()
    assert alone is not None
    assert alone.text == "dee finished its turn."
    many = ended_turns_notice(list("abcdefg"))
    assert many.text == "a, b, c and 4 more finished their turns."


async def test_the_team_list_tells_the_app_only_a_cursor_that_moved(tmp_path: Path) -> None:
    """A batch of the stream redraws the list; only a key that moves the cursor sends the
    app a message, straight to it."""
    scene = build_scene(tmp_path, "team")
    told: list[TeammateList.MemberHighlighted] = []

    def hook(message: Message) -> None:
        if isinstance(message, TeammateList.MemberHighlighted):
            told.append(message)

    app = scene.app
    async with app.run_test(size=(120, 40), message_hook=hook) as pilot:
        await settle(pilot)
        told.clear()
        app.refresh_team()  # what each batch and the clock's tick do
        await settle(pilot)
        assert told == []
        app.main.teammates.focus()
        await pilot.press("j")
        await settle(pilot)
        assert [message.name for message in told] == [app.selected]
        assert app.selected != "lead"


async def test_marking_the_shown_member_changes_only_cells_that_differ(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scene = build_scene(tmp_path, "team")
    app = scene.app
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        teammates = app.main.teammates
        changed: list[tuple[str, str]] = []
        set_cell = LiveTable.set_cell

        def counted(table: LiveTable, row: str, column: str, value: Text) -> None:
            changed.append((row, column))
            set_cell(table, row, column, value)

        monkeypatch.setattr(LiveTable, "set_cell", counted)
        teammates.mark_shown(teammates.shown_member)
        assert changed == []
        teammates.mark_shown("alice")
        assert sorted(changed) == [("alice", "name"), ("lead", "name")]
        assert teammates.get_cell("alice", "name").plain.startswith("▶")


async def team_list_focused(pilot: Pilot[None], app: EnsembleApp) -> Bridge:
    """Once the scene is shown: the team list focused, and the app's bridge."""
    await settle(pilot)
    app.main.teammates.focus()
    await settle(pilot)
    assert app.bridge is not None
    return app.bridge


async def test_a_held_batch_goes_once_the_key_is_answered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No batch goes out while a key is answered, and the batch held goes as soon as the
    answer is drawn: not a fixed time after the key, when the next key of someone
    pressing keys at that pace would arrive and wait for the batch and its drawing."""
    # Only the answer can let the batch go here.
    monkeypatch.setattr(bridge_module, "KEY_ROOM", 3600.0)
    monkeypatch.setattr(bridge_module, "HOLD_AT_MOST", 3600.0)
    scene = build_scene(tmp_path, "team")
    app = scene.app
    async with app.run_test(size=(120, 40)) as pilot:
        bridge = await team_list_focused(pilot, app)
        selected_then: list[str | None] = []
        posted = asyncio.Event()
        post = app.post_message

        def noted(message: Message) -> bool:
            if isinstance(message, Bridge.TeamChanged):
                selected_then.append(app.selected)
                posted.set()
            return post(message)

        monkeypatch.setattr(app, "post_message", noted)
        before = app.selected
        scene.coordinator.feed.emit(TaskAdded(task="t1"))
        noted(events.Key("j", "j"))
        assert bridge.scheduled, "the batch is held, not posted"
        async with asyncio.timeout(30):
            await posted.wait()
        assert selected_then[0] != before, "the key was answered before the batch went"


async def test_a_key_is_noted_once_though_it_bubbles_back_to_the_app(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A key that bubbles up from the focused widget reaches the app's queue again: it
    was taken for a second key a moment after the first, so the bridge saw a run of keys
    a few milliseconds apart and let batches go just before the next real key."""
    scene = build_scene(tmp_path, "team")
    app = scene.app
    async with app.run_test(size=(120, 40)) as pilot:
        bridge = await team_list_focused(pilot, app)
        noted: list[float] = []
        arrived = bridge.input_arrived

        def noting() -> float:
            noted.append(arrived())
            return noted[-1]

        monkeypatch.setattr(bridge, "input_arrived", noting)
        await pilot.press("j")
        await pilot.press("x")  # bound to nothing: it bubbles up to the app
        await settle(pilot)
        assert len(noted) == 2


def test_keys_in_a_run_get_the_batches_right_after_their_answers() -> None:
    """While keys come in a run, a batch goes right after an answer, or when it can be
    drawn before the next key is expected, never just before that key."""
    keys = KeysFirst()
    first = keys.arrived(10.0)
    assert keys.wait(10.01, cost=0.05) > 0, "a key being answered holds batches"
    assert keys.answer(first)
    assert keys.wait(10.02, cost=0.05) == 0, "one key answered: batches go as usual"
    second = keys.arrived(10.1)  # a run: a key every 0.1 s
    third = keys.arrived(10.2)
    assert not keys.answer(second), "a later key is still being answered"
    assert keys.wait(10.21, cost=0.05, just_answered=True) > 0
    assert keys.answer(third)
    assert keys.wait(10.21, cost=0.05, just_answered=True) == 0, "right after an answer"
    assert keys.wait(10.22, cost=0.05) == 0, "drawn before the next key (10.3)"
    # Due at 10.27, it would meet the next key: held for that key's answer, or until the
    # run has stopped (no key by 10.35).
    assert keys.wait(10.27, cost=0.05) == pytest.approx(0.08)
    assert keys.wait(10.36, cost=0.05) == 0, "the run has stopped"
    keys.arrived(11.0)
    assert keys.pace is None, "a key a while after the last is no run"


async def test_the_collector_leaves_out_what_lives_as_long_as_the_app(tmp_path: Path) -> None:
    """A full pass of the collector over the whole heap held the loop, and a key, for
    60 ms to hundreds: what is alive once the team is shown is left out while the app
    runs, and given back when it ends."""
    scene = build_scene(tmp_path, "team")
    async with scene.app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert gc.get_freeze_count() > 0
    assert gc.get_freeze_count() == 0


async def test_a_late_batch_of_the_shown_session_while_the_app_closes_draws_nothing(
    tmp_path: Path,
) -> None:
    """While the app closes, its panes go one by one: a batch of the shown session
    handled after the transcript has gone is dropped, not a crash (seen at the end of
    the keys benchmark)."""
    scene = build_scene(tmp_path, "team")
    app = scene.app
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert app.bridge is not None
        shown = app.bridge.followed
        assert shown is not None
        await app.main.transcript.remove()
        delta = PartDelta.model_validate(
            {"sessionID": shown, "messageID": "m", "partID": "p", "field": "text", "delta": "x"}
        )
        app.post_message(Bridge.SessionEventsArrived(shown, (delta,)))
        await settle(pilot)
        assert app.is_running


async def test_a_batch_leaves_the_sparklines_to_the_clock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The activity counts are drawn at the clock's tick, not at each batch of the stream
    (a change of the members beside the list is drawn at once, though)."""
    scene = build_scene(tmp_path, "team")
    app = scene.app
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        column = app.main.activity
        assert column.sparklines
        drawn: list[list[str]] = []
        show = column.show

        def counted(lines: list[ActivityLine]) -> None:
            drawn.append([line.name for line in lines])
            show(lines)

        monkeypatch.setattr(column, "show", counted)
        app.refresh_team(counts=False)
        assert drawn == []
        app.refresh_team()
        assert drawn == [column.names]
        column.names = []
        app.refresh_team(counts=False)
        assert len(drawn) == 2, "other members beside the list: drawn at once"


class Layouts(NamedTuple):
    done: list[int]
    """Grows by one at each layout of the screen (each reflow of its widgets)."""
    asked_meanwhile: list[str]
    """The widgets under *within* that asked for another layout while one was under way."""


def count_layouts(
    monkeypatch: pytest.MonkeyPatch, app: App[None], within: Widget | None = None
) -> Layouts:
    """The screen's layouts, and the layouts asked for by the widgets of *within* (or of
    the screen) as a layout sets their sizes: each such request is a layout more."""
    compositor = app.screen._compositor
    reflow = compositor.reflow
    refresh_layout = app.screen._refresh_layout
    layouts = Layouts([], [])
    laying_out = [False]

    def counted(*args: Any, **options: Any) -> Any:
        layouts.done.append(1)
        return reflow(*args, **options)

    def applied(*args: Any, **options: Any) -> Any:
        # The reflow, then the sizes it found given to the widgets.
        laying_out[0] = True
        try:
            return refresh_layout(*args, **options)
        finally:
            laying_out[0] = False

    refresh = Widget.refresh
    root = within or app.screen

    def watched(widget: Widget, *regions: Any, **options: Any) -> Any:
        if options.get("layout") and laying_out[0] and root in (widget, *widget.ancestors):
            layouts.asked_meanwhile.append(type(widget).__name__)
        return refresh(widget, *regions, **options)

    monkeypatch.setattr(compositor, "reflow", counted)
    monkeypatch.setattr(app.screen, "_refresh_layout", applied)
    monkeypatch.setattr(Widget, "refresh", watched)
    return layouts


async def test_a_batch_mounts_its_new_parts_in_one_go_and_lays_the_screen_out_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Three messages streamed and finished in one batch: their parts are built and filled
    first, then mounted together; the screen is laid out for them, and the sizes that
    layout gives the new parts ask for no layout more (Textual's own widgets would).

    Not "exactly one layout": Textual's mount asks for the parent's layout twice (when it
    is awaited, and again from a callback it queued), and on a busy machine the screen's
    update timer can run between the two, so a second layout follows (seen 1 run in 12
    while the suite ran). That one is Textual's, not the batch's."""
    app = TranscriptApp()
    maker = FrameMaker()
    async with app.run_test(size=(80, 30)) as pilot:
        transcript = app.query_one(Transcript)
        await transcript.load([])
        # Taller than the view already: the scroll bar is there (its coming is a layout).
        await stream_turns(transcript, maker, range(5))
        await pilot.pause()
        mounted: list[int] = []
        mount = transcript.mount

        def counted_mount(*widgets: Any, **options: Any) -> Any:
            mounted.append(len(widgets))
            return mount(*widgets, **options)

        monkeypatch.setattr(transcript, "mount", counted_mount)
        layouts = count_layouts(monkeypatch, app, within=transcript)
        drawn: Counter[str] = Counter()
        render = AgentText.render

        def counted_render(text: AgentText) -> Any:
            drawn[text.text[:40]] += 1
            return render(text)

        monkeypatch.setattr(AgentText, "render", counted_render)
        batch = [event for number in (5, 6, 7) for event in turn_events(maker, number)]
        with app.batch_update():  # as the app applies a batch
            await transcript.apply(batch)
        for _ in range(3):
            await pilot.pause()
        assert mounted == [3]
        assert layouts.done
        assert layouts.asked_meanwhile == []
        assert len(transcript.widgets) == 8
        # Each new part is rendered for its height and for its lines, and no more; the
        # parts on screen already are not rendered again.
        assert sorted(drawn.values()) == [2, 2, 2]

        # Text streamed into a part on screen, a line more: one layout, asking for none.
        opened = turn_events(maker, 8)
        streamed = next(i for i, e in enumerate(opened) if isinstance(e, PartDelta))
        with app.batch_update():
            await transcript.apply(opened[:streamed])
        for _ in range(3):
            await pilot.pause()
        layouts.done.clear()
        layouts.asked_meanwhile.clear()
        with app.batch_update():
            await transcript.apply(opened[streamed : streamed + 20])
        for _ in range(3):
            await pilot.pause()
        assert len(layouts.done) == 1
        assert layouts.asked_meanwhile == []


class VirtualClock:
    """The bridge's loop clock and timers, run by hand: when a batch goes is told in
    the bridge's own time, never timed (a fake of the event loop's clock only)."""

    def __init__(self) -> None:
        self.now = 0.0
        self.timers: list[tuple[float, int, Any, tuple[Any, ...], list[bool]]] = []

    def time(self) -> float:
        return self.now

    def call_later(self, delay: float, callback: Any, *args: Any) -> Any:
        cancelled = [False]
        self.timers.append((self.now + delay, len(self.timers), callback, args, cancelled))
        return SimpleNamespace(cancel=lambda: cancelled.__setitem__(0, True))

    def run_until(self, until: float) -> None:
        while True:
            due = sorted(t for t in self.timers if not t[4][0] and t[0] <= until)
            if not due:
                break
            timer = due[0]
            self.timers.remove(timer)
            self.now = timer[0]
            timer[2](*timer[3])
        self.now = until


def test_the_end_of_a_burst_goes_a_quiet_time_after_it_not_two(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tokens stream for a while, then stop: the batch holding the last ones goes
    between QUIET and QUIET + QUIET_STEP after the last, not up to twice QUIET (a check
    that came just after a token used to wait a whole QUIET more before looking again)."""
    clock = VirtualClock()
    monkeypatch.setattr(bridge_module, "asyncio", SimpleNamespace(get_running_loop=lambda: clock))
    coordinator, listeners = offline_coordinator(tmp_path)
    target = Collector()
    bridge = Bridge(coordinator, target, interval=600)  # type: ignore[arg-type]
    bridge.attach()
    bridge.follow("shown")
    target.posted.clear()
    shown = SessionState("alice", "shown", "/tmp")
    last = 0.0
    for step in range(27):  # a token a millisecond, up to just after the first check
        last = step / 1000
        clock.run_until(last)
        listeners[0](shown, delta("shown", "p1", "x"))
    clock.run_until(1.0)
    assert clock.timers == [] or all(t[4][0] for t in clock.timers)
    sent = [m for m in target.posted if isinstance(m, Bridge.SessionEventsArrived)]
    assert len(sent) == 1
    assert target.callbacks, "posted"
    went = bridge._posted_at - last
    assert bridge_module.QUIET <= went <= bridge_module.QUIET + bridge_module.QUIET_STEP + 1e-9
    bridge.detach()


class PartApp(App[None]):
    def compose(self) -> ComposeResult:
        yield AgentText("# A title\n\nSome **bold** text and `code`.\n\n- one\n- two\n")


async def test_a_new_markdown_part_is_rendered_once_not_for_its_height_and_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from rich.markdown import Markdown as RichMarkdown

    rendered = Counter[int]()
    render = RichMarkdown.__rich_console__

    def counted(self: RichMarkdown, console: Any, options: Any) -> Any:
        rendered[options.max_width] += 1
        return render(self, console, options)

    monkeypatch.setattr(RichMarkdown, "__rich_console__", counted)
    app = PartApp()
    async with app.run_test(size=(60, 20)) as pilot:
        await pilot.pause()
        part = app.query_one(AgentText)
        assert part.size.height == 6
        assert "A title" in "".join(
            segment.text
            for strip in part.render_lines(part.region.reset_offset)
            for segment in strip
        )
        # Measured for its height and drawn at the same width: one rendering.
        assert rendered == {part.size.width: 1}


async def test_a_batch_that_grows_the_transcript_draws_its_scroll_bar_with_its_layout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Textual would draw the scroll bar's new place in a refresh of its own after the one
    that laid the new parts out (one more refresh per batch); it is drawn in that one, and
    as it is now."""
    app = TranscriptApp()
    async with app.run_test(size=(60, 12)) as pilot:
        shown = app.query_one(Transcript)
        maker = FrameMaker()
        await stream_turns(shown, maker, range(3))
        await pilot.pause()
        bar = shown.vertical_scrollbar
        assert shown.show_vertical_scrollbar
        drawings: list[bool] = []  # each drawing of the screen: whether with a layout
        laying_out = [False]
        draw_screen = Screen._compositor_refresh
        lay_out = Screen._refresh_layout
        draw_bar = ScrollBar.render_lines
        drawn: list[tuple[int, list[Strip]]] = []  # the bar's lines, in which drawing

        def counted_layout(screen: Screen[Any], *args: Any, **options: Any) -> None:
            laying_out[0] = True
            try:
                lay_out(screen, *args, **options)
            finally:
                laying_out[0] = False

        def counted_drawing(screen: Screen[Any]) -> None:
            drawings.append(laying_out[0])
            draw_screen(screen)

        def counted_bar(scroll_bar: ScrollBar, crop: Region) -> list[Strip]:
            lines = draw_bar(scroll_bar, crop)
            drawn.append((len(drawings), lines))
            return lines

        monkeypatch.setattr(Screen, "_refresh_layout", counted_layout)
        monkeypatch.setattr(Screen, "_compositor_refresh", counted_drawing)
        monkeypatch.setattr(ScrollBar, "render_lines", counted_bar)
        await shown.apply(turn_events(maker, 3))
        for _ in range(3):
            await pilot.pause()
        in_refreshes = {number for number, _ in drawn}
        assert in_refreshes, "the bar moved, so it was drawn"
        # Drawn only by drawings that laid parts out (a batch may take two layouts, when a
        # part's height is known only once it is drawn), never by one of its own.
        assert all(drawings[number - 1] for number in in_refreshes), (drawings, in_refreshes)
        monkeypatch.setattr(ScrollBar, "render_lines", draw_bar)
        bar.refresh()
        now = bar.render_lines(bar.size.region)
        assert [strip.text for strip in drawn[-1][1]] == [strip.text for strip in now]
