"""Text in transcripts is shown as written: Markdown must not eat what looks like HTML."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.widgets import Markdown
from textual.widgets.markdown import MarkdownBlock

from ensemble_tui.tui.widgets.parts import AgentText, UserText


class Texts(App[None]):
    def compose(self) -> ComposeResult:
        yield UserText("Fix <<tag>> in <div>x</div>, & and &amp; as typed")
        yield AgentText("")


def shown(widget: Markdown) -> str:
    return "\n".join(str(block.content) for block in widget.query(MarkdownBlock))


async def test_tags_in_prompts_and_streamed_answers_keep_every_character() -> None:
    """Textual's Markdown drops raw HTML: `<<tag>>` became `<>` and `<div>` nothing."""
    app = Texts()
    async with app.run_test(size=(80, 20)) as pilot:
        answer = app.query_one(AgentText)
        await answer.add("I kept <<tag>> and <div>\n\n")  # streamed, as deltas arrive
        await answer.add("<span>hi</span> & more")
        await answer.finish()
        await pilot.pause()
        assert shown(app.query_one(UserText)) == "Fix <<tag>> in <div>x</div>, & and &amp; as typed"
        assert shown(answer) == "I kept <<tag>> and <div>\n<span>hi</span> & more"
