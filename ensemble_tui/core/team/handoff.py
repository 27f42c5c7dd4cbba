"""Handing a member's work on: to another agent, to a fresh session, or past a summary.

Three modes, as the opencode-sessions plugin has them:
- `message`: the same conversation goes on; its next turn (and the ones after) run as
  another agent;
- `new`: a fresh session in the same directory starts with the caller's hand-off note;
  the old one is kept in the member's history;
- `compact`: OpenCode summarizes the conversation, then it goes on with the text.

A member that asks to hand itself off is in the middle of its own turn, so the hand-off
waits for that turn to end (a tool call that waited for its own session to go idle would
never return); an idle member is handed off at once. The team's log keeps what waits
(`handoff.queued` with its text), so a restart before that turn ends carries it out still.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from ensemble_tui.core.errors import Refused
from ensemble_tui.core.models import LEAD_NAME, Member, MemberUpdate, Team
from ensemble_tui.core.team.coordinator import Coordinator
from ensemble_tui.core.team.events import HandoffDone, HandoffQueued, MemberErrored, TeamEvent
from ensemble_tui.core.team.prompts import handoff_note, teammate_context
from ensemble_tui.core.team.sessions import SessionState
from ensemble_tui.core.team.spawn import check_agent_and_model, permission_rules
from ensemble_tui.opencode.client import OpenCodeError

FAILED = "hand-off failed"


class HandoffMode(StrEnum):
    """How the work goes on."""

    MESSAGE = "message"
    NEW = "new"
    COMPACT = "compact"


@dataclass(frozen=True)
class Handoff:
    """Hand *member*'s work on in *mode*, starting with *text*; *sender* asked for it."""

    member: str
    mode: HandoffMode
    text: str
    agent: str | None = None
    sender: str = "the user"


async def hand_off(coordinator: Coordinator, team: Team, handoff: Handoff) -> str:
    """Check the hand-off, then do it now (an idle member) or when the member's turn ends."""
    member = coordinator.require_member(handoff.member)
    if member.status.ended:
        raise Refused(f"{member.name} has {member.status.value}; there is nothing to hand off.")
    state = coordinator.session_of(member.name)
    if state is None:
        raise Refused(f"{member.name} has no session to hand off (yet).")
    if not handoff.text.strip():
        raise Refused("A hand-off needs a text: the prompt (or note) the next turn starts with.")
    if handoff.mode is HandoffMode.MESSAGE and handoff.agent is None:
        raise Refused("A 'message' hand-off passes the conversation to another agent: name it.")
    if handoff.agent is not None:
        await check_agent_and_model(coordinator, handoff.agent, None)
    if handoff.mode is HandoffMode.COMPACT and state.model is None:
        raise Refused(
            f"{member.name}'s model is not known yet, so its conversation cannot be "
            "summarized; try again after its first turn."
        )
    if coordinator.waiting_after_turn(member.name):
        raise Refused(f"{member.name} already has a hand-off waiting for its turn to end.")
    agent = handoff.agent or state.agent
    if state.idle:
        async with coordinator.operation():
            await carry_out(coordinator, team, handoff, state)
        return _said(handoff, agent, "done")
    coordinator.after_turn(member.name, lambda ended: carry_out(coordinator, team, handoff, ended))
    coordinator.record(
        HandoffQueued(
            member=member.name,
            mode=handoff.mode.value,
            agent=handoff.agent,
            text=handoff.text,
            sender=handoff.sender,
        )
    )
    return _said(handoff, agent, "queued")


def waiting_handoffs(history: Iterable[TeamEvent]) -> list[Handoff]:
    """The hand-offs a team's log shows queued and not yet done or failed: what a restart
    before the member's turn ended would otherwise drop."""
    waiting: dict[str, Handoff] = {}
    for event in history:
        if isinstance(event, HandoffQueued) and event.member:
            try:
                mode = HandoffMode(event.mode)
            except ValueError:
                continue
            waiting[event.member] = Handoff(
                event.member, mode, event.text or "", event.agent, event.sender or "the user"
            )
        elif isinstance(event, HandoffDone) or (
            isinstance(event, MemberErrored) and (event.text or "").startswith(FAILED)
        ):
            waiting.pop(event.member or "", None)
    return list(waiting.values())


def _said(handoff: Handoff, agent: str, when: str) -> str:
    what = {
        HandoffMode.MESSAGE: f"the conversation goes on as agent {agent}",
        HandoffMode.NEW: f"a fresh session (agent {agent}) starts with your note",
        HandoffMode.COMPACT: f"the conversation is summarized and goes on as agent {agent}",
    }[handoff.mode]
    if when == "done":
        return f"Handed off {handoff.member}: {what}."
    return f"Hand-off of {handoff.member} queued: when the current turn ends, {what}."


async def carry_out(
    coordinator: Coordinator, team: Team, handoff: Handoff, state: SessionState
) -> None:
    """Do the hand-off on an idle session; a failure is told as the member's error."""
    try:
        session_id = await _carry_out(coordinator, team, handoff, state)
    except (OpenCodeError, Refused) as error:
        coordinator.record(MemberErrored(member=handoff.member, text=f"{FAILED}: {error}"))
        return
    coordinator.record(
        HandoffDone(
            member=handoff.member,
            mode=handoff.mode.value,
            agent=handoff.agent,
            session=session_id,
        )
    )


async def _carry_out(
    coordinator: Coordinator, team: Team, handoff: Handoff, state: SessionState
) -> str | None:
    if handoff.agent is not None:
        state.agent = handoff.agent
        coordinator.update_member(handoff.member, MemberUpdate(agent=handoff.agent))
    if handoff.mode is HandoffMode.MESSAGE:
        await coordinator.prompt(state, handoff.text)
        return None
    if handoff.mode is HandoffMode.COMPACT:
        assert state.model is not None
        await coordinator.client.summarize(state.session_id, state.directory, state.model)
        # The session.compacted event says so too; this holds even if it comes late.
        state.needs_context = True
        await coordinator.prompt(state, handoff.text)
        return None
    fresh = await _fresh_session(coordinator, team, state, handoff.sender)
    await coordinator.prompt(fresh, _note(coordinator, team, handoff))
    return fresh.session_id


def _note(coordinator: Coordinator, team: Team, handoff: Handoff) -> str:
    note = handoff_note(handoff.sender, handoff.text)
    member = coordinator.member(handoff.member)
    if handoff.member == LEAD_NAME or member is None:
        return note
    names = [m.name for m in coordinator.members()]
    return f"{teammate_context(member, team.name, names)}\n\n{note}"


async def _fresh_session(
    coordinator: Coordinator, team: Team, old: SessionState, sender: str
) -> SessionState:
    """A new session for the member in the same directory; the old one goes to its history."""
    member: Member = coordinator.require_member(old.member)
    is_lead = member.name == LEAD_NAME
    rules = None
    if not is_lead and member.worktree_path is not None:
        rules = permission_rules(
            member.worktree_path,
            coordinator.repo_root,
            read_only=member.read_only or member.plan_approval,
        )
    lead = coordinator.lead
    session = await coordinator.client.create_session(
        old.directory,
        title=f"{member.name} ({team.name}, after a hand-off from {sender})",
        parent_id=lead.session_id if lead is not None and not is_lead else None,
        permission=rules,
    )
    coordinator.store.replace_session(
        team.id, member.name, session.id, agent=old.agent, reason=f"hand-off from {sender}"
    )
    if is_lead:
        refreshed = coordinator.store.get_team(team.id)
        if refreshed is not None:
            coordinator.set_team(refreshed)
    coordinator.tokens.revoke_member(member.name)
    token = coordinator.issue_token(member.name, session.id, is_lead=is_lead)
    await coordinator.register_tools(old.directory, token)
    coordinator.untrack(old.session_id)
    fresh = SessionState(member.name, session.id, old.directory, old.agent, old.model)
    coordinator.track(fresh)
    return fresh
