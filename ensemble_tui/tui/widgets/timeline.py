"""The timeline: the team's events as one glyph each, oldest left, newest right.

It draws the team's events (what `run --json` prints) as the glance has kept them,
only those that tell the team's story (spawns, messages, tasks, merges, shut-downs, errors). A
dim dot marks a pause of over a minute between two events. The border names the
selected event and its member; enter opens the event whole.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from typing import TYPE_CHECKING, ClassVar

from textual.binding import Binding, BindingType
from textual.content import Content
from textual.message import Message
from textual.widget import Widget

from ensemble_tui.tui.views import format_clock

if TYPE_CHECKING:
    from ensemble_tui.core.team.events import TeamEvent
    from ensemble_tui.tui.screens.detail import DetailScreen

PAUSE = timedelta(minutes=1)


@dataclass(frozen=True)
class Mark:
    """How one type of event is drawn."""

    glyph: str
    label: str
    style: str


@cache
def marks() -> dict[type[TeamEvent], Mark]:
    """How each type of event the timeline draws is drawn (imported once there are events:
    the team's event classes are not needed for the first frame)."""
    from ensemble_tui.core.team import events

    return {
        events.TeamCreated: Mark("◎", "team created", "$primary"),
        events.MemberSpawned: Mark("▲", "spawned", "$success"),
        events.MemberSpawnFailed: Mark("✖", "spawn failed", "$error"),
        events.MessageSent: Mark("→", "message", "$accent"),
        events.TaskAdded: Mark("+", "task added", "$text-muted"),
        events.TaskClaimed: Mark("◇", "task claimed", "$secondary"),
        events.TaskCompleted: Mark("◆", "task completed", "$success"),
        events.PermissionAsked: Mark("?", "permission asked", "$warning"),
        events.QuestionAsked: Mark("?", "question asked", "$warning"),
        events.MergeRefused: Mark("✗", "merge refused", "$warning"),
        events.MemberMerged: Mark("✔", "merged", "$primary"),
        events.MemberStalled: Mark("◐", "stalled", "$warning"),
        events.MemberTimedOut: Mark("✖", "timed out", "$error"),
        events.MemberShutDown: Mark("■", "shut down", "$text-muted"),
        events.MemberErrored: Mark("✖", "error", "$error"),
        events.TeamCleanedUp: Mark("◎", "team cleaned up", "$primary"),
    }


def story_events(events: Sequence[TeamEvent]) -> list[TeamEvent]:
    """The events the timeline draws, in the order they happened."""
    if not events:
        return []
    drawn = marks()
    return [event for event in events if type(event) in drawn]


def who(event: TeamEvent) -> str:
    """The member an event is about (a message's sender and recipient)."""
    if event.sender is not None:
        return f"{event.sender} → {event.recipient or 'everyone'}"
    return event.member or "the team"


def describe(event: TeamEvent) -> str:
    """One line: the time, who, what (and which task)."""
    mark = marks().get(type(event))
    what = mark.label if mark else event.type
    task = f" {event.task}" if event.task else ""
    return f"{format_clock(event.time)} {who(event)} · {what}{task}"


class Timeline(Widget, can_focus=True):
    """A one-line strip of the team's events; left and right move, enter opens one."""

    DEFAULT_CSS = """
    Timeline {
        height: 3;
        padding: 0 1;
        border: round $border-blurred;
        border-title-color: $text;
        border-subtitle-color: $text-muted;
        background: $surface;
        &:focus { border: round $border; }
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("left,h", "earlier", "Earlier event", show=False, id="timeline.earlier"),
        Binding("right,l", "later", "Later event", show=False, id="timeline.later"),
        Binding("end", "newest", "Newest event", show=False, id="timeline.newest"),
        Binding("enter", "open", "Open the event", id="timeline.open"),
    ]

    @dataclass
    class EventChosen(Message):
        """The human pressed enter on an event."""

        event: TeamEvent

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.events: list[TeamEvent] = []
        self.cursor: int | None = None
        """The selected event's index; None follows the newest."""
        self.border_title = "Timeline"

    def show(self, events: Sequence[TeamEvent]) -> None:
        """Draw these feed events (only the story's ones); cheap when nothing changed."""
        story = story_events(events)
        if story == self.events:
            return
        self.events = story
        if self.cursor is not None:
            self.cursor = min(self.cursor, len(story) - 1) if story else None
        self._changed()

    @property
    def selected(self) -> TeamEvent | None:
        if not self.events:
            return None
        return self.events[-1 if self.cursor is None else self.cursor]

    def _changed(self) -> None:
        chosen = self.selected
        self.border_subtitle = describe(chosen) if chosen else "no events yet"
        self.refresh()

    def _move(self, step: int) -> None:
        if not self.events:
            return
        current = len(self.events) - 1 if self.cursor is None else self.cursor
        moved = max(0, min(len(self.events) - 1, current + step))
        self.cursor = None if moved == len(self.events) - 1 else moved
        self._changed()

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()

    def action_earlier(self) -> None:
        self._move(-1)

    def action_later(self) -> None:
        self._move(1)

    def action_newest(self) -> None:
        self.cursor = None
        self._changed()

    def action_open(self) -> None:
        if (event := self.selected) is not None:
            self.post_message(self.EventChosen(event))

    def render(self) -> Content:
        if not self.events:
            return Content.styled("nothing has happened yet", "$text-muted")
        # Cells: (index of the event or None for a pause marker, glyph, style).
        cells: list[tuple[int | None, str, str]] = []
        drawn = marks()
        for index, event in enumerate(self.events):
            if index and event.time - self.events[index - 1].time > PAUSE:
                cells.append((None, "·", "$text-muted"))
            mark = drawn[type(event)]
            cells.append((index, mark.glyph, mark.style))
        width = max(1, self.content_size.width)
        selected = len(self.events) - 1 if self.cursor is None else self.cursor
        at = next(n for n, cell in enumerate(cells) if cell[0] == selected)
        if self.cursor is None:
            start = max(0, len(cells) - width)
        else:
            start = max(0, min(at - width // 2, len(cells) - width))
        parts: list[tuple[str, str] | Content] = []
        for event_index, glyph, style in cells[start : start + width]:
            chosen = event_index == selected and self.has_focus
            parts.append((glyph, f"{style} reverse" if chosen else style))
        return Content.assemble(*parts)


def event_detail(event: TeamEvent) -> DetailScreen:
    """The event whole: its type, time, who, task, and every detail it carries."""
    from ensemble_tui.tui.screens.detail import DetailScreen

    mark = marks().get(type(event))
    facts = [f"{event.type} at {format_clock(event.time)}", f"who: {who(event)}"]
    if event.task:
        facts.append(f"task: {event.task}")
    facts += [f"{key}: {value}" for key, value in event.detail.items()]
    title = f"{(mark.label if mark else event.type).capitalize()}: {who(event)}"
    return DetailScreen(title, event.text or "(no text)", "\n".join(facts))
