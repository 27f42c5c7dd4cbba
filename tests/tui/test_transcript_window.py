"""A long live transcript: streamed text is plain until its part ends, and only a window of
parts stays mounted while the newest are followed (the rest come back with `home`)."""

from __future__ import annotations

from rich.markdown import Markdown
from textual.content import Content

from bench.frames import FrameMaker
from ensemble_tui.opencode.events import PartDelta
from ensemble_tui.tui.widgets.parts import AgentText, RenderedOnce
from ensemble_tui.tui.widgets.transcript import MORE_PARTS, MOUNTED_PARTS, Transcript
from tests.tui.scenes import TranscriptApp, stream_turns, turn_events


async def test_streamed_text_is_plain_until_its_part_ends_then_markdown() -> None:
    app = TranscriptApp()
    async with app.run_test(size=(80, 30)) as pilot:
        transcript = app.query_one(Transcript)
        await transcript.load([])
        events = turn_events(FrameMaker(), 0)
        ending = next(i for i, e in enumerate(events) if i > 3 and not isinstance(e, PartDelta))
        await transcript.apply(events[:ending])
        await pilot.pause()
        text = app.query_one(AgentText)
        assert text.streaming
        assert isinstance(text.content, Content), "nothing is parsed while it streams"
        await transcript.apply(events[ending:])
        await pilot.pause()
        assert not text.streaming
        assert isinstance(text.content, RenderedOnce)
        assert isinstance(text.content.renderable, Markdown)
        assert "quick brown" in text.content.renderable.markup


async def test_only_a_window_of_parts_stays_mounted_and_home_brings_back_the_rest() -> None:
    app = TranscriptApp()
    maker = FrameMaker()
    messages = MOUNTED_PARTS + MORE_PARTS + 5
    async with app.run_test(size=(80, 30)) as pilot:
        transcript = app.query_one(Transcript)
        await transcript.load([])
        await stream_turns(transcript, maker, range(messages))
        await pilot.pause()
        mounted = len(transcript.query(AgentText))
        assert mounted <= MOUNTED_PARTS + MORE_PARTS
        assert mounted + len(transcript.hidden) == messages
        assert "earlier parts" in str(transcript.query_one(".earlier").render())
        first = transcript.hidden[0][1].text
        assert first.startswith("the.\n\nquick brown"), "kept with all its streamed text"
        assert first.endswith("arrives the ")
        transcript.focus()
        while transcript.hidden:
            await pilot.press("home")
        await pilot.pause()
        assert len(transcript.query(AgentText)) == messages
        assert transcript.query(AgentText).first().text == first


async def test_a_reader_scrolled_up_keeps_every_part_mounted() -> None:
    """New parts do not send the oldest back while the reader is reading higher up."""
    app = TranscriptApp()
    maker = FrameMaker()
    messages = MOUNTED_PARTS + MORE_PARTS + 5
    async with app.run_test(size=(80, 30)) as pilot:
        transcript = app.query_one(Transcript)
        await transcript.load([])
        await stream_turns(transcript, maker, range(10))
        await pilot.pause()
        transcript.scroll_up(animate=False)
        await pilot.pause()
        await stream_turns(transcript, maker, range(10, messages))
        await pilot.pause()
        assert len(transcript.query(AgentText)) == messages
        assert not transcript.hidden
