"""Delivering messages and notices to a member's session, and dropping what came too late.

Messages and coordinator notices are saved first (store) and delivered second: all that
waits for a member goes in one prompt when its session is idle. A delivery is marked
done only after OpenCode accepted the prompt, so a crash in between delivers it again
(recovery checks the delivery markers first, so nothing arrives twice).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from ensemble_tui.core.models import Message, Team
from ensemble_tui.core.store.notices import Notice
from ensemble_tui.core.store.store import Store
from ensemble_tui.core.team.events import (
    DeliveryFailed,
    MessageDelivered,
    MessageUndeliverable,
    TeamEvent,
)
from ensemble_tui.core.team.prompts import delivery_text
from ensemble_tui.core.team.sessions import SessionState
from ensemble_tui.opencode.client import OpenCodeError

Prompt = Callable[[SessionState, str], Awaitable[None]]


class Delivery:
    """The team's post: notices and messages into members' sessions."""

    def __init__(
        self,
        store: Store,
        record: Callable[[TeamEvent], None],
        prompt: Prompt,
        team: Callable[[], Team | None],
        paused: Callable[[], bool] = lambda: False,
    ) -> None:
        self._store = store
        self._record = record
        self._prompt = prompt
        self._team = team
        self._paused = paused
        self.held: dict[str, str] = {}
        """Members that get no more prompts (a budget used up), with the reason."""
        self._sending: dict[str, asyncio.Lock] = {}
        """One delivery at a time per member: what one has read as waiting is marked
        delivered before another reads (two at once sent a message twice)."""

    def notify(self, member: str, notice: str) -> None:
        """Save a coordinator notice (not a member's message) for *member*'s next delivery."""
        team = self._team()
        if team is not None:
            self._store.add_notice(team.id, member, notice)

    async def deliver_pending(
        self,
        state: SessionState,
        *,
        even_if_busy: bool = False,
        before_sending: Callable[[], None] | None = None,
    ) -> None:
        """Deliver every waiting message and notice in one prompt, when the session is idle
        (or at once if *even_if_busy*: OpenCode queues it behind the running turn).
        *before_sending* is called just before the prompt goes out (nothing else awaits)."""
        lock = self._sending.setdefault(state.member, asyncio.Lock())
        async with lock:
            await self._deliver(state, even_if_busy=even_if_busy, before_sending=before_sending)

    async def _deliver(
        self,
        state: SessionState,
        *,
        even_if_busy: bool,
        before_sending: Callable[[], None] | None,
    ) -> None:
        team = self._team()
        if (not state.idle and not even_if_busy) or team is None:
            return
        if state.member in self.held:
            self.drop_undeliverable(state.member, self.held[state.member])
            return
        if self._paused() and not even_if_busy:
            # What waits is delivered when the pause is lifted (a stop request still goes).
            return
        with self._store.reading():  # one snapshot for the reads
            standing = self._store.member_standing(team.id, state.member)
            if standing is None or standing.status.ended:
                return
            if not self._store.anything_undelivered(team.id, state.member):
                return  # most turns end with nothing waiting: one statement, not two
            messages = self._store.list_undelivered(team.id, state.member)
            notices = self._store.undelivered_notices(team.id, state.member)
        if not messages and not notices:
            return
        if before_sending is not None:
            before_sending()
        try:
            await self._prompt(state, delivery_text(messages, notices))
        except OpenCodeError as error:
            self._record(DeliveryFailed(member=state.member, text=str(error)))
            return
        self.mark_delivered(state.member, messages, notices)

    def mark_delivered(
        self, recipient: str, messages: list[Message], notices: list[Notice]
    ) -> None:
        """Record deliveries as done (and tell the feed)."""
        self._store.mark_notices_delivered([notice.id for notice in notices])
        for message in messages:
            self._store.mark_delivered(message.id, recipient)
            self._record(
                MessageDelivered(sender=message.sender, recipient=recipient, message=message.id)
            )

    def drop_undeliverable(self, name: str, why: str | None = None) -> None:
        """Messages that arrived too late for a member that ends: kept in the feed and the
        store, recorded as never delivered to its session."""
        team = self._team()
        if team is None:
            return
        late = self._store.list_undelivered(team.id, name)
        notices = self._store.undelivered_notices(team.id, name)
        self._store.mark_notices_delivered([notice.id for notice in notices])
        for message in late:
            self._store.mark_delivered(message.id, name)
            self._record(
                MessageUndeliverable(
                    sender=message.sender,
                    recipient=name,
                    text=why or f"{name} stopped before reading it",
                    message=message.id,
                )
            )
