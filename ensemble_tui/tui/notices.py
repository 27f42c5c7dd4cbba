"""Which team events deserve a toast, and what it says."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ensemble_tui.core.models import LEAD_NAME
from ensemble_tui.core.team.events import (
    BudgetReached,
    BudgetWarning,
    CheckFailed,
    CheckPassed,
    MemberErrored,
    MemberIdle,
    MemberLost,
    MemberMerged,
    MemberShutDown,
    MemberSpawned,
    MemberSpawnFailed,
    MemberStalled,
    MemberStatusChanged,
    MemberTimedOut,
    MergeBlocked,
    MergeRefused,
    ModelUnavailable,
    PermissionAsked,
    QuestionAsked,
    ReviewApproved,
    ReviewChangesRequested,
    ReviewNoVerdict,
    ServerConnected,
    ServerDisconnected,
    TeamCleanedUp,
    TeamContinued,
    TeamCreated,
    TeamEvent,
    TeamPaused,
    TeamResumed,
)

Severity = Literal["information", "warning", "error"]

# Statuses a teammate can fall into that the human should hear about.
ALARMING = {"stalled", "timed-out", "rate-limited"}


@dataclass(frozen=True)
class Notice:
    text: str
    title: str = ""
    severity: Severity = "information"
    finished: str | None = None
    """The member whose turn ended, for a notice that says only that (merged by `merged`)."""


# Names a merged notice lists before "and N more".
NAMES_SHOWN = 4


def merged(notices: list[Notice]) -> list[Notice]:
    """The notices of one batch of events, those saying a turn ended merged into one
    (in its place): ten teammates streaming end dozens of turns a second, and a toast
    each would bury the screen."""
    names = list(dict.fromkeys(n.finished for n in notices if n.finished is not None))
    if len(names) < 2:
        return notices
    shown = names if len(names) <= NAMES_SHOWN else names[: NAMES_SHOWN - 1]
    more = len(names) - len(shown)
    listed = ", ".join(shown[:-1]) + f" and {shown[-1]}" if not more else ", ".join(shown)
    if more:
        listed += f" and {more} more"
    together = Notice(f"{listed} finished their turns.")
    first = next(index for index, n in enumerate(notices) if n.finished is not None)
    rest = [n for n in notices if n.finished is None]
    return [*rest[:first], together, *rest[first:]]


def notice_for(event: TeamEvent) -> Notice | None:
    """The toast for a live team event, or None for the ones the panes show well enough."""
    who = event.member or ""
    text = (event.text or "").strip()
    match event:
        case TeamCreated():
            return Notice(f"Team {text} created.")
        case MemberSpawned(branch=branch):
            return Notice(f"{who} joined the team ({branch or 'read-only'}).")
        case MemberSpawnFailed():
            return Notice(f"Could not spawn {who}: {text}", "Spawn failed", "error")
        case MemberIdle(stopped=True):
            return Notice(f"{who}'s turn was stopped by you.")
        case MemberIdle() if who != LEAD_NAME:
            return Notice(f"{who} finished its turn.", finished=who)
        case ModelUnavailable():
            return Notice(text, "No usable model", "error")
        case MemberErrored():
            return Notice(f"{who}: {text}", f"{who} failed", "error")
        case MemberStatusChanged() if text in ALARMING:
            return Notice(f"{who} is {text}.", "", "warning")
        case MemberStalled():
            return Notice(f"{who} looks stalled ({text}); it was nudged.", "Stalled", "warning")
        case MemberTimedOut():
            return Notice(f"{who} timed out ({text}); its work is on its branch.", "", "error")
        case MemberLost():
            return Notice(f"{who}: {text}", f"{who} is lost", "error")
        case TeamResumed():
            return Notice(f"Team {text} resumed where it stopped.")
        case PermissionAsked(patterns=patterns):
            return Notice(
                f"{who} asks to use {text}: {', '.join(patterns)}", "Needs you", "warning"
            )
        case QuestionAsked():
            return Notice(f"{who} asks: {text}", "Needs you", "warning")
        case MemberShutDown():
            return Notice(f"{who} is shut down; its work is on its branch.")
        case MemberMerged(files=files):
            shown = ", ".join(files[:5]) + (f" and {len(files) - 5} more" if len(files) > 5 else "")
            said = f": {shown} (unstaged)" if files else " (it changed nothing)"
            return Notice(f"{who} is merged into your working directory{said}.")
        case MergeRefused():
            return Notice(f"Merging {who} would conflict: {text}", "Merge refused", "error")
        case CheckPassed(command=command):
            return Notice(f"{who}'s check passed ({command}).")
        case CheckFailed(command=command, outcome=outcome):
            said = outcome.replace("_", " ")
            return Notice(f"{who}'s check {said} ({command}); {who} was told.", "", "error")
        case MergeBlocked():
            why = text.splitlines()[0] if text else "its check or review did not pass"
            return Notice(f"{who} was not merged: {why}.", "", "error")
        case ReviewApproved(agent=agent):
            return Notice(f"The reviewer ({agent}) approved {who}'s branch.")
        case ReviewChangesRequested(agent=agent):
            return Notice(f"The reviewer ({agent}) asked {who} for changes: {text}", "", "warning")
        case ReviewNoVerdict():
            return Notice(f"The review of {who}'s branch gave no verdict: {text}", "", "warning")
        case TeamPaused():
            return Notice(f"The team is paused: {text}.", "Paused", "warning")
        case BudgetWarning():
            return Notice(text, "Budget", "warning")
        case BudgetReached():
            return Notice(f"{text}.", "Budget used up", "error")
        case TeamContinued(remaining=remaining):
            return Notice(f"The lead was told what remains: {', '.join(remaining)}.", "Until done")
        case ServerDisconnected():
            return Notice(f"Lost OpenCode ({text}); reconnecting…", "", "warning")
        case ServerConnected(reconnected=True):
            return Notice("Reconnected to OpenCode.")
        case TeamCleanedUp():
            return Notice(f"Team {text} is cleaned up.")
    return None
