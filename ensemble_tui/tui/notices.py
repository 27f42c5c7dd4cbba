"""Which team events deserve a toast, and what it says."""

from __future__ import annotations

import time
from collections.abc import Callable
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
    """The member whose turn ended, for a notice that says only that (see `EndedTurns`)."""


# Names a notice of ended turns lists before "and N more".
NAMES_SHOWN = 4
# Ended turns are told at most this often (seconds): ten teammates streaming end dozens
# of turns a second, and a toast each would bury the screen (and cost it a mount each).
TURNS_TOLD_EVERY = 2.0


def ended_turns_notice(names: list[str]) -> Notice:
    """One notice for the turns of *names* that ended (as before for a single one)."""
    if len(names) == 1:
        return Notice(f"{names[0]} finished its turn.")
    shown = names if len(names) <= NAMES_SHOWN else names[: NAMES_SHOWN - 1]
    more = len(names) - len(shown)
    if more:
        listed = ", ".join(shown) + f" and {more} more"
    else:
        listed = ", ".join(shown[:-1]) + f" and {shown[-1]}"
    return Notice(f"{listed} finished their turns.")


class EndedTurns:
    """The members whose turn ended and who have not been told yet, told together at
    most every TURNS_TOLD_EVERY seconds."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.names: list[str] = []
        self.told_at = -TURNS_TOLD_EVERY

    def add(self, name: str) -> None:
        if name not in self.names:
            self.names.append(name)

    def wait(self) -> float | None:
        """Seconds until the names may be told (0: now); None when there are none."""
        if not self.names:
            return None
        return max(0.0, self.told_at + TURNS_TOLD_EVERY - self.clock())

    def take(self) -> Notice | None:
        """The notice to show now (the names are then told), or None."""
        if not self.names:
            return None
        notice = ended_turns_notice(self.names)
        self.names = []
        self.told_at = self.clock()
        return notice


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
