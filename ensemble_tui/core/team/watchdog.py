"""The watchdog: teammates that go quiet are nudged, then stopped with their work kept.

Quiet means no new part, tool event or streamed text since `last_activity` (a prompt
sent counts as activity). After `stall_threshold` seconds a working teammate is
marked stalled, nudged once and the lead is told; after `timeout` seconds its work
is committed to its branch, its session aborted, its tasks released, and it is marked
timed-out. A teammate waiting for the human (a permission or a question) is not quiet.
"""

from __future__ import annotations

import asyncio
import logging
import time

from ensemble_tui.core.git.commands import GitError
from ensemble_tui.core.models import LEAD_NAME, MemberStatus
from ensemble_tui.core.team.coordinator import Coordinator
from ensemble_tui.core.team.events import MemberStalled, MemberTimedOut
from ensemble_tui.core.team.sessions import SessionState
from ensemble_tui.opencode.client import OpenCodeError

log = logging.getLogger(__name__)


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 120 else f"{seconds:.0f} s"


class Watchdog:
    """Checks every teammate's activity on a timer."""

    def __init__(self, coordinator: Coordinator) -> None:
        self.coordinator = coordinator

    @property
    def interval(self) -> float:
        settings = self.coordinator.settings
        return max(0.2, min(1.0, settings.stall_threshold / 4))

    async def run(self) -> None:
        """Check forever (cancel to stop)."""
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.check()
            except Exception:
                log.exception("the watchdog failed; it keeps watching")

    async def check(self) -> None:
        """One round: mark the stalled, stop the timed out."""
        team = self.coordinator.team
        if team is None:
            return
        settings = self.coordinator.settings
        now = time.monotonic()
        for state in self.coordinator.sessions:
            if state.member == LEAD_NAME or state.idle or state.permissions or state.questions:
                continue
            member = self.coordinator.store.get_member(team.id, state.member)
            if member is None or member.status.ended:
                continue
            quiet = now - state.last_activity
            if quiet >= settings.timeout:
                await self.time_out(state, quiet)
            elif quiet >= settings.stall_threshold and not state.stalled and state.produced_output:
                # Before its first output a teammate is starting, not stalled.
                await self.mark_stalled(state, quiet)

    async def mark_stalled(self, state: SessionState, quiet: float) -> None:
        """Mark a quiet teammate stalled, nudge it once, and tell the lead."""
        coordinator = self.coordinator
        state.stalled = True
        coordinator.record_status(state)
        coordinator.record(MemberStalled(member=state.member, text=f"quiet for {_minutes(quiet)}"))
        coordinator.delivery.notify(
            state.member,
            f"You have shown no activity for {_minutes(quiet)}. If you are stuck, tell the "
            "lead with team_message what blocks you; otherwise carry on.",
        )
        await coordinator.delivery.deliver_pending(state, even_if_busy=True)
        # The nudge is a prompt, which counts as activity; keep the clock of the silence.
        state.last_activity -= quiet
        state.stalled = True
        coordinator.delivery.notify(
            LEAD_NAME, f"{state.member} looks stalled: no activity for {_minutes(quiet)}."
        )
        lead = coordinator.lead
        if lead is not None:
            await coordinator.delivery.deliver_pending(lead)

    async def time_out(self, state: SessionState, quiet: float) -> None:
        """Stop a teammate that stayed quiet too long, keeping its work on its branch."""
        coordinator = self.coordinator
        team = coordinator.team
        assert team is not None
        member = coordinator.store.get_member(team.id, state.member)
        assert member is not None
        try:
            await coordinator.commit_member_work(member, "timed out")
        except GitError as error:
            log.warning("could not commit %s's work before the timeout: %s", member.name, error)
        try:
            await coordinator.client.abort(
                state.session_id, coordinator.session_folder(state.directory)
            )
        except OpenCodeError as error:
            log.warning("abort of %s failed: %s", member.name, error)
        else:
            state.turn_aborted()
        released = coordinator.end_member(
            member, MemberStatus.TIMED_OUT, error=f"no activity for {_minutes(quiet)}"
        )
        coordinator.record(
            MemberTimedOut(
                member=member.name,
                text=f"quiet for {_minutes(quiet)}",
                branch=member.branch,
                released=released,
            )
        )
        tasks = ", ".join(released) or "none"
        coordinator.delivery.notify(
            LEAD_NAME,
            f"{member.name} timed out after {_minutes(quiet)} without activity; its work is "
            f"committed on {member.branch or 'no branch'}; released tasks: {tasks}.",
        )
        lead = coordinator.lead
        if lead is not None:
            await coordinator.delivery.deliver_pending(lead)
