"""Picking a team up again: after a crash of ours, or a restart of the OpenCode server.

The store is the truth of what the team is; OpenCode, `git worktree list` and the
branches are checked against it:
- a member whose session still exists is tracked again, with fresh team tools;
- a member whose session is gone is marked so, its branch kept;
- a spawn that a crash cut short is undone;
- a delivery whose marker is in the session already arrived and is not sent again;
- a member that was working when we (or the server) went down is told that its team tools
  are back, that a team tool call that failed meanwhile must be repeated, and to continue.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

from ensemble_tui.core.errors import Refused
from ensemble_tui.core.git.commands import GitError
from ensemble_tui.core.git.worktrees import WorktreeInfo, remove_worktree
from ensemble_tui.core.models import LEAD_NAME, Member, MemberStatus, MemberUpdate, Team
from ensemble_tui.core.team.coordinator import MCP_SERVER_NAME, Coordinator
from ensemble_tui.core.team.events import (
    MemberLost,
    MemberSpawnFailed,
    ServerRestarted,
    TeamEvent,
    TeamResumed,
    ToolsReconnected,
    from_record,
)
from ensemble_tui.core.team.handoff import hand_off, waiting_handoffs
from ensemble_tui.core.team.prompts import delivered_tokens
from ensemble_tui.core.team.sessions import STALE_IDLE_GRACE, SessionState
from ensemble_tui.opencode.client import OpenCodeError
from ensemble_tui.opencode.models import BusyStatus, ModelRef, RetryStatus, TextPart

log = logging.getLogger(__name__)

# Statuses that mean a turn was running when we stopped watching.
WAS_WORKING = (
    MemberStatus.STARTING,
    MemberStatus.WORKING,
    MemberStatus.STALLED,
    MemberStatus.RATE_LIMITED,
    MemberStatus.NEEDS_PERMISSION,
    MemberStatus.NEEDS_ANSWER,
)


def reconnected_notice(restarted: str) -> str:
    """What a member that was working is told once its team tools are back."""
    return (
        f"{restarted} restarted while you were working, so your team tools (ensemble_*) were "
        "disconnected for a moment; they are reconnected now. A team tool call that failed "
        'meanwhile (for example with "Not connected") did not happen: repeat it. One that '
        "was interrupted may have happened: look first (team_status, team_tasks_list, "
        "team_results) and repeat it only if it did not, so that no message goes twice. "
        "Then continue your task where you left off (check what is already done first)."
    )


async def resume_team(coordinator: Coordinator, team: Team) -> list[str]:
    """Track an unfinished team again; returns a line per member saying what was found."""
    coordinator.set_team(team)
    history = _history(coordinator, team)
    coordinator.feed.remember(history)
    notes: list[str] = []
    was_working: set[str] = set()
    for member in coordinator.store.list_members(team.id):
        if member.status.ended:
            continue
        note = await _track_member(coordinator, team, member)
        if note is not None:
            notes.append(note)
        elif member.status in WAS_WORKING:
            was_working.add(member.name)
    await reconcile(coordinator, cut_short=was_working, restarted="ensemble-tui")
    notes += await coordinator.reviews.resume(team)
    for handoff in waiting_handoffs(history):
        try:
            await hand_off(coordinator, team, handoff)
        except Refused as refusal:
            notes.append(f"{handoff.member}: its waiting hand-off was dropped: {refusal}")
    coordinator.record(TeamResumed(member=LEAD_NAME, text=team.name, notes=notes))
    return notes


async def _track_member(coordinator: Coordinator, team: Team, member: Member) -> str | None:
    """Track one member again; a note if it could not be (spawn undone, session gone)."""
    store = coordinator.store
    if member.name == LEAD_NAME:
        session_id, directory = team.lead_session_id, str(coordinator.repo_root)
    elif member.session_id is None or member.worktree_path is None:
        return await _undo_interrupted_spawn(coordinator, team, member)
    else:
        session_id, directory = member.session_id, str(member.worktree_path)
    try:
        await coordinator.client.get_session(session_id, coordinator.session_folder(directory))
    except OpenCodeError as error:
        if error.status != 404:
            raise
        reason = "its OpenCode session is gone; its branch is kept"
        store.update_member(
            team.id, member.name, MemberUpdate(status=MemberStatus.ERROR, error=reason)
        )
        coordinator.record(MemberLost(member=member.name, text=reason))
        return f"{member.name}: {reason}"
    if member.name != LEAD_NAME and not await asyncio.to_thread(Path(directory).is_dir):
        reason = f"its worktree {directory} is gone; its branch {member.branch} is kept"
        store.update_member(
            team.id, member.name, MemberUpdate(status=MemberStatus.ERROR, error=reason)
        )
        coordinator.record(MemberLost(member=member.name, text=reason))
        return f"{member.name}: {reason}"
    model = ModelRef.parse(member.model) if member.model else None
    state = SessionState(member.name, session_id, directory, member.agent, model)
    coordinator.track(state)
    token = coordinator.issue_token(member.name, session_id, is_lead=member.name == LEAD_NAME)
    await coordinator.register_tools(directory, token)
    return None


async def _undo_interrupted_spawn(coordinator: Coordinator, team: Team, member: Member) -> str:
    """A crash during a spawn: remove what it made (its branch has no work yet)."""
    if member.worktree_path is not None and member.base_commit is not None:
        info = WorktreeInfo(team.name, member.name, member.worktree_path, member.base_commit)
        # Its first turn may have begun before the crash (see `Coordinator.drop_instance`).
        await coordinator.drop_instance(member.worktree_path)
        try:
            await asyncio.to_thread(remove_worktree, coordinator.repo_root, info, merged=True)
        except GitError as error:
            log.warning("kept the worktree of the interrupted spawn of %s: %s", member.name, error)
    try:
        coordinator.store.delete_member(team.id, member.name)
    except Exception:
        update = MemberUpdate(status=MemberStatus.SHUT_DOWN, error="spawn interrupted")
        coordinator.store.update_member(team.id, member.name, update)
    coordinator.record(MemberSpawnFailed(member=member.name, text="interrupted by a crash"))
    coordinator.delivery.notify(
        LEAD_NAME,
        f"The spawn of {member.name} was interrupted by a restart and has been undone; "
        "spawn it again if it is still needed.",
    )
    return f"{member.name}: its spawn was interrupted and has been undone"


def sessions_on(coordinator: Coordinator, server: int | None) -> list[SessionState]:
    """The tracked sessions on OpenCode server number *server* (None: all of them)."""
    sessions = coordinator.sessions
    if server is None:
        return sessions
    return [state for state in sessions if coordinator.client.server_of(state.directory) == server]


async def reconcile(
    coordinator: Coordinator,
    *,
    cut_short: set[str],
    restarted: str = "OpenCode",
    server: int | None = None,
) -> None:
    """Bring tracked sessions in line with the server: statuses, requests, deliveries
    (those of server number *server* only, when given).

    *cut_short* names members that were working when *restarted* went down: each is told
    (at once, queued behind a turn still running) that its team tools are back and that a
    team tool call that failed meanwhile must be repeated.
    """
    sessions = sessions_on(coordinator, server)
    by_directory: dict[str, list[SessionState]] = {}
    for state in sessions:
        by_directory.setdefault(coordinator.session_folder(state.directory), []).append(state)
    for directory, states in by_directory.items():
        before = {state.session_id: state.status_events for state in states}
        statuses = await coordinator.client.statuses(directory)
        permissions = await coordinator.client.permissions(directory)
        questions = await coordinator.client.questions(directory)
        for state in states:
            if state.status_events == before[state.session_id]:
                status = statuses.get(state.session_id)
                state.busy = isinstance(status, BusyStatus | RetryStatus)
                # A prompt sent a moment ago may not have made the session busy yet.
                just_sent = time.monotonic() - state.sent_at < STALE_IDLE_GRACE
                state.awaiting_turn = state.awaiting_turn and just_sent and not state.busy
            # Else the stream applied a status while these were read (a turn that ended
            # meanwhile): the status read is the older one, and setting it would leave the
            # session busy with no event to come, its messages never delivered.
            state.permissions = {p.id: p for p in permissions if p.session_id == state.session_id}
            state.questions = {q.id: q for q in questions if q.session_id == state.session_id}
    for state in sessions:
        await _confirm_deliveries(coordinator, state)
        told = state.member in cut_short
        if told and await _resend_lost_first_prompt(coordinator, state):
            told = False
        if told:
            coordinator.delivery.notify(state.member, reconnected_notice(restarted))
            coordinator.record(ToolsReconnected(member=state.member, busy=not state.idle))
        coordinator.record_status(state)
        # A turn still running may have lost a team tool call: it hears so when it ends.
        await coordinator.delivery.deliver_pending(state, even_if_busy=told)


async def _resend_lost_first_prompt(coordinator: Coordinator, state: SessionState) -> bool:
    """A teammate whose session does not hold its first prompt: OpenCode answered it and
    went down before writing it, or after writing the message but before its text (an empty
    user message). Send it again; True if it was.

    Whether the prompt arrived is read from the session's own messages, never from the
    stored status: when OpenCode is killed, the event stream may store the teammate idle
    before the restart is noticed, and a teammate still "starting" was then taken for one
    that had its prompt (seen under load: bob got only the restart notice, t2 stayed
    pending). Only members cut short are asked, so a restart costs one read per member."""
    member = coordinator.member(state.member)
    if member is None or member.name == LEAD_NAME or not member.first_prompt or not state.idle:
        return False
    folder = coordinator.session_folder(state.directory)
    transcript = await coordinator.client.messages(state.session_id, folder)
    first = member.first_prompt.strip()
    if any(
        isinstance(part, TextPart) and first in part.text
        for entry in transcript
        if entry.info.role == "user"
        for part in entry.parts
    ):
        return False
    log.warning("%s's first prompt never reached its session; sending it again", member.name)
    await coordinator.prompt(state, member.first_prompt)
    return True


async def _confirm_deliveries(coordinator: Coordinator, state: SessionState) -> None:
    """Mark as delivered what the session's messages show already arrived."""
    team = coordinator.team
    if team is None:
        return
    messages = coordinator.store.list_undelivered(team.id, state.member)
    notices = coordinator.store.undelivered_notices(team.id, state.member)
    if not messages and not notices:
        return
    folder = coordinator.session_folder(state.directory)
    transcript = await coordinator.client.messages(state.session_id, folder)
    seen: set[str] = set()
    for entry in transcript:
        if entry.info.role == "user":
            for part in entry.parts:
                if isinstance(part, TextPart):
                    seen |= delivered_tokens(part.text)
    arrived = [m for m in messages if f"m{m.id}" in seen]
    arrived_notices = [n for n in notices if f"n{n.id}" in seen]
    coordinator.delivery.mark_delivered(state.member, arrived, arrived_notices)


async def after_reconnect(coordinator: Coordinator, server: int | None = None) -> None:
    """After the event stream of server number *server* came back (None: every server's):
    reconcile with that server, which may have restarted (then our team tools are gone
    there and every turn that was running on it was cut short)."""
    sessions = sessions_on(coordinator, server)
    restarted = await _server_restarted(coordinator, sessions)
    cut_short: set[str] = set()
    if restarted:
        cut_short = {state.member for state in sessions if not state.idle}
        # A prompt the old server answered runs no turn on the new one: waiting for the
        # turn a moment longer (the grace of a prompt just sent) would take a teammate
        # whose first prompt was lost with the server for a busy one, not send it again.
        for answered in sessions:
            answered.awaiting_turn = False
        on_server = {state.session_id for state in sessions}
        for token, session_id in coordinator.tokens.sessions():
            state = coordinator.session(session_id)
            if state is not None and session_id in on_server:
                await coordinator.register_tools(state.directory, token)
        coordinator.record(ServerRestarted(cut_short=sorted(cut_short)))
    try:
        await reconcile(coordinator, cut_short=cut_short, server=server)
    except OpenCodeError as error:
        log.warning("resync failed: %s", error)


async def _server_restarted(coordinator: Coordinator, sessions: list[SessionState]) -> bool:
    """Whether the server of *sessions* forgot our team tools, as a restarted server does."""
    lead = coordinator.lead
    on_it = lead is not None and any(state is lead for state in sessions)
    state = lead if on_it else next(iter(sessions), None)
    if state is None or coordinator.tool_server_url is None:
        return False
    try:
        statuses = await coordinator.client.mcp_status(coordinator.session_folder(state.directory))
    except OpenCodeError:
        return False
    return MCP_SERVER_NAME not in statuses


def _history(coordinator: Coordinator, team: Team) -> list[TeamEvent]:
    """The team's event log as events, for the feed of a resumed team."""
    events = (from_record(entry.detail) for entry in coordinator.store.list_events(team.id))
    return [event for event in events if event is not None]
