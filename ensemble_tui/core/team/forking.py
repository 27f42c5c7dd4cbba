"""Forking a member: a new teammate whose session starts as a copy of another's conversation.

OpenCode copies the conversation (`POST /session/{id}/fork`) into a session in the same
directory; the experimental move-session route then moves it into the fork's own worktree
and branch, so forks never write over each other or the user's checkout. Like a spawn,
each step registers its undo and a failure leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, replace

from ensemble_tui.core.errors import Refused
from ensemble_tui.core.git.commands import ChangedFile, GitError
from ensemble_tui.core.git.worktrees import branch_diff
from ensemble_tui.core.models import (
    LEAD_NAME,
    Member,
    MemberRole,
    MemberStatus,
    MemberUpdate,
    Team,
    validate_name,
)
from ensemble_tui.core.store.store import StoreError
from ensemble_tui.core.team.coordinator import Coordinator
from ensemble_tui.core.team.events import ForkChosen, MemberForked, MemberSpawnFailed
from ensemble_tui.core.team.finishing import merge_member, shutdown_member
from ensemble_tui.core.team.prompts import fork_first_prompt
from ensemble_tui.core.team.sessions import SessionState
from ensemble_tui.core.team.spawn import (
    Undo,
    check_agent_and_model,
    check_room,
    make_directory,
    write_rules,
)
from ensemble_tui.opencode.client import OpenCodeClient, OpenCodeError
from ensemble_tui.opencode.models import ModelRef, TextPart

NO_MOVE_ROUTE = (
    "Forking needs OpenCode's experimental route POST /experimental/control-plane/move-session "
    "to move a fork into its own worktree, and this OpenCode server does not have it; without "
    "it a fork would work in the same folder as the member it came from and overwrite its "
    "files, so team_fork (and the screen's fork keys) are off. Spawning, merging and the "
    "hand-offs work as usual."
)
_MESSAGE_ID = re.compile(r"^msg[A-Za-z0-9_]+$")


@dataclass(frozen=True)
class ForkRequest:
    """Fork *source*'s conversation into a new member *name*, which then works on *prompt*."""

    name: str
    prompt: str
    source: str = LEAD_NAME
    agent: str | None = None
    model: str | None = None
    from_message: str | None = None
    group: str | None = None


async def require_move_route(client: OpenCodeClient) -> None:
    """Refuse to fork when the server cannot move a session into a worktree."""
    if not await client.moves_sessions():
        raise Refused(NO_MOVE_ROUTE)


async def fork_group_of(coordinator: Coordinator, source: SessionState, at: str | None) -> str:
    """The group a fork joins: forks of the same member at the same point of its
    conversation (its last user message, or *at*) are compared together."""
    if at is not None:
        return at
    try:
        folder = coordinator.session_folder(source.directory)
        recent = await coordinator.client.messages(source.session_id, folder, limit=20)
    except OpenCodeError:
        recent = []
    users = [entry.info.id for entry in recent if entry.info.role == "user"]
    return users[-1] if users else source.session_id


def _check_request(coordinator: Coordinator, team: Team, request: ForkRequest) -> SessionState:
    store = coordinator.store
    try:
        validate_name("member", request.name)
    except ValueError as error:
        raise Refused(str(error)) from None
    if store.get_member(team.id, request.name) is not None:
        raise Refused(f"A member named {request.name!r} already exists in team {team.name}.")
    if not request.prompt.strip():
        raise Refused("A fork needs a prompt: say what the fork should do.")
    if request.from_message is not None and not _MESSAGE_ID.match(request.from_message):
        raise Refused(
            f"from_message {request.from_message!r} is not a message id (they start with 'msg')."
        )
    source = coordinator.require_member(request.source)
    if source.status.ended:
        raise Refused(f"{source.name} has {source.status.value}; only a working member is forked.")
    state = coordinator.session_of(source.name)
    if state is None:
        raise Refused(f"{source.name} has no session to fork (yet).")
    return state


async def fork_member(coordinator: Coordinator, team: Team, request: ForkRequest) -> Member:
    """Fork *request.source* into a new teammate; raises Refused (nothing left) on failure."""
    source = _check_request(coordinator, team, request)
    await require_move_route(coordinator.client)
    check_room(coordinator, team)
    agent = request.agent or source.agent
    try:
        model = ModelRef.parse(request.model) if request.model else source.model
    except ValueError as error:
        raise Refused(str(error)) from None
    if request.agent is not None or request.model is not None:
        await check_agent_and_model(coordinator, agent, model if request.model else None)
    group = request.group or await fork_group_of(coordinator, source, request.from_message)
    undo = Undo()
    async with coordinator.operation():
        try:
            member, session_id = await _fork(
                coordinator, team, replace(request, group=group), source, agent, model, undo
            )
        except BaseException as error:
            await asyncio.shield(undo.run())
            if not isinstance(error, Exception):
                raise
            reason = str(error) or type(error).__name__
            coordinator.record(MemberSpawnFailed(member=request.name, text=reason))
            raise Refused(
                f"Could not fork {request.source} into {request.name}: {reason}. "
                "Nothing was left behind."
            ) from error
    coordinator.record(
        MemberForked(
            member=member.name,
            source=request.source,
            branch=member.branch,
            session=session_id,
            group=group,
        )
    )
    return member


async def _fork(
    coordinator: Coordinator,
    team: Team,
    request: ForkRequest,
    source: SessionState,
    agent: str,
    model: ModelRef | None,
    undo: Undo,
) -> tuple[Member, str]:
    store, client = coordinator.store, coordinator.client
    try:
        store.add_member(
            Member(
                team_id=team.id,
                name=request.name,
                role=MemberRole.TEAMMATE,
                agent=agent,
                model=str(model) if model else None,
                forked_from=request.source,
                fork_group=request.group,
            )
        )
    except StoreError as error:
        raise Refused(str(error)) from None
    undo.push("member row", lambda: asyncio.to_thread(store.delete_member, team.id, request.name))
    directory = await make_directory(coordinator, team, request.name, False, undo)
    fork = await client.fork_session(
        source.session_id, source.directory, message_id=request.from_message
    )
    undo.push("session", lambda: client.delete_session(fork.id, str(directory)))
    await client.move_session(fork.id, str(directory))
    await client.add_session_permissions(fork.id, str(directory), write_rules(directory))
    token = coordinator.issue_token(request.name, fork.id, is_lead=False)
    undo.push("token", lambda: _forget(coordinator, token))
    await coordinator.register_tools(str(directory), token)
    member = store.update_member(
        team.id, request.name, MemberUpdate(session_id=fork.id, status=MemberStatus.STARTING)
    )
    state = SessionState(request.name, fork.id, str(directory), agent, model)
    coordinator.track(state)
    undo.push("tracking", lambda: _untrack(coordinator, fork.id))
    names = [m.name for m in store.list_members(team.id)]
    text = fork_first_prompt(member, request.source, team.name, names, request.prompt)
    await coordinator.prompt(state, text)
    return member, fork.id


async def _forget(coordinator: Coordinator, token: str) -> None:
    coordinator.tokens.revoke(token)


async def _untrack(coordinator: Coordinator, session_id: str) -> None:
    coordinator.untrack(session_id)


def fork_group(coordinator: Coordinator, team: Team, name: str) -> list[Member]:
    """The forks made together with *name* (it included), in the order they were made."""
    member = coordinator.require_member(name)
    if member.fork_group is None:
        raise Refused(f"{name} is not a fork; fork a member first (team_fork, or f on the screen).")
    return [m for m in coordinator.store.list_members(team.id) if m.fork_group == member.fork_group]


async def choose_fork(coordinator: Coordinator, team: Team, name: str) -> str:
    """Merge the fork *name* and shut the other forks of its group down, branches kept.

    The merge comes first: if it is refused (a conflict, still working) nothing changes."""
    group = fork_group(coordinator, team, name)
    chosen = next(m for m in group if m.name == name)
    merged = await merge_member(coordinator, team, chosen)
    kept: list[str] = []
    for other in group:
        if other.name == name or other.status is MemberStatus.MERGED:
            continue
        if not other.status.ended:
            await shutdown_member(coordinator, team, other, force=True)
        if other.branch is not None:
            kept.append(other.branch)
    coordinator.record(ForkChosen(member=name, kept=kept))
    branches = ", ".join(kept) or "none"
    return f"{merged}\nThe other forks are shut down; their branches are kept: {branches}."


@dataclass(frozen=True)
class ForkView:
    """One fork as the comparison shows it."""

    name: str
    status: MemberStatus
    branch: str | None
    files: tuple[ChangedFile, ...]
    last_message: str

    @property
    def added(self) -> int:
        return sum(f.additions or 0 for f in self.files)

    @property
    def removed(self) -> int:
        return sum(f.deletions or 0 for f in self.files)


async def compare_forks(coordinator: Coordinator, team: Team, name: str) -> list[ForkView]:
    """Each fork of *name*'s group: status, its diff against the common base, last words."""
    views = []
    for member in fork_group(coordinator, team, name):
        files: tuple[ChangedFile, ...] = ()
        if member.branch is not None and member.base_commit is not None:
            try:
                diff = await asyncio.to_thread(
                    branch_diff, coordinator.repo_root, member.branch, member.base_commit
                )
                files = diff.files
            except GitError:
                files = ()
        views.append(
            ForkView(
                member.name,
                member.status,
                member.branch,
                files,
                await _last_words(coordinator, member),
            )
        )
    return views


async def _last_words(coordinator: Coordinator, member: Member) -> str:
    """The text of the member's last assistant message ('' if it has none yet)."""
    state = coordinator.session_of(member.name)
    session_id = state.session_id if state is not None else member.session_id
    directory = state.directory if state is not None else member.worktree_path
    if session_id is None or directory is None:
        return ""
    try:
        folder = coordinator.session_folder(directory)
        recent = await coordinator.client.messages(session_id, folder, limit=6)
    except OpenCodeError:
        return ""
    for entry in reversed(recent):
        if entry.info.role == "assistant":
            texts = [p.text for p in entry.parts if isinstance(p, TextPart) and p.text.strip()]
            if texts:
                return texts[-1].strip()
    return ""
