"""The coordinator: one team's state, the event stream, prompts and message delivery.

Data flows one way: OpenCode events -> `SessionState` -> store -> feed. Commands come
back from agents' team tools (`core.team_tools`) and from the screen. Everything is
written to the store before anything is sent to OpenCode.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from ensemble_tui.core import recovery
from ensemble_tui.core.delivery import FINISHED, DeliveryMixin
from ensemble_tui.core.feed import Feed
from ensemble_tui.core.models import LEAD_NAME, Member, MemberStatus, MemberUpdate, Team
from ensemble_tui.core.prompts import LEAD_SYSTEM, lead_digest
from ensemble_tui.core.recovery import MCP_SERVER_NAME
from ensemble_tui.core.sessions import STALE_IDLE_GRACE, Change, SessionState
from ensemble_tui.core.store import Store
from ensemble_tui.core.taskboard import TaskBoard
from ensemble_tui.core.worktrees import default_worktree_root
from ensemble_tui.opencode.client import OpenCodeClient, OpenCodeError
from ensemble_tui.opencode.events import Event
from ensemble_tui.opencode.models import ModelRef
from ensemble_tui.opencode.stream import EventStream, StreamConnected, StreamDisconnected
from ensemble_tui.tools.api import Caller

log = logging.getLogger(__name__)


@dataclass
class CoordinatorSettings:
    """How the coordinator behaves; the app's settings fill these in."""

    worktree_root: Path | None = None
    default_model: str | None = None
    models_by_agent: dict[str, str] = field(default_factory=dict)
    model_pool: list[str] = field(default_factory=list)
    model_assignment: str = "default"
    tool_rate: float = 2.0
    tool_burst: int = 20
    ack_cooldown: float = 60.0
    max_spawn_failures: int = 3
    stall_threshold: float = 300.0
    timeout: float = 1800.0
    merge_on_cleanup: bool = True


@dataclass
class Identity:
    """Who a bearer token stands for."""

    member: str
    session_id: str
    is_lead: bool


@dataclass
class Coordinator(DeliveryMixin):
    """Runs one repository's team on one OpenCode server."""

    repo_root: Path
    store: Store
    client: OpenCodeClient
    settings: CoordinatorSettings = field(default_factory=CoordinatorSettings)
    feed: Feed = field(default_factory=Feed)

    def __post_init__(self) -> None:
        self.board = TaskBoard(self.store)
        self.team: Team | None = None
        self.sessions: dict[str, SessionState] = {}
        self.identities: dict[str, Identity] = {}
        self.spawn_failures = 0
        self.operations_in_flight = 0
        self.tool_server_url: str | None = None
        self.connected = False
        self._changed = asyncio.Event()
        self._stream_task: asyncio.Task[None] | None = None
        self._stream_ready = asyncio.Event()
        self.merge_lock = asyncio.Lock()
        # The screen follows the shown session's parts and deltas through these.
        self.session_listeners: list[Callable[[SessionState, Event], None]] = []

    @property
    def worktree_root(self) -> Path:
        return self.settings.worktree_root or default_worktree_root(self.repo_root)

    # Lifecycle

    async def start_events(self, stream: EventStream | None = None) -> None:
        """Follow the event stream; returns once it is connected (subscribe before prompting)."""
        events = stream or EventStream(self.client)
        self._stream_task = asyncio.create_task(self._follow(events), name="ensemble-events")
        async with asyncio.timeout(30):
            await self._stream_ready.wait()

    async def stop_events(self) -> None:
        if self._stream_task is not None:
            self._stream_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._stream_task
            self._stream_task = None

    async def _follow(self, stream: EventStream) -> None:
        async for item in stream:
            try:
                if isinstance(item, StreamConnected):
                    self.connected = True
                    if item.reconnected:
                        await self.resync()
                    self.feed.publish("server.connected", detail={"reconnected": item.reconnected})
                    self._stream_ready.set()
                elif isinstance(item, StreamDisconnected):
                    if self.connected:
                        self.feed.publish("server.disconnected", text=item.reason)
                    self.connected = False
                else:
                    session_id = getattr(item.event, "session_id", None)
                    state = self.sessions.get(session_id) if session_id else None
                    if state is None and hasattr(item.event, "request"):
                        state = self.sessions.get(getattr(item.event.request, "session_id", ""))
                    if state is not None:
                        await self._on_change(state, state.apply(item.event))
                        for listener in list(self.session_listeners):
                            listener(state, item.event)
            except Exception:
                log.exception("the coordinator failed on a stream item; carrying on")
            self._changed.set()

    # Identity

    def new_token(self, member: str, session_id: str, *, is_lead: bool) -> str:
        token = secrets.token_urlsafe(24)
        self.identities[token] = Identity(member, session_id, is_lead)
        return token

    def identify(self, token: str) -> Caller | None:
        """The caller a bearer token belongs to (the MCP server asks on every call)."""
        identity = self.identities.get(token)
        if identity is None:
            return None
        team_id = self.team.id if self.team is not None else None
        return Caller(identity.member, identity.is_lead, team_id, identity.session_id)

    # The lead

    async def start_lead(self, title: str = "ensemble lead") -> SessionState:
        """Create the lead's session in the repository and give it the team tools."""
        session = await self.client.create_session(str(self.repo_root), title=title)
        return await self._track_lead(session.id, session.agent or "build")

    async def adopt_lead(self, session_id: str) -> SessionState:
        """Continue an existing session of this repository as the lead."""
        session = await self.client.get_session(session_id, str(self.repo_root))
        if session.directory != str(self.repo_root):
            raise OpenCodeError(
                f"GET /session/{session_id}",
                f"that session works in {session.directory}, not in {self.repo_root}",
            )
        return await self._track_lead(session.id, session.agent or "build")

    async def _track_lead(self, session_id: str, agent: str) -> SessionState:
        directory = str(self.repo_root)
        model = ModelRef.parse(self.settings.default_model) if self.settings.default_model else None
        state = SessionState(LEAD_NAME, session_id, directory, agent, model)
        self.sessions[session_id] = state
        await self.register_tools(directory, self.new_token(LEAD_NAME, session_id, is_lead=True))
        self.feed.publish("lead.started", member=LEAD_NAME, detail={"session": session_id})
        return state

    async def register_tools(self, directory: str, token: str) -> None:
        """Give the sessions of *directory* the team tools, carrying *token*."""
        if self.tool_server_url is None:
            raise RuntimeError("the team tool server is not running")
        statuses = await self.client.add_mcp_server(
            directory, MCP_SERVER_NAME, self.tool_server_url, token=token
        )
        status = statuses.get(MCP_SERVER_NAME)
        if status is not None and status.status != "connected":
            raise OpenCodeError(
                "POST /mcp", f"the team tools did not connect ({status.status}: {status.error})"
            )

    @property
    def lead(self) -> SessionState | None:
        return next((s for s in self.sessions.values() if s.member == LEAD_NAME), None)

    def session_of(self, member: str) -> SessionState | None:
        return next((s for s in self.sessions.values() if s.member == member), None)

    async def prompt(self, state: SessionState, text: str, *, system: str | None = None) -> None:
        """Send a user message to a member's session, pinning its agent and model."""
        if state.member == LEAD_NAME:
            system = "\n\n".join(part for part in (LEAD_SYSTEM, self.digest(), system) if part)
        state.prompt_sent()
        self._changed.set()
        try:
            await self.client.prompt_async(
                state.session_id,
                state.directory,
                text,
                agent=state.agent,
                model=state.model,
                system=system,
            )
        except OpenCodeError:
            state.awaiting_turn = False
            raise

    def digest(self) -> str:
        if self.team is None:
            return lead_digest(None, [], [], 0)
        members = self.store.list_members(self.team.id)
        tasks = self.board.list_tasks(self.team.id)
        unread = len(self.store.list_undelivered(self.team.id, LEAD_NAME))
        return lead_digest(self.team.name, members, tasks, unread)

    # Reacting to events

    async def _on_change(self, state: SessionState, change: Change) -> None:
        if not change.matters:
            return  # A streamed token: nothing to store or tell (issue 14).
        team = self.team
        member = self.store.get_member(team.id, state.member) if team is not None else None
        if change.usage is not None and member is not None and team is not None:
            tokens, cost = change.usage
            self.store.add_member_usage(
                team.id,
                state.member,
                input_tokens=tokens.input,
                output_tokens=tokens.output,
                reasoning_tokens=tokens.reasoning,
                cost=cost,
            )
        if change.permission is not None:
            self.feed.publish(
                "permission.asked",
                member=state.member,
                text=change.permission.permission,
                detail={"request": change.permission.id, "patterns": change.permission.patterns},
            )
        if change.question is not None:
            asked = "; ".join(q.question for q in change.question.questions)
            self.feed.publish("question.asked", member=state.member, text=asked)
        if change.error is not None:
            self.feed.publish("member.error", member=state.member, text=change.error)
        if change.failed_start is not None and not (member and member.status in FINISHED):
            state.error = f"the model failed to start: {change.failed_start}"
            change.status = state.status()
            self.feed.publish("member.error", member=state.member, text=state.error)
        if change.status is MemberStatus.RATE_LIMITED and state.retrying_until is not None:
            at = datetime.fromtimestamp(state.retrying_until / 1000, UTC)
            self.feed.publish(
                "member.rate_limited",
                member=state.member,
                text=f"the provider is busy; next attempt at {at.astimezone():%H:%M:%S}",
                detail={"next_attempt": at.isoformat()},
            )
        if change.status is not None:
            self._record_status(state, change.status, member)
        if change.turn_ended:
            self.feed.publish("member.idle", member=state.member)
            if member is not None and member.shutdown_requested and member.status not in FINISHED:
                await self.finish_shutdown(member, "shutdown")
            else:
                await self.deliver_pending(state)

    def record_status(self, state: SessionState) -> None:
        """Store the status a session's state stands for, if it changed."""
        if self.team is not None:
            member = self.store.get_member(self.team.id, state.member)
            self._record_status(state, state.status(), member)

    def _record_status(
        self, state: SessionState, status: MemberStatus, member: Member | None
    ) -> None:
        if member is None or self.team is None or member.status in FINISHED:
            return
        if member.status != status:
            update = MemberUpdate(status=status, error=state.error if state.error else None)
            self.store.update_member(self.team.id, state.member, update)
            self.feed.publish("member.status", member=state.member, text=status.value)

    # Settling

    def settled(self) -> bool:
        """True when every session is idle, nothing is being done, and nothing waits."""
        if self.operations_in_flight:
            return False
        if not all(state.idle for state in self.sessions.values()):
            return False
        if self.team is None:
            return True
        waiting = self.store.count_undelivered(self.team.id)
        return waiting == 0 and not self.store.undelivered_notices(self.team.id)

    async def resync(self) -> None:
        """After the event stream came back: reconcile with the server (see recovery)."""
        await recovery.after_reconnect(self)

    async def wait_until_settled(self, *, limit: float) -> None:
        """Wait until `settled()` holds twice across a short pause (raises TimeoutError)."""
        async with asyncio.timeout(limit):
            while True:
                if self.settled():
                    await asyncio.sleep(0.5)
                    if self.settled():
                        return
                stale = [
                    s
                    for s in self.sessions.values()
                    if s.awaiting_turn and time.monotonic() - s.sent_at > STALE_IDLE_GRACE * 2
                ]
                if stale:
                    await self.resync()
                self._changed.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(2.0):
                        await self._changed.wait()
