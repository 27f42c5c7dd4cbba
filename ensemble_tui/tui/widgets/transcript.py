"""The live transcript of one session: loaded once, then grown part by part as events come.

Only the newest parts are mounted when a session is opened (`home` mounts earlier ones),
and while it is followed the oldest go back to being kept (as data, not widgets) once
more than MOUNTED_PARTS are shown, so memory and layout time stay flat however long
the session runs. Streamed text is appended to its part as plain text and parsed as
Markdown once, when the part ends, so no token rebuilds what is already on screen.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.geometry import Size
from textual.reactive import Reactive
from textual.widget import Widget
from textual.widgets import Static

from ensemble_tui.tui.widgets.parts import (
    AgentText,
    Compaction,
    ErrorLine,
    FoldLine,
    Reasoning,
    StreamedMarkdown,
    ToolCall,
    UserText,
)

# OpenCode's events and models come with the first session shown, after the first frame.
if TYPE_CHECKING:
    from ensemble_tui.opencode.events import Event, MessageUpdated, PartDelta
    from ensemble_tui.opencode.models import MessageWithParts

FIRST_PARTS = 50
MORE_PARTS = 50
# While following the newest, parts past this many go back to the kept ones (in chunks
# of MORE_PARTS, so the transcript is not trimmed at every part).
MOUNTED_PARTS = 100

PartWidget = StreamedMarkdown | ToolCall | Reasoning | Compaction


def shown_part(part: Any) -> bool:
    """Whether a part has a place in the transcript (steps, patches, files do not)."""
    from ensemble_tui.opencode.models import CompactionPart, ReasoningPart, TextPart, ToolPart

    if isinstance(part, TextPart):
        return not part.synthetic
    return isinstance(part, ToolPart | ReasoningPart | CompactionPart)


def is_summary(info: Any) -> bool:
    """Whether a message is the summary a compaction wrote (shown in its folded line)."""
    return bool(getattr(info, "summary", False)) and getattr(info, "role", "") == "assistant"


class Transcript(VerticalScroll):
    """The parts of one session, oldest at the top, following the newest."""

    DEFAULT_CSS = """
    Transcript {
        height: 1fr;
        padding: 0 1 1 0;
        & > .earlier { color: $text-muted; padding: 0 2; }
        & > .empty { color: $text-muted; padding: 1 2; }
    }
    """

    # Set by Textual as it lays out the screen, each time the parts grew: no second layout
    # for it (the scroll bars ask for one themselves when they come or go).
    virtual_size: Reactive[Size] = Reactive(Size(0, 0), layout=False, repaint=False)

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("e", "toggle_folds", "Open/fold tool calls", id="transcript.folds"),
        Binding("home", "earlier", "Earlier parts", id="transcript.earlier"),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.directory: str | None = None
        self.roles: dict[str, str] = {}
        self.widgets: dict[str, PartWidget] = {}
        self.errors: set[str] = set()
        self.early_deltas: dict[str, str] = {}
        self.hidden: list[tuple[str, Any]] = []
        self.keep_open: set[str] = set()
        """Parts whose folds open when the next `load` builds them (kept across a reload)."""
        # What each mounted part was built from (role and part), to keep it when trimmed.
        self.sources: dict[Widget, tuple[str, Any]] = {}
        self.summaries: set[str] = set()
        """Ids of the messages that are a compaction's summary."""
        self.last_compaction: Compaction | None = None
        self.unmounted: list[Widget] = []
        """New parts built (and filled) by the events of this batch, mounted at its end."""

    def _size_updated(
        self, size: Size, virtual_size: Size, container_size: Size, layout: bool = True
    ) -> bool:
        changed = super()._size_updated(size, virtual_size, container_size, layout)
        if changed and self.show_vertical_scrollbar:
            self._draw_scroll_bar_with_layout()
        return changed

    def _draw_scroll_bar_with_layout(self) -> None:
        """Draw the scroll bar's new place with the layout that moved it.

        Textual calls `_size_updated` as it lays the screen out, just before it draws what
        the layout changed; the scroll bar, though, asks to be drawn by a message, so it
        would be drawn by a refresh of its own after each batch that grew the parts. Its
        place (the same region) is added to what this drawing covers instead.
        """
        bar = self.vertical_scrollbar
        regions = getattr(getattr(self.screen, "_compositor", None), "_dirty_regions", None)
        if isinstance(regions, set) and bar.region:
            regions.add(bar.region)
            # Its lines were marked to be rendered again already: no message for them.
            bar._repaint_required = False

    async def reset(self, directory: str | None, note: str) -> None:
        """Empty the transcript (for another session) and show *note* until it loads."""
        await self._finish_streams()
        self.directory = directory
        self.roles.clear()
        self.widgets.clear()
        self.errors.clear()
        self.early_deltas.clear()
        self.hidden.clear()
        self.sources.clear()
        self.summaries.clear()
        self.unmounted.clear()
        self.last_compaction = None
        await self.remove_children()
        await self.mount(Static(note, classes="empty"))

    async def load(
        self, messages: Sequence[MessageWithParts], empty: str = "Nothing said yet."
    ) -> None:
        """Show a whole session: its newest parts mounted, the older ones kept back."""
        from ensemble_tui.opencode.models import CompactionPart, TextPart

        await self.remove_children()
        self.sources.clear()
        items: list[tuple[str, Any]] = []
        summary_of: dict[str, str] = {}
        compaction: str | None = None
        for message in messages:
            self.roles[message.info.id] = message.info.role
            if is_summary(message.info):
                # The summary goes inside the compaction's folded line, not beside it.
                self.summaries.add(message.info.id)
                text = "".join(p.text for p in message.parts if isinstance(p, TextPart))
                if compaction is not None:
                    summary_of[compaction] = text
                continue
            for part in message.parts:
                if shown_part(part):
                    items.append((message.info.role, part))
                    if isinstance(part, CompactionPart):
                        compaction = part.id
            error = getattr(message.info, "error", None)
            if error is not None:
                items.append(("error", message.info))
        self.hidden = items[:-FIRST_PARTS] if len(items) > FIRST_PARTS else []
        shown = items[-FIRST_PARTS:]
        widgets = [self._build(role, part) for role, part in shown]
        for widget in widgets:
            if isinstance(widget, Compaction):
                widget.summary = summary_of.get(widget.part_id, "")
        if self.hidden:
            widgets.insert(0, self._earlier_note())
        if not widgets:
            widgets.append(Static(empty, classes="empty"))
        await self.mount_all(widgets)
        self.keep_open.clear()
        self.anchor()

    def open_parts(self) -> set[str]:
        """The ids of the parts whose folds are open now."""
        return {
            part_id
            for part_id, widget in self.widgets.items()
            if isinstance(widget, FoldLine) and widget.has_class("-open")
        }

    def _earlier_note(self) -> Static:
        return Static(f"▲ {len(self.hidden)} earlier parts: press home", classes="earlier")

    def _build(self, role: str, part: Any) -> Widget:
        from ensemble_tui.opencode.models import CompactionPart, ReasoningPart, ToolPart

        if role == "error":
            self.errors.add(part.id)
            line = ErrorLine(f"✖ {part.error.message}")
            self.sources[line] = (role, part)
            return line
        widget: PartWidget
        if isinstance(part, CompactionPart):
            widget = self.last_compaction = Compaction(part)
        elif isinstance(part, ToolPart):
            widget = ToolCall(part, self.directory)
        elif isinstance(part, ReasoningPart):
            widget = Reasoning(part)
        elif role == "user":
            widget = UserText(part.text)
        else:
            widget = AgentText(part.text)
        self.widgets[part.id] = widget
        if part.id in self.keep_open and isinstance(widget, FoldLine):
            widget.add_class("-open")
        self.sources[widget] = (role, part)
        return widget

    async def action_earlier(self) -> None:
        """Mount the next chunk of earlier parts above the shown ones."""
        if not self.hidden:
            return
        chunk, self.hidden = self.hidden[-MORE_PARTS:], self.hidden[:-MORE_PARTS]
        for note in self.query(".earlier"):
            await note.remove()
        widgets = [self._build(role, part) for role, part in chunk]
        if self.hidden:
            widgets.insert(0, self._earlier_note())
        await self.mount_all(widgets, before=0 if self.children else None)
        self.scroll_home(animate=False)

    def action_toggle_folds(self) -> None:
        folds = list(self.query(FoldLine))
        opening = not any(fold.has_class("-open") for fold in folds)
        for fold in folds:
            fold.set_class(opening, "-open")
            fold.redraw()

    async def apply(self, events: Iterable[Event]) -> None:
        """Fold new events of this session into what is shown: the parts that are new are
        built and filled first, then mounted together (one layout, not one per part)."""
        from ensemble_tui.opencode.events import MessageUpdated, PartDelta, PartRemoved, PartUpdated

        for event in events:
            if isinstance(event, MessageUpdated):
                await self._message_updated(event)
            elif isinstance(event, PartUpdated):
                await self._part_updated(event.part)
            elif isinstance(event, PartDelta):
                await self._part_delta(event)
            elif isinstance(event, PartRemoved):
                removed = self.widgets.pop(event.part_id, None)
                if removed is not None:
                    self.sources.pop(removed, None)
                    if removed in self.unmounted:
                        self.unmounted.remove(removed)
                    else:
                        await removed.remove()
        await self._mount_new()

    async def _message_updated(self, event: MessageUpdated) -> None:
        from ensemble_tui.opencode.models import AssistantMessage

        info = event.info
        self.roles[info.id] = info.role
        if is_summary(info):
            self.summaries.add(info.id)
        error = info.error if isinstance(info, AssistantMessage) else None
        if error is not None and error.name != "MessageAbortedError" and info.id not in self.errors:
            await self._append(self._build("error", info))

    async def _part_updated(self, part: Any) -> None:
        from ensemble_tui.opencode.models import ReasoningPart, TextPart, ToolPart

        if not shown_part(part):
            return
        if isinstance(part, TextPart) and part.message_id in self.summaries:
            if self.last_compaction is not None:
                self.last_compaction.set_summary(part.text)
            return
        widget = self.widgets.get(part.id)
        if widget is None:
            await self._append(self._build(self.roles.get(part.message_id, "assistant"), part))
            widget = self.widgets[part.id]
            pending = self.early_deltas.pop(part.id, "")
            if pending and isinstance(widget, StreamedMarkdown | Reasoning):
                await _add(widget, pending)
        if isinstance(widget, ToolCall) and isinstance(part, ToolPart):
            widget.update_part(part)
        elif isinstance(widget, Reasoning) and isinstance(part, ReasoningPart):
            widget.set_text(part.text)
        elif isinstance(widget, StreamedMarkdown) and isinstance(part, TextPart):
            await widget.set_text(part.text, finished=part.time.end is not None)

    async def _part_delta(self, event: PartDelta) -> None:
        if event.field != "text":
            return
        widget = self.widgets.get(event.part_id)
        if widget is None:
            self.early_deltas[event.part_id] = (
                self.early_deltas.get(event.part_id, "") + event.delta
            )
        elif isinstance(widget, StreamedMarkdown | Reasoning):
            await _add(widget, event.delta)

    async def _append(self, widget: Widget) -> None:
        # Mounted with the others of its batch, at the end of `apply`.
        self.unmounted.append(widget)

    async def _mount_new(self) -> None:
        """Mount the parts built since the last call, at the bottom, in one go."""
        new, self.unmounted = self.unmounted, []
        if not new:
            return
        for empty in self.query(".empty"):
            await empty.remove()
        await self.mount_all(new)
        if len(self.sources) >= MOUNTED_PARTS + MORE_PARTS and self.following:
            await self._keep_oldest(len(self.sources) - MOUNTED_PARTS)

    @property
    def following(self) -> bool:
        """Whether the view stays on the newest part (the reader has not scrolled up)."""
        # Textual's own flag, not the scroll position: that one is known only after the
        # next layout, and parts of several batches may come before it.
        return self.is_anchored and not self._anchor_released

    async def _keep_oldest(self, count: int) -> None:
        """Unmount the *count* oldest parts, keeping them (as data) for `home`."""
        oldest = [child for child in self.children if child in self.sources][:count]
        for widget in oldest:
            role, part = self.sources.pop(widget)
            if isinstance(widget, StreamedMarkdown | Reasoning):
                await _finish(widget)
                part = part.model_copy(update={"text": widget.text})
            elif isinstance(widget, ToolCall):
                part = widget.part
            if role != "error":
                self.widgets.pop(part.id, None)
            self.hidden.append((role, part))
        for note in self.query(".earlier"):
            await note.remove()
        await self.remove_children(oldest)
        await self.mount(self._earlier_note(), before=0)

    async def _finish_streams(self) -> None:
        for widget in self.widgets.values():
            if isinstance(widget, StreamedMarkdown):
                await widget.finish()


async def _finish(widget: StreamedMarkdown | Reasoning) -> None:
    if isinstance(widget, StreamedMarkdown):
        await widget.finish()


async def _add(widget: StreamedMarkdown | Reasoning, fragment: str) -> None:
    if isinstance(widget, Reasoning):
        widget.add(fragment)
    else:
        await widget.add(fragment)
