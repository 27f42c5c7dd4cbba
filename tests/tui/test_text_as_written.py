"""Text in transcripts is shown as written: Markdown must not eat what looks like HTML,
nor make links of file names."""

from __future__ import annotations

import io

from rich.console import Console
from rich.markdown import Markdown
from textual.app import App, ComposeResult

from ensemble_tui.tui.widgets.parts import AgentText, RenderedOnce, StreamedMarkdown, UserText


class Texts(App[None]):
    def compose(self) -> ComposeResult:
        yield UserText("Fix <<tag>> in <div>x</div>, & and &amp; as typed")
        yield AgentText("")


def shown(widget: StreamedMarkdown) -> str:
    """The text as the widget renders it, lines stripped."""
    console = Console(width=80, file=io.StringIO(), record=True)
    console.print(widget.content)
    return "\n".join(line.rstrip() for line in console.export_text().splitlines()).strip()


async def test_tags_in_prompts_and_streamed_answers_keep_every_character() -> None:
    """Textual's Markdown drops raw HTML: `<<tag>>` became `<>` and `<div>` nothing."""
    app = Texts()
    async with app.run_test(size=(80, 20)) as pilot:
        answer = app.query_one(AgentText)
        await answer.add("I kept <<tag>> and <div>\n\n")  # streamed, as deltas arrive
        await answer.add("<span>hi</span> & more")
        assert answer.streaming
        await answer.finish()
        await pilot.pause()
        assert shown(app.query_one(UserText)) == "Fix <<tag>> in <div>x</div>, & and &amp; as typed"
        assert not answer.streaming
        assert shown(answer) == "I kept <<tag>> and <div>\n\n<span>hi</span> & more"


def links_in(widget: StreamedMarkdown) -> list[str]:
    """Where the links of a finished part's Markdown go."""
    assert isinstance(widget.content, RenderedOnce)
    markdown = widget.content.renderable
    assert isinstance(markdown, Markdown)
    return [
        str(child.attrs["href"])
        for token in markdown.parsed
        for child in token.children or []
        if child.type == "link_open"
    ]


async def test_file_names_are_not_links_addresses_with_their_scheme_are() -> None:
    """Guessed links made `README.md` a link to http://README.md (`.md` is a country's
    domain) and `git@github.com` one to mail."""
    app = Texts()
    async with app.run_test(size=(80, 20)):
        answer = app.query_one(AgentText)
        await answer.set_text(
            "Edited README.md and app.py, pushed to git@github.com:a/b.git; "
            "see https://example.org/docs or <https://example.org/x>.",
            finished=True,
        )
        assert links_in(answer) == ["https://example.org/docs", "https://example.org/x"]
        typed = app.query_one(UserText)
        await typed.set_text("Read notes.md and mail me at ada@example.org", finished=True)
        assert links_in(typed) == []
