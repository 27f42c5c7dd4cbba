"""Delivering messages and notices, and ending a member: the coordinator's desk work.

Mixed into `Coordinator`; kept apart so each module reads on its own.
"""

from __future__ import annotations

import asyncio
import logging

from ensemble_tui.core.feed import Feed
from ensemble_tui.core.gitutil import GitError
from ensemble_tui.core.models import Member, MemberStatus, MemberUpdate, Message, Team
from ensemble_tui.core.prompts import delivery_text
from ensemble_tui.core.sessions import SessionState
from ensemble_tui.core.store import Store
from ensemble_tui.core.store_notices import Notice
from ensemble_tui.core.taskboard import TaskBoard
from ensemble_tui.core.worktrees import commit_work_in_progress, wip_message
from ensemble_tui.opencode.client import OpenCodeError

log = logging.getLogger(__name__)


class DeliveryMixin:
    """Notices, deliveries and the end of a member, for a class that has a team."""

    team: Team | None
    store: Store
    board: TaskBoard
    feed: Feed

    async def prompt(self, state: SessionState, text: str, *, system: str | None = None) -> None:
        raise NotImplementedError

    # Ending

    async def commit_member_work(self, member: Member, reason: str) -> str | None:
        """Commit a teammate's uncommitted changes to its branch (None if there were none)."""
        path = member.worktree_path
        if path is None or member.branch is None or not path.exists():
            return None
        message = wip_message(member.name, reason)
        return await asyncio.to_thread(commit_work_in_progress, path, message)

    async def finish_shutdown(self, member: Member, reason: str) -> None:
        """Mark a stopped teammate shut down: commit its work, release its tasks."""
        assert self.team is not None
        try:
            await self.commit_member_work(member, reason)
        except GitError as error:
            log.warning("could not commit %s's work: %s", member.name, error)
        self._drop_undeliverable(member.name)
        released = self.board.release_member_tasks(self.team.id, member.name)
        update = MemberUpdate(status=MemberStatus.SHUT_DOWN, shutdown_requested=False)
        self.store.update_member(self.team.id, member.name, update)
        detail = {"reason": reason, "released": [task.id for task in released]}
        self.store.append_event(self.team.id, "member.shut_down", member.name, detail)
        self.feed.publish("member.shut_down", member=member.name, text=reason, detail=detail)

    def _drop_undeliverable(self, name: str) -> None:
        """Messages that arrived too late for a member that stops: kept in the feed and the
        store, recorded as never delivered to its session."""
        assert self.team is not None
        late = self.store.list_undelivered(self.team.id, name)
        notices = self.store.undelivered_notices(self.team.id, name)
        self.store.mark_notices_delivered([notice.id for notice in notices])
        for message in late:
            self.store.mark_delivered(message.id, name)
            self.feed.publish(
                "message.undeliverable",
                sender=message.sender,
                recipient=name,
                text=f"{name} stopped before reading it",
                detail={"message": message.id},
            )

    def notify(self, member: str, notice: str) -> None:
        """Save a coordinator notice (not a member's message) for *member*'s next delivery."""
        if self.team is not None:
            self.store.add_notice(self.team.id, member, notice)

    async def deliver_pending(self, state: SessionState, *, even_if_busy: bool = False) -> None:
        """Deliver every waiting message and notice in one prompt, when the session is idle
        (or at once if *even_if_busy*: OpenCode queues it behind the running turn)."""
        if (not state.idle and not even_if_busy) or self.team is None:
            return
        member = self.store.get_member(self.team.id, state.member)
        if member is None or member.status.ended:
            return
        messages = self.store.list_undelivered(self.team.id, state.member)
        notices = self.store.undelivered_notices(self.team.id, state.member)
        if not messages and not notices:
            return
        try:
            await self.prompt(state, delivery_text(messages, notices))
        except OpenCodeError as error:
            self.feed.publish("delivery.failed", member=state.member, text=str(error))
            return
        self.mark_delivered(state.member, messages, notices)

    def mark_delivered(
        self, recipient: str, messages: list[Message], notices: list[Notice]
    ) -> None:
        """Record deliveries as done (and tell the feed)."""
        self.store.mark_notices_delivered([notice.id for notice in notices])
        for message in messages:
            self.store.mark_delivered(message.id, recipient)
            self.feed.publish(
                "message.delivered",
                sender=message.sender,
                recipient=recipient,
                detail={"message": message.id},
            )
