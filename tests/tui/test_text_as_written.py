"""Text in transcripts is shown as written: Markdown must not eat what looks like HTML."""

from __future__ import annotations

import io

from rich.console import Console
from textual.app import App, ComposeResult

from ensemble_tui.tui.widgets.parts import AgentText, StreamedMarkdown, UserText


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
