"""Spawning a teammate: worktree, session, team tools, first prompt; undone on failure.

Each step registers how to undo itself; if a later step fails, the undo steps run in
reverse so no half-made teammate (member row, session, worktree, branch) is left.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from ensemble_tui.core.errors import Refused
from ensemble_tui.core.git.worktrees import WorktreeInfo, create_worktree, remove_worktree
from ensemble_tui.core.models import (
    Member,
    MemberRole,
    MemberStatus,
    MemberUpdate,
    Team,
    validate_name,
)
from ensemble_tui.core.team.coordinator import Coordinator
from ensemble_tui.core.team.events import MemberPlanApproved, MemberSpawned, MemberSpawnFailed
from ensemble_tui.core.team.prompts import teammate_first_prompt
from ensemble_tui.core.team.sessions import SessionState
from ensemble_tui.core.team.settings import CoordinatorSettings
from ensemble_tui.opencode.client import OpenCodeError
from ensemble_tui.opencode.models import ModelRef, PermissionRule

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SpawnRequest:
    """What the lead (or the screen) asked for."""

    name: str
    prompt: str
    agent: str = "build"
    model: str | None = None
    worktree: bool = True
    plan_approval: bool = False


def write_rules(directory: Path) -> list[PermissionRule]:
    """Rules that let a teammate edit and run commands in its own directory without asking."""
    return [
        PermissionRule(permission="edit", pattern="*", action="allow"),
        PermissionRule(permission="bash", pattern="*", action="allow"),
        PermissionRule(permission="external_directory", pattern=f"{directory}/**", action="allow"),
    ]


def permission_rules(directory: Path, repo_root: Path, *, read_only: bool) -> list[PermissionRule]:
    """A teammate's rules: its own directory to work in, or reading only."""
    if read_only:
        return [
            PermissionRule(permission="edit", pattern="*", action="deny"),
            PermissionRule(permission="bash", pattern="*", action="deny"),
            PermissionRule(
                permission="external_directory", pattern=f"{repo_root}/**", action="allow"
            ),
        ]
    return write_rules(directory)


class Undo:
    """A stack of undo steps run in reverse on failure."""

    def __init__(self) -> None:
        self.steps: list[tuple[str, Callable[[], Awaitable[object]]]] = []

    def push(self, what: str, step: Callable[[], Awaitable[object]]) -> None:
        self.steps.append((what, step))

    async def run(self) -> None:
        for what, step in reversed(self.steps):
            try:
                await step()
            except Exception:
                log.exception("undoing %s failed", what)


def choose_model(
    settings: CoordinatorSettings, agent: str, explicit: str | None, spawned_before: int
) -> ModelRef | None:
    """A teammate's model: the spawn's own, then by agent, then the pool, then
    default_model, then None (OpenCode's default)."""
    pool = settings.model_pool
    if explicit:
        text: str | None = explicit
    elif agent in settings.models_by_agent:
        text = settings.models_by_agent[agent]
    elif pool and settings.model_assignment == "rotate":
        text = pool[spawned_before % len(pool)]
    elif pool and settings.model_assignment == "random":
        text = random.choice(pool)
    else:
        text = settings.default_model
    return ModelRef.parse(text) if text else None


async def spawn_teammate(
    coordinator: Coordinator, team: Team, request: SpawnRequest, *, position: int = 0
) -> Member:
    """Spawn one teammate; raises Refused (after undoing everything) on any failure.

    Spawns run concurrently (each waits on OpenCode, not on the others), but only
    `max_starting` of them make their session at once (`Coordinator.starts`); *position*
    is this one's place among those started together, so a rotating model pool gives
    each its own model.
    """
    store = coordinator.store
    limit = coordinator.settings.max_spawn_failures
    if coordinator.spawn_failures >= limit:
        raise Refused(
            f"Spawning is paused after {coordinator.spawn_failures} failed spawns in a row; "
            "fix the cause named in the last error (or ask the user), then try once more."
        )
    try:
        validate_name("member", request.name)
    except ValueError as error:
        raise Refused(str(error)) from None
    if store.get_member(team.id, request.name) is not None:
        raise Refused(f"A member named {request.name!r} already exists in team {team.name}.")
    check_room(coordinator, team)
    try:
        spawned_before = sum(m.name != "lead" for m in store.list_members(team.id)) + position
        model = choose_model(coordinator.settings, request.agent, request.model, spawned_before)
    except ValueError as error:
        raise Refused(str(error)) from None
    read_only = not request.worktree
    undo = Undo()
    async with coordinator.operation():
        await check_agent_and_model(coordinator, request.agent, model)
        member, session_id = await _spawn(coordinator, team, request, model, undo)
    coordinator.spawn_failures = 0
    coordinator.record(
        MemberSpawned(
            member=request.name, branch=member.branch, session=session_id, read_only=read_only
        )
    )
    return member


async def _spawn(
    coordinator: Coordinator, team: Team, request: SpawnRequest, model: ModelRef | None, undo: Undo
) -> tuple[Member, str]:
    """The steps of a spawn, each with its undo; all undone if one fails."""
    store, client = coordinator.store, coordinator.client
    read_only = not request.worktree
    # Again with no await before the row is added: concurrent spawns cannot both fit in.
    check_room(coordinator, team)
    try:
        member = store.add_member(
            Member(
                team_id=team.id,
                name=request.name,
                role=MemberRole.TEAMMATE,
                agent=request.agent,
                model=str(model) if model else None,
                read_only=read_only,
                plan_approval=request.plan_approval,
            )
        )
        undo.push(
            "member row", lambda: asyncio.to_thread(store.delete_member, team.id, request.name)
        )
        directory = await make_directory(coordinator, team, request.name, read_only, undo)
        # A plan-approval teammate starts read-only; approval appends the write rules.
        planning = read_only or request.plan_approval
        rules = permission_rules(directory, coordinator.repo_root, read_only=planning)
        lead = coordinator.lead
        title = f"{request.name} ({team.name})"
        # OpenCode holds an instance for the folder from the call below on, and starts some
        # of its services only with the first turn. One still starting when an undone spawn
        # removed the folder failed and stayed failed for that folder: a later spawn of the
        # same name (same team, same folder) had every turn refused (`FileSystem.realPath
        # ... ENOENT`). Undone, the instance is dropped (after the session, before the folder).
        undo.push("instance", lambda: coordinator.drop_instance(directory))
        # Before the call: a session the server made but never answered for (a timeout,
        # a cancelled tool call) is found by its folder and title and deleted too.
        undo.push("session", lambda: _delete_sessions(coordinator, directory, title))
        # OpenCode starts an instance for the new folder: only so many at once.
        async with coordinator.starts.slot() as slot:
            session = await client.create_session(
                str(directory),
                title=title,
                parent_id=lead.session_id if lead else None,
                permission=rules,
            )
            token = coordinator.issue_token(request.name, session.id, is_lead=False)
            undo.push("token", lambda: _forget_token(coordinator, token))
            await coordinator.register_tools(str(directory), token)
            member = store.update_member(
                team.id,
                request.name,
                MemberUpdate(session_id=session.id, status=MemberStatus.STARTING),
            )
            state = SessionState(request.name, session.id, str(directory), request.agent, model)
            coordinator.track(state)
            undo.push("tracking", lambda: _untrack(coordinator, session.id))
            names = [m.name for m in store.list_members(team.id)]
            text = teammate_first_prompt(member, team.name, names, request.prompt)
            # Kept first: OpenCode answers before it has written the prompt down, so a crash
            # of OpenCode just then loses it; a resume finds it missing and sends it again.
            member = store.update_member(team.id, request.name, MemberUpdate(first_prompt=text))
            await coordinator.prompt(state, text)
            slot.hold_until_started(state)
    except BaseException as error:
        # A cancelled call (the agent's tool call timed out) is undone too: no orphans.
        await asyncio.shield(undo.run())
        coordinator.spawn_failures += 1
        if not isinstance(error, Exception):
            raise
        reason = str(error) or type(error).__name__
        coordinator.record(MemberSpawnFailed(member=request.name, text=reason))
        raise Refused(
            f"Could not spawn {request.name}: {reason}. Nothing was left behind."
        ) from error
    return member, session.id


async def make_directory(
    coordinator: Coordinator, team: Team, name: str, read_only: bool, undo: Undo
) -> Path:
    """A worktree on its own branch, or for a read-only teammate a plain folder of its own."""
    root, repo = coordinator.worktree_root, coordinator.repo_root
    if read_only:
        directory = root / team.name / f"{name}-readonly"
        await asyncio.to_thread(directory.mkdir, parents=True, exist_ok=False)
        undo.push("folder", lambda: asyncio.to_thread(directory.rmdir))
        coordinator.store.update_member(team.id, name, MemberUpdate(worktree_path=directory))
        return directory
    info: WorktreeInfo = await asyncio.to_thread(create_worktree, repo, root, team.name, name)
    undo.push("worktree", lambda: asyncio.to_thread(remove_worktree, repo, info, merged=True))
    coordinator.store.update_member(
        team.id,
        name,
        MemberUpdate(worktree_path=info.path, branch=info.branch, base_commit=info.base_commit),
    )
    return info.path


def check_room(coordinator: Coordinator, team: Team) -> None:
    """Refuse a spawn that would make the team larger than `max_members` teammates."""
    limit = coordinator.settings.max_members
    members = coordinator.store.list_members(team.id)
    working = [m.name for m in members if m.role is MemberRole.TEAMMATE and not m.status.ended]
    if len(working) >= limit:
        raise Refused(
            f"Team {team.name} already has {len(working)} teammates, the most it may have "
            f"(max_members = {limit}). Shut one down or merge one before spawning another, "
            "or ask the user to raise max_members."
        )


async def check_agent_and_model(
    coordinator: Coordinator, agent: str, model: ModelRef | None
) -> None:
    """Refuse an agent or model the OpenCode server does not have, before anything exists."""
    directory = str(coordinator.repo_root)
    try:
        agents = await coordinator.client.agents(directory)
        providers = (await coordinator.client.providers(directory)).providers if model else []
    except OpenCodeError as error:
        raise Refused(
            f"Could not check the agent and model with OpenCode ({error}); nothing was created."
        ) from None
    usable = sorted(a.name for a in agents if not a.hidden)
    if agent not in usable:
        raise Refused(
            f"OpenCode has no agent {agent!r}; use one of: {', '.join(usable)}. "
            "Nothing was created."
        )
    if model is None:
        return
    provider = next((p for p in providers if p.id == model.provider_id), None)
    if provider is None:
        names = ", ".join(sorted(p.id for p in providers)) or "none"
        raise Refused(
            f"OpenCode has no provider {model.provider_id!r} for the model {model}; "
            f"its providers: {names}. Nothing was created."
        )
    if model.model_id not in provider.models:
        known = sorted(provider.models)
        shown = ", ".join(f"{provider.id}/{m}" for m in known[:10])
        more = f" and {len(known) - 10} more" if len(known) > 10 else ""
        raise Refused(
            f"Provider {provider.id} has no model {model.model_id!r}; its models: "
            f"{shown or 'none'}{more}. Nothing was created."
        )


async def _delete_sessions(coordinator: Coordinator, directory: Path, title: str) -> None:
    """Delete the spawn's sessions in its new folder (none but the spawn's are there)."""
    client = coordinator.client
    for session in await client.list_sessions(str(directory)):
        if session.directory == str(directory) and session.title == title:
            await client.delete_session(session.id, str(directory))


async def _forget_token(coordinator: Coordinator, token: str) -> None:
    coordinator.tokens.revoke(token)


async def _untrack(coordinator: Coordinator, session_id: str) -> None:
    coordinator.untrack(session_id)


_APPROVAL = re.compile(r"^\W*(plan\s+)?(approved?|lgtm|go ahead)\b", re.IGNORECASE)


def is_plan_approval(text: str) -> bool:
    """Whether the lead's message approves a plan ("Approved: ...", "plan approved", "LGTM")."""
    return bool(_APPROVAL.match(text))


async def approve_plan(coordinator: Coordinator, team: Team, member: Member) -> str:
    """Give a plan-approval teammate write access in its worktree and tell it to go on."""
    if not member.plan_approval:
        raise Refused(f"{member.name} is not waiting for a plan approval.")
    state = coordinator.session_of(member.name)
    if state is None or member.worktree_path is None:
        raise Refused(f"{member.name} has no session to approve.")
    await coordinator.client.add_session_permissions(
        state.session_id, state.directory, write_rules(member.worktree_path)
    )
    coordinator.store.update_member(team.id, member.name, MemberUpdate(plan_approval=False))
    coordinator.record(MemberPlanApproved(member=member.name))
    coordinator.delivery.notify(
        member.name, "Your plan is approved: you now have write access. Carry it out."
    )
    return f"{member.name}'s plan is approved; it now has write access."
