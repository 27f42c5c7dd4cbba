"""Budgets: the team's tokens, cost and time, and each teammate's tokens, kept in bounds.

The figures are the ones the coordinator already keeps (each step's tokens and cost,
summed per member in the store, and the team's creation time). At 80% of a budget the
lead and the human are warned once; at 100% the team is paused (every turn stopped, every
teammate's work committed, the report written) or, for a teammate's own budget, that
teammate gets no more prompts, its turn is stopped and its work committed, and the lead
is told.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from ensemble_tui.core.git.commands import GitError
from ensemble_tui.core.models import LEAD_NAME, Member, Team, utc_now
from ensemble_tui.core.team.coordinator import Coordinator
from ensemble_tui.core.team.events import BudgetReached, BudgetWarning
from ensemble_tui.core.team.report import write_report
from ensemble_tui.opencode.client import OpenCodeError

log = logging.getLogger(__name__)

WARN_AT = 0.8
CHECK_EVERY = 0.25
BUDGET_CAUSE = "budget"


@dataclass(frozen=True)
class Spend:
    """One budget's figure now."""

    budget: str
    """tokens, cost, time or member_tokens."""
    used: float
    limit: float
    member: str | None = None

    def describe(self) -> str:
        if self.budget == "cost":
            return f"${self.used:.2f} of the ${self.limit:.2f} cost budget"
        if self.budget == "time":
            return f"{self.used:.0f}s of the {self.limit:.0f}s time budget"
        whose = f"{self.member}'s" if self.member else "the team's"
        return f"{self.used:,.0f} of {whose} {self.limit:,.0f}-token budget"


def _tokens(member: Member) -> int:
    return member.input_tokens + member.output_tokens + member.reasoning_tokens


def spends(coordinator: Coordinator, team: Team) -> list[Spend]:
    """Every budget that is set, with what is used of it."""
    settings = coordinator.settings
    members = coordinator.store.list_members(team.id)
    found = []
    if settings.budget_tokens is not None:
        used = sum(_tokens(m) for m in members)
        found.append(Spend("tokens", used, settings.budget_tokens))
    if settings.budget_cost is not None:
        found.append(Spend("cost", sum(m.cost for m in members), settings.budget_cost))
    if settings.budget_time is not None:
        elapsed = (utc_now() - team.created).total_seconds()
        found.append(Spend("time", elapsed, settings.budget_time))
    if settings.member_budget_tokens is not None:
        for member in members:
            if member.name != LEAD_NAME and not member.status.ended:
                limit = settings.member_budget_tokens
                found.append(Spend("member_tokens", _tokens(member), limit, member.name))
    return found


class Budgets:
    """Watches the team's spending on a timer; one warning and one stop per budget."""

    def __init__(self, coordinator: Coordinator) -> None:
        self.coordinator = coordinator
        self._warned: set[tuple[int, str, str | None]] = set()
        self._reached: set[tuple[int, str, str | None]] = set()

    async def run(self) -> None:
        """Check forever (cancel to stop)."""
        while True:
            await asyncio.sleep(CHECK_EVERY)
            try:
                await self.check()
            except Exception:
                log.exception("the budget check failed; it keeps watching")

    async def check(self) -> None:
        """One round: warn at 80%, stop at 100%."""
        team = self.coordinator.team
        if team is None:
            return
        for spend in spends(self.coordinator, team):
            key = (team.id, spend.budget, spend.member)
            # An operation in flight, so the team is not "settled" halfway through a stop.
            if spend.used >= spend.limit and key not in self._reached:
                self._reached.add(key)
                self._warned.add(key)
                async with self.coordinator.operation():
                    if spend.member is None:
                        await self._stop_team(team, spend)
                    else:
                        await self._stop_member(team, spend.member, spend)
            elif spend.used >= WARN_AT * spend.limit and key not in self._warned:
                self._warned.add(key)
                async with self.coordinator.operation():
                    await self._warn(spend)

    async def _warn(self, spend: Spend) -> None:
        said = f"{spend.describe()} is used."
        self.coordinator.record(
            BudgetWarning(
                member=spend.member,
                text=said,
                budget=spend.budget,
                used=spend.used,
                limit=spend.limit,
            )
        )
        self.coordinator.delivery.notify(
            LEAD_NAME, f"Budget warning: {said} Finish what matters most first."
        )
        lead = self.coordinator.lead
        if lead is not None:
            # At once if the lead is idle (else with its turn's end), so nothing waits on it.
            await self.coordinator.delivery.deliver_pending(lead)

    def _reached_event(self, spend: Spend, said: str) -> BudgetReached:
        return BudgetReached(
            member=spend.member, text=said, budget=spend.budget, used=spend.used, limit=spend.limit
        )

    async def _stop_team(self, team: Team, spend: Spend) -> None:
        coordinator = self.coordinator
        said = f"{spend.describe()} is used up"
        coordinator.pause(f"{said}: the team gets no more prompts", BUDGET_CAUSE)
        coordinator.record(self._reached_event(spend, said))
        for state in coordinator.sessions:
            if not state.idle:
                await self._abort(state.session_id, state.directory, state.member)
        for member in coordinator.store.list_members(team.id):
            await self._commit(member, "budget")
        await write_report(coordinator, team, f"paused: {said}")

    async def _stop_member(self, team: Team, name: str, spend: Spend) -> None:
        coordinator = self.coordinator
        said = f"{spend.describe()} is used up"
        coordinator.delivery.held[name] = f"{name} gets no more prompts: {said}"
        coordinator.record(self._reached_event(spend, said))
        state = coordinator.session_of(name)
        if state is not None and not state.idle:
            await self._abort(state.session_id, state.directory, name)
        member = coordinator.store.get_member(team.id, name)
        branch = ""
        if member is not None:
            await self._commit(member, "budget")
            branch = f"; its work is committed on {member.branch}" if member.branch else ""
        coordinator.delivery.notify(
            LEAD_NAME,
            f"{name} reached its token budget ({spend.describe()}): it gets no more "
            f"prompts and its turn was stopped{branch}. Merge or shut it down.",
        )
        lead = coordinator.lead
        if lead is not None:
            await coordinator.delivery.deliver_pending(lead)

    async def _abort(self, session_id: str, directory: str, name: str) -> None:
        try:
            folder = self.coordinator.session_folder(directory)
            await self.coordinator.client.abort(session_id, folder)
        except OpenCodeError as error:
            log.warning("could not stop %s's turn: %s", name, error)

    async def _commit(self, member: Member, reason: str) -> None:
        try:
            await self.coordinator.commit_member_work(member, reason)
        except GitError as error:
            log.warning("could not commit %s's work: %s", member.name, error)
