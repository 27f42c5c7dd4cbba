"""How the panes draw the team's read model: colours, icons, short numbers and times.

What to show is the core's (`core.read_model`); how it looks is decided here, in one place.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from textual.content import Content

from ensemble_tui.core.states import MemberStatus, utc_now

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class Connection:
    """Where the app stands with OpenCode."""

    url: str | None
    state: str
    """`starting`, `connected`, `reconnecting` or `failed`."""


# The theme variable each status is drawn in (None: the muted default).
STATUS_COLOURS: dict[MemberStatus, str | None] = {
    MemberStatus.STARTING: None,
    MemberStatus.WORKING: "success",
    MemberStatus.NEEDS_PERMISSION: "warning",
    MemberStatus.NEEDS_ANSWER: "warning",
    MemberStatus.IDLE: None,
    MemberStatus.STALLED: "warning",
    MemberStatus.RATE_LIMITED: "warning",
    MemberStatus.ERROR: "error",
    MemberStatus.TIMED_OUT: "error",
    MemberStatus.SHUT_DOWN: None,
    MemberStatus.MERGED: "primary",
}

STATUS_ICONS: dict[MemberStatus, str] = {
    MemberStatus.STARTING: "◌",
    MemberStatus.WORKING: "●",
    MemberStatus.NEEDS_PERMISSION: "◆",
    MemberStatus.NEEDS_ANSWER: "◆",
    MemberStatus.IDLE: "○",
    MemberStatus.STALLED: "◐",
    MemberStatus.RATE_LIMITED: "◐",
    MemberStatus.ERROR: "✖",
    MemberStatus.TIMED_OUT: "✖",
    MemberStatus.SHUT_DOWN: "■",
    MemberStatus.MERGED: "✔",
}


def format_tokens(count: int) -> str:
    """A short token count: 950, 12.3k, 4.1M."""
    if count < 1000:
        return str(count)
    if count < 1_000_000:
        return f"{count / 1000:.1f}k"
    return f"{count / 1_000_000:.1f}M"


def format_cost(cost: float) -> str:
    return f"${cost:.2f}"


def format_elapsed(since: datetime | None, now: datetime) -> str:
    """How long ago, in one short unit: 42s, 7m, 2h05."""
    if since is None:
        return ""
    seconds = max(0, int((now - since).total_seconds()))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}"


def format_clock(moment: datetime) -> str:
    """A time of day in the local zone."""
    return moment.astimezone().strftime("%H:%M")


def default_clock() -> datetime:
    return utc_now()


def same_content(new: Content, old: Content | None) -> bool:
    """Whether *new* draws as *old* does: the same text with the same styles
    (`Content.__eq__` compares the text only)."""
    return old is not None and new.plain == old.plain and new.spans == old.spans
