"""Which team events deserve a toast, and what it says."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ensemble_tui.core.feed import FeedEvent
from ensemble_tui.core.models import LEAD_NAME

Severity = Literal["information", "warning", "error"]

# Statuses a teammate can fall into that the human should hear about.
ALARMING = {"stalled", "timed-out", "rate-limited"}


@dataclass(frozen=True)
class Notice:
    text: str
    title: str = ""
    severity: Severity = "information"


def notice_for(event: FeedEvent) -> Notice | None:
    """The toast for a live feed event, or None for the ones the panes show well enough."""
    who = event.member or ""
    text = (event.text or "").strip()
    match event.type:
        case "team.created":
            return Notice(f"Team {text} created.")
        case "member.spawned":
            return Notice(f"{who} joined the team ({event.detail.get('branch') or 'read-only'}).")
        case "member.spawn_failed":
            return Notice(f"Could not spawn {who}: {text}", "Spawn failed", "error")
        case "member.idle" if event.detail.get("stopped_by") == "human":
            return Notice(f"{who}'s turn was stopped by you.")
        case "member.idle" if who != LEAD_NAME:
            return Notice(f"{who} finished its turn.")
        case "member.error":
            return Notice(f"{who}: {text}", f"{who} failed", "error")
        case "member.status" if text in ALARMING:
            return Notice(f"{who} is {text}.", "", "warning")
        case "member.stalled":
            return Notice(f"{who} looks stalled ({text}); it was nudged.", "Stalled", "warning")
        case "member.timed_out":
            return Notice(f"{who} timed out ({text}); its work is on its branch.", "", "error")
        case "member.lost":
            return Notice(f"{who}: {text}", f"{who} is lost", "error")
        case "team.resumed":
            return Notice(f"Team {text} resumed where it stopped.")
        case "permission.asked":
            patterns = ", ".join(event.detail.get("patterns") or [])
            return Notice(f"{who} asks to use {text}: {patterns}", "Needs you", "warning")
        case "question.asked":
            return Notice(f"{who} asks: {text}", "Needs you", "warning")
        case "member.shut_down":
            return Notice(f"{who} is shut down; its work is on its branch.")
        case "member.merged":
            return Notice(f"{who} is merged into your working directory.")
        case "merge.refused":
            return Notice(f"Merging {who} would conflict: {text}", "Merge refused", "error")
        case "server.disconnected":
            return Notice(f"Lost OpenCode ({text}); reconnecting…", "", "warning")
        case "server.connected" if event.detail.get("reconnected"):
            return Notice("Reconnected to OpenCode.")
        case "team.cleaned_up":
            return Notice(f"Team {text} is cleaned up.")
    return None
