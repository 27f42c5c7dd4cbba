"""The pieces of a transcript: text as Markdown, tool calls and reasoning as folded lines."""

from __future__ import annotations

import copy
import functools
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.segment import Segment
from textual.content import Content
from textual.events import Click
from textual.geometry import Region, Size
from textual.reactive import Reactive
from textual.widgets import Static

# The parts are built once a session is shown, after the first frame: the Markdown
# parser and OpenCode's models are imported then.
if TYPE_CHECKING:
    from markdown_it import MarkdownIt

    from ensemble_tui.opencode.models import CompactionPart, ReasoningPart, ToolPart

if TYPE_CHECKING:
    from rich.markdown import Markdown as RichMarkdown

# The input field that best says what a tool works on, in order of preference.
TARGET_KEYS = ("filePath", "path", "file", "command", "pattern", "url", "query", "description")
BODY_CHARS = 4000
BODY_LINES = 40


@functools.cache
def markdown_without_html() -> MarkdownIt:
    """Markdown in which `<div>` or `<<tag>>` is text: raw HTML tokens are dropped when
    rendered, so a prompt mentioning a tag would silently lose it. (One parser, shared:
    parsing does not change it.)"""
    return _explicit_links(_gfm_without_html())


@functools.cache
def markdown_as_typed() -> MarkdownIt:
    """For what a person typed: no HTML, and `&amp;` stays `&amp;` rather than `&`."""
    return _explicit_links(_gfm_without_html().disable("entity"))


def _gfm_without_html() -> MarkdownIt:
    from markdown_it import MarkdownIt

    return MarkdownIt("gfm-like", {"html": False})


def _explicit_links(parser: MarkdownIt) -> MarkdownIt:
    """Only addresses written with their scheme (`https://…`, `mailto:…`) become links.

    Guessed ones would make `README.md` a link to http://README.md and `git@github.com`
    one to mail (file names end in country domains), and guessing is most of the time
    a part's parse takes.
    """
    if parser.linkify is not None:
        parser.linkify.set({"fuzzy_link": False, "fuzzy_email": False})
    return parser


class Piece(Static):
    """One piece of a transcript: a widget that never scrolls, so only its size matters
    to the layout.

    Textual gives every widget its virtual size as it lays out the screen, and that
    reactive asks for a new layout whenever it changed, as it does for each new piece:
    a second layout of the whole screen after every batch that mounts one, which would
    change nothing. Here it only records the size.
    """

    virtual_size: Reactive[Size] = Reactive(Size(0, 0), layout=False, repaint=False)

    def refresh(
        self,
        *regions: Region,
        repaint: bool = True,
        layout: bool = False,
        recompose: bool = False,
    ) -> Self:
        # Filled before it is mounted, a piece asks for nothing: its mounting lays it out
        # and draws it. (Textual would keep the requests for after that: a second layout
        # of the screen, and a second drawing of the piece.)
        if not self.is_mounted and not recompose:
            return self
        return super().refresh(*regions, repaint=repaint, layout=layout, recompose=recompose)


class StreamedMarkdown(Piece):
    """A text part: plain text while it streams, Markdown once it is finished, one widget.

    Streamed Markdown would be parsed again and its blocks laid out again at every
    batch of tokens, and a Markdown document is a widget per block, each costing layout
    time on every refresh of a long transcript. Here the growing text is shown as it is,
    and parsed once, when the part ends (or is loaded), into one renderable.
    """

    DEFAULT_CSS = """
    StreamedMarkdown { height: auto; }
    """

    def __init__(self, text: str, *, classes: str | None = None) -> None:
        super().__init__(classes=classes, markup=False)
        self.text = text
        self._streaming = False
        self._height: int | None = None
        self._show()

    @staticmethod
    def make_parser() -> MarkdownIt:
        """The parser of this kind of text."""
        return markdown_without_html()

    @property
    def streaming(self) -> bool:
        """Whether the text is being streamed (and shown as plain text until it ends)."""
        return self._streaming

    def _show(self) -> None:
        if not self._streaming:
            self.update(markdown_renderable(self.text, self.make_parser()))
            return
        shown = Content(self.text)
        # A layout is a reflow of the whole screen: only when the text takes more lines.
        width = self.content_region.width
        height = shown.get_height(self.styles.get_render_rules(), width) if width else None
        self.update(shown, layout=height is None or height != self._height)
        self._height = height

    async def add(self, fragment: str) -> None:
        """Append streamed text."""
        if not fragment:
            return
        self.text += fragment
        self._streaming = True
        self._show()

    async def set_text(self, text: str, *, finished: bool = False) -> None:
        """Show the part's whole text (as Markdown when *finished*: drawn once, not as
        plain text first)."""
        ended = finished and self._streaming
        if finished:
            self._streaming = False
        if text == self.text and not ended:
            return
        self.text = text
        self._show()

    async def finish(self) -> None:
        """The text is complete: show it as Markdown."""
        if self._streaming:
            self._streaming = False
            self._show()


def markdown_renderable(text: str, parser: MarkdownIt) -> RenderableType:
    """*text* as Markdown parsed by *parser*, as one Rich renderable (code in the
    terminal's own colours)."""
    # A copy of a blank one: making a Rich Markdown makes a Markdown parser too (about a
    # millisecond), one per part, and it would not be used.
    rendered = copy.copy(_blank_markdown())
    rendered.markup = text
    rendered.parsed = parser.parse(text)
    return RenderedOnce(rendered)


class RenderedOnce:
    """A renderable whose last rendering is kept for the next one at the same width.

    Textual renders a widget's content twice when it is new: once to measure its
    height, once for its lines, with the same width; a Markdown part is rendered (its
    blocks laid out and highlighted) once instead of twice. Only what the rendering
    depends on is compared: not the height Textual gives (Markdown flows to any height).
    """

    def __init__(self, renderable: RenderableType) -> None:
        self.renderable = renderable
        self.renders = 0
        """How many times the renderable was rendered (for the tests)."""
        self._kept: tuple[tuple[object, ...], list[Segment]] | None = None

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        key = (
            id(console),
            options.max_width,
            options.min_width,
            options.legacy_windows,
            options.is_terminal,
            options.encoding,
            options.justify,
            options.overflow,
            options.no_wrap,
            options.highlight,
            options.markup,
            console.color_system,
        )
        if self._kept is None or self._kept[0] != key:
            self.renders += 1
            self._kept = (key, list(console.render(self.renderable, options)))
        yield from self._kept[1]


@functools.cache
def _blank_markdown() -> RichMarkdown:
    # Imported here: it brings pygments, slow to import, not needed for the first frame.
    from rich.markdown import Markdown as RichMarkdown

    return RichMarkdown("", code_theme="ansi_dark", inline_code_theme="ansi_dark")


_SCRIPT_BLOCK = re.compile(r"```scripted[ \t]*\n(.*?)\n[ \t]*```", re.DOTALL)


def readable_prompt(text: str) -> str:
    """A prompt as a person reads it: a scripted model's script folded to one line (the
    demo's prompts carry one), the coordinator's delivery marker left out."""
    from ensemble_tui.core.team.prompts import without_delivery_marker

    def fold(match: re.Match[str]) -> str:
        steps = sum(1 for line in match.group(1).splitlines() if line.strip())
        return f"*(the scripted model's script: {steps} steps)*"

    return without_delivery_marker(_SCRIPT_BLOCK.sub(fold, text))


class UserText(StreamedMarkdown):
    """What the human (or the coordinator, delivering a message) said to the session."""

    @staticmethod
    def make_parser() -> MarkdownIt:
        return markdown_as_typed()

    def __init__(self, text: str, *, classes: str | None = None) -> None:
        super().__init__(readable_prompt(text), classes=classes)

    async def set_text(self, text: str, *, finished: bool = False) -> None:
        await super().set_text(readable_prompt(text), finished=finished)

    DEFAULT_CSS = """
    UserText {
        margin: 1 0 0 0;
        padding: 0 1;
        border-left: outer $primary;
        background: $boost;
    }
    """


class AgentText(StreamedMarkdown):
    """What the agent said."""

    DEFAULT_CSS = """
    AgentText {
        margin: 1 0 0 0;
        padding: 0 1 0 2;
    }
    """


class FoldLine(Piece):
    """One compact line that opens (click, or `e` in the transcript) to show more.

    One widget, not a title and a body: a long transcript has many of these, and every
    widget costs layout time.
    """

    DEFAULT_CSS = """
    FoldLine {
        height: auto;
        padding: 0 1 0 2;
        text-wrap: nowrap;
        text-overflow: ellipsis;
        &.-open { text-wrap: wrap; }
        &:hover { background: $boost; }
    }
    """

    def __init__(self) -> None:
        super().__init__(markup=False)

    def on_mount(self) -> None:
        self.redraw()

    def title(self) -> Content:
        return Content("")

    def body(self) -> str:
        return ""

    def redraw(self) -> None:
        if not self.has_class("-open"):
            self.update(self.title())
            return
        body = "\n".join(f"  {line}" for line in self.body().splitlines())
        self.update(Content.assemble(self.title(), "\n", (body, "$text-muted")))

    def on_click(self, event: Click) -> None:
        event.stop()
        self.toggle_class("-open")
        self.redraw()


def short_path(value: str, directory: str | None) -> str:
    """A path relative to the session's folder when it lies inside it."""
    if directory and value.startswith("/"):
        try:
            return str(Path(value).relative_to(directory))
        except ValueError:
            return value
    return value


def tool_target(tool: str, arguments: dict[str, Any], directory: str | None) -> str:
    """The one thing a tool call is about: its file, command, pattern, or its arguments."""
    for key in TARGET_KEYS:
        value = arguments.get(key)
        if isinstance(value, str) and value:
            first_line = value.strip().splitlines()[0] if value.strip() else value
            return short_path(first_line, directory)
    import json  # Not before the first full frame (no tool call is shown there).

    parts = [f"{key}={json.dumps(value)}" for key, value in arguments.items()]
    return " ".join(parts)


class ToolCall(FoldLine):
    """A tool call: `✓ write  hello.txt`; opened, its input and output."""

    def __init__(self, part: ToolPart, directory: str | None) -> None:
        super().__init__()
        self.part = part
        self.directory = directory

    def update_part(self, part: ToolPart) -> None:
        self.part = part
        self.redraw()

    def title(self) -> Content:
        from ensemble_tui.opencode.models import ToolCompleted, ToolFailed, ToolPending, ToolRunning

        state = self.part.state
        name = self.part.tool.removeprefix("ensemble_")
        target = tool_target(name, getattr(state, "input", {}) or {}, self.directory)
        if isinstance(state, ToolCompleted):
            icon, word, style = "✓", "done", "$success"
        elif isinstance(state, ToolFailed):
            icon, word, style = "✗", "failed", "$error"
        elif isinstance(state, ToolRunning | ToolPending):
            icon, word, style = "⋯", "running", "$warning"
        else:
            icon, word, style = "?", state.status, "$text-muted"
        return Content.assemble(
            (icon, style), " ", (name, "bold"), "  ", target, "  ", (word, style)
        )

    def body(self) -> str:
        import json

        from ensemble_tui.opencode.models import ToolCompleted, ToolFailed

        state = self.part.state
        arguments = getattr(state, "input", {}) or {}
        text = json.dumps(arguments, indent=2, ensure_ascii=False)
        if isinstance(state, ToolCompleted) and state.output:
            text += "\n── output ──\n" + state.output
        elif isinstance(state, ToolFailed):
            text += "\n── error ──\n" + state.error
        return _limit(text)


class Compaction(FoldLine):
    """Where OpenCode summarized the conversation: one line, the summary folded in it."""

    DEFAULT_CSS = """
    Compaction { color: $text-muted; }
    """

    def __init__(self, part: CompactionPart) -> None:
        super().__init__()
        self.part_id = part.id
        self.auto = part.auto
        self.summary = ""

    def set_summary(self, text: str) -> None:
        if text != self.summary:
            self.summary = text
            self.redraw()

    def title(self) -> Content:
        how = "automatically" if self.auto else "on request"
        words = f", summary of {len(self.summary.split())} words" if self.summary else ""
        return Content(f"⇊ conversation summarized {how}{words}")

    def body(self) -> str:
        return _limit(self.summary or "(the summary is being written)")


class Reasoning(FoldLine):
    """The model's reasoning, folded to one line."""

    DEFAULT_CSS = """
    Reasoning { color: $text-muted; text-style: italic; }
    """

    def __init__(self, part: ReasoningPart) -> None:
        super().__init__()
        self.text = part.text

    def add(self, fragment: str) -> None:
        self.text += fragment
        self.redraw()

    def set_text(self, text: str) -> None:
        if text != self.text:
            self.text = text
            self.redraw()

    def title(self) -> Content:
        words = len(self.text.split())
        return Content(f"∴ thinking ({words} words)")

    def body(self) -> str:
        return _limit(self.text)


def _limit(text: str) -> str:
    """At most BODY_LINES lines and BODY_CHARS characters, saying how much was left out."""
    lines = text[:BODY_CHARS].splitlines()
    kept = "\n".join(lines[:BODY_LINES])
    if len(kept) < len(text):
        kept += f"\n… ({len(text) - len(kept)} more characters)"
    return kept


class ErrorLine(Piece):
    """A turn that ended in an error."""

    DEFAULT_CSS = """
    ErrorLine { padding: 0 1 0 2; color: $error; }
    """
