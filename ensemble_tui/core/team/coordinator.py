"""The coordinator: the one owner of a team's live state, and the event stream into it.

Data flows one way: OpenCode events -> `SessionState` -> store -> team events. Commands
come in through two ports, `TeamTools` (the agents) and `TeamControl` (the human), and
the parts that carry them out (spawn, finishing, recovery, the watchdog, and the
reactions to OpenCode's events in `reactions.py`) change the team only through the
methods here: `set_team`, `track`, `untrack`, `issue_token`, `update_member`,
`add_usage`, `record_status`, `record`. Everything is written to the store before
anything is sent to OpenCode.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ensemble_tui.core.errors import Refused
from ensemble_tui.core.git.commands import GitError
from ensemble_tui.core.git.worktrees import (
    commit_work_in_progress,
    default_worktree_root,
    wip_message,
)
from ensemble_tui.core.models import LEAD_NAME, Member, MemberStatus, MemberUpdate, Team
from ensemble_tui.core.store.store import MemberStanding, Store
from ensemble_tui.core.team.checks import Checks
from ensemble_tui.core.team.delivery import Delivery
from ensemble_tui.core.team.events import (
    LeadStarted,
    MemberErrored,
    MemberShutDown,
    MemberStatusChanged,
    ModelChecked,
    ModelUnavailable,
    ServerConnected,
    ServerDisconnected,
    TaskReleased,
    TeamEvent,
    TeamPaused,
    TeamReported,
    TeamUnpaused,
)
from ensemble_tui.core.team.feed import Feed
from ensemble_tui.core.team.identity import Caller, TokenBook
from ensemble_tui.core.team.model_check import FIX, ModelCheck, check_model
from ensemble_tui.core.team.prompts import (
    LEAD_SYSTEM,
    compaction_reminder,
    lead_digest,
    teammate_context,
)
from ensemble_tui.core.team.reactions import (
    AfterTurn,
    EventReactions,
    SessionListener,
    TallyListener,
)
from ensemble_tui.core.team.review import Reviews
from ensemble_tui.core.team.sessions import STALE_IDLE_GRACE, SessionState
from ensemble_tui.core.team.settings import (
    CoordinatorSettings as CoordinatorSettings,  # re-exported
)
from ensemble_tui.core.team.starts import StartGate
from ensemble_tui.core.team.taskboard import TaskBoard
from ensemble_tui.opencode.client import OpenCodeClient, OpenCodeError
from ensemble_tui.opencode.models import ModelRef, Tokens
from ensemble_tui.opencode.stream import (
    EventSource,
    StreamConnected,
    StreamDisconnected,
    event_source,
)

if TYPE_CHECKING:
    from ensemble_tui.core.team.continuation import Continuation

log = logging.getLogger(__name__)

# The name the team tools are registered under, in every directory.
MCP_SERVER_NAME = "ensemble"


@dataclass(frozen=True)
class Pause:
    """Why the team is paused: `cause` is human, budget or no_progress."""

    reason: str
    cause: str


class Coordinator:
    """Runs one repository's team on one OpenCode server."""

    def __init__(
        self,
        repo_root: Path,
        store: Store,
        client: OpenCodeClient,
        settings: CoordinatorSettings | None = None,
        feed: Feed | None = None,
    ) -> None:
        self.repo_root = repo_root
        self.store = store
        self.client = client
        self.settings = settings or CoordinatorSettings()
        self.feed = feed or Feed()
        self.board = TaskBoard(store)
        self.tokens = TokenBook()
        self.delivery = Delivery(
            store, self.record, self.prompt, lambda: self._team, lambda: self.paused is not None
        )
        self.checks = Checks(self)
        self.reviews = Reviews(self)
        self.tool_server_url: str | None = None
        self.connected = False
        self.spawn_failures = 0
        # Team operations that change branches (spawn, merge, shutdown, cleanup) run one
        # at a time, so a second one sees the first one's result.
        self.operation_lock = asyncio.Lock()
        self._team: Team | None = None
        self.paused: Pause | None = None
        """Why the team gets no new prompts now (None: it runs)."""
        self.until_done = self.settings.until_done
        """Whether the lead is continued while work is open (the screen toggles it)."""
        self.continuation: Continuation | None = None
        """The one owner of continuation (the composition root sets it)."""
        self.report: TeamReported | None = None
        """The report of the last team that ended (the screen keeps showing that team)."""
        self.ended_team: Team | None = None
        self._sessions: dict[str, SessionState] = {}
        self._operations_in_flight = 0
        self._changed = asyncio.Event()
        self._stream_task: asyncio.Task[None] | None = None
        self._stream_ready = asyncio.Event()
        self._resync: Callable[[int | None], Awaitable[None]] | None = None
        # The servers whose event streams are down, and those whose stream ever connected.
        self._servers_down: set[int] = set()
        self._servers_seen: set[int] = set()
        # What to do once a member's running turn ends, instead of delivering (a hand-off).
        self._waiting_actions: dict[str, AfterTurn] = {}
        self._background: set[asyncio.Task[None]] = set()
        self.reactions = EventReactions(self, store)
        """What OpenCode's events do to the team (through the methods here)."""
        self.starts = StartGate(self.settings.max_starting, self.add_session_listener)
        """How many teammates start at once (a spawn takes a slot until its first step)."""
        self.model_check: ModelCheck | None = None
        """The lead's model as checked at start (None until checked, or if it could not be)."""
        self.model_problem: str | None = None
        """Why no model answers, with the fix, until one does (the screen shows it)."""

    # The state it owns

    @property
    def team(self) -> Team | None:
        """The active team, or None before the lead makes one (and after cleanup)."""
        return self._team

    def set_team(self, team: Team) -> None:
        """Make *team* the active one: the tokens issued so far (the lead's) act in it."""
        self._team = team
        self.tokens.bind_unbound(team.id)

    def end_team(self) -> None:
        """The team is over: only the lead keeps its session and (unbound) tools."""
        self.ended_team, self._team = self._team, None
        for state in list(self._sessions.values()):
            if state.member != LEAD_NAME:
                self.untrack(state.session_id)
        self.tokens.end_team(LEAD_NAME)

    @property
    def sessions(self) -> list[SessionState]:
        """Every tracked session, the lead's first if it is tracked."""
        return sorted(self._sessions.values(), key=lambda s: s.member != LEAD_NAME)

    def session(self, session_id: str) -> SessionState | None:
        return self._sessions.get(session_id)

    def track(self, state: SessionState) -> None:
        """Follow a member's session: its events reach the team from now on."""
        self._sessions[state.session_id] = state
        self._changed.set()

    def untrack(self, session_id: str) -> None:
        self._sessions.pop(session_id, None)

    def issue_token(self, member: str, session_id: str, *, is_lead: bool) -> str:
        team_id = self._team.id if self._team is not None else None
        return self.tokens.issue(member, session_id, is_lead=is_lead, team_id=team_id)

    def identify(self, token: str) -> Caller | None:
        """The caller a bearer token belongs to (the MCP server asks on every call)."""
        return self.tokens.caller(token, self._team.id if self._team is not None else None)

    def add_session_listener(self, listener: SessionListener) -> Callable[[], None]:
        """Call *listener* with every event of a tracked session; returns the remover."""
        return self.reactions.add_session_listener(listener)

    def add_tally_listener(self, listener: TallyListener) -> Callable[[], None]:
        """Call *listener* with each member's count of session events, once per run of
        events; returns the remover."""
        return self.reactions.add_tally_listener(listener)

    def on_resync(self, handler: Callable[[int | None], Awaitable[None]]) -> None:
        """What to do when the stream comes back or a turn looks lost (recovery's job): it
        is given the number of the server whose stream came back (None: every server)."""
        self._resync = handler

    def after_turn(self, member: str, action: AfterTurn) -> None:
        """Run *action* once *member*'s current turn ends (one waiting action per member)."""
        self._waiting_actions[member] = action
        self._changed.set()

    def waiting_after_turn(self, member: str) -> bool:
        return member in self._waiting_actions

    def take_after_turn(self, member: str) -> AfterTurn | None:
        """The action waiting for *member*'s turn to end, no longer waiting."""
        return self._waiting_actions.pop(member, None)

    def run_after_turn(self, state: SessionState, action: AfterTurn) -> None:
        """Run an after-turn action beside the stream (it may wait on the server), counted
        as an operation from now on so the team is not settled meanwhile."""
        self._operations_in_flight += 1

        async def run() -> None:
            try:
                await action(state)
            except Exception:
                log.exception("the action after %s's turn failed", state.member)
            finally:
                self._operations_in_flight -= 1
                self._changed.set()

        task = asyncio.create_task(run(), name=f"ensemble-after-{state.member}")
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    @contextlib.asynccontextmanager
    async def operation(self) -> AsyncIterator[None]:
        """Count a team operation in flight, so the team is not 'settled' meanwhile."""
        self._operations_in_flight += 1
        try:
            yield
        finally:
            self._operations_in_flight -= 1
            self._changed.set()

    @property
    def worktree_root(self) -> Path:
        return self.settings.worktree_root or default_worktree_root(self.repo_root)

    # Members

    def member(self, name: str) -> Member | None:
        return self.store.get_member(self._team.id, name) if self._team is not None else None

    def members(self) -> list[Member]:
        return self.store.list_members(self._team.id) if self._team is not None else []

    def require_member(self, name: str) -> Member:
        """The member named *name*, or a refusal that lists the members there are."""
        team = self.require_team()
        found = self.store.get_member(team.id, name)
        if found is None:
            names = ", ".join(m.name for m in self.store.list_members(team.id))
            raise Refused(f"There is no member {name!r} in team {team.name}; members: {names}.")
        return found

    def require_team(self) -> Team:
        if self._team is None:
            raise Refused("There is no team yet.")
        return self._team

    def update_member(self, name: str, update: MemberUpdate) -> Member:
        return self.store.update_member(self.require_team().id, name, update)

    def pause(self, reason: str, cause: str) -> None:
        """Hold every new prompt to the team (deliveries, nudges, continuation) for
        *reason*; the human's own words still go through, and only the human lifts it."""
        self.paused = Pause(reason, cause)
        self.record(TeamPaused(member=LEAD_NAME, text=reason, cause=cause))
        self._changed.set()

    async def unpause(self) -> None:
        """Lift the pause and deliver what waited."""
        if self.paused is None:
            return
        self.paused = None
        self.record(TeamUnpaused(member=LEAD_NAME))
        for state in self.sessions:
            await self.delivery.deliver_pending(state)
        self._changed.set()

    def member_standing(self, name: str) -> MemberStanding | None:
        """*name*'s status and whether its shutdown was asked for (cheap: read per change)."""
        team = self._team
        return self.store.member_standing(team.id, name) if team is not None else None

    def add_usage(self, name: str, tokens: Tokens, cost: float) -> None:
        """Add one step's tokens and cost to *name*'s totals."""
        self.store.add_member_usage(
            self.require_team().id,
            name,
            input_tokens=tokens.input,
            output_tokens=tokens.output,
            reasoning_tokens=tokens.reasoning,
            cost=cost,
        )

    def record(self, event: TeamEvent) -> None:
        """The one way a team event is told: into the team's log, then to the feed."""
        if event.logged and self._team is not None:
            detail = event.record()
            member = event.member or event.sender
            # The entry's time is the event's, already written out in its record.
            self.store.append_event(self._team.id, event.type, member, detail, time=detail["time"])
        self.feed.emit(event)

    # Lifecycle

    async def start_events(self, stream: EventSource | None = None) -> None:
        """Follow the event stream (every server's); returns once it is connected (subscribe
        before prompting)."""
        events = stream or event_source(self.client)
        self._stream_task = asyncio.create_task(self._follow(events), name="ensemble-events")
        async with asyncio.timeout(30):
            await self._stream_ready.wait()

    async def stop_events(self) -> None:
        if self._stream_task is not None:
            self._stream_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._stream_task
            self._stream_task = None

    async def _follow(self, stream: EventSource) -> None:
        async for batch in stream.event_batches():
            if isinstance(batch, list):
                await self.reactions.handle_events(batch)
            else:
                await self._take(batch)

    async def _take(self, item: StreamConnected | StreamDisconnected) -> None:
        try:
            if isinstance(item, StreamConnected):
                self._servers_down.discard(item.server)
                self._servers_seen.add(item.server)
                if item.reconnected:
                    await self.resync(item.server)
                # With several servers: connected once every one is (a reconnect is told
                # as it happens, the first connection once all have connected).
                if len(self._servers_seen) < len(self.client.servers) or self._servers_down:
                    return
                if item.reconnected or not self._stream_ready.is_set():
                    self.record(ServerConnected(reconnected=item.reconnected))
                self.connected = True
                self._stream_ready.set()
            else:
                self._servers_down.add(item.server)
                if self.connected:
                    self.record(ServerDisconnected(text=item.reason))
                self.connected = False
        except Exception:
            log.exception("the coordinator failed on a stream item; carrying on")

    async def resync(self, server: int | None = None) -> None:
        """Reconcile with the server (number *server*; None: every one), by recovery's
        handler, which the composition root sets."""
        if self._resync is not None:
            await self._resync(server)

    # The model

    async def check_model(self) -> ModelCheck | None:
        """Name the lead's model and say at once (`model.unavailable`) if it cannot work."""
        try:
            found = await check_model(self.client, str(self.repo_root), self.settings.default_model)
        except OpenCodeError as error:
            log.warning("could not check the model: %s", error)
            return None
        self.model_check = found
        if found.usable:
            self.record(ModelChecked(member=LEAD_NAME, text=found.source, model=found.model))
        else:
            self.model_problem = found.describe()
            self.record(
                ModelUnavailable(member=LEAD_NAME, text=found.describe(), model=found.model)
            )
        return found

    def model_of(self, state: SessionState) -> str | None:
        """The model a session uses: pinned or learned, else the lead's checked one."""
        if state.model is not None:
            return str(state.model)
        if state.member == LEAD_NAME and self.model_check is not None:
            return self.model_check.model
        return None

    def model_unreachable(self, state: SessionState, reason: str) -> None:
        """Say why a turn's model cannot be reached, with the fix (`stop_hopeless` then
        stops the turn)."""
        model = self.model_of(state) or "OpenCode's default model"
        text = f"the model {model} cannot be reached: {reason}. {FIX}"
        state.error = text
        self.model_problem = text
        self.record(MemberErrored(member=state.member, text=text))

    def model_answered(self) -> None:
        """A model answered: whatever was said about models no longer holds."""
        self.model_problem = None

    async def stop_hopeless(self, state: SessionState) -> None:
        """Stop a turn whose model cannot be reached: its retries would never end."""
        try:
            await self.client.abort(state.session_id, self.session_folder(state.directory))
        except OpenCodeError as error:
            log.warning("could not stop %s's hopeless retries: %s", state.member, error)

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
        self.track(state)
        await self.register_tools(directory, self.issue_token(LEAD_NAME, session_id, is_lead=True))
        self.record(LeadStarted(member=LEAD_NAME, session=session_id))
        return state

    def session_folder(self, directory: str | Path) -> str:
        """The folder to name in a request about a session made in *directory*: that folder
        while it exists, else the repository root (a merged teammate's worktree is gone).

        A request that names a removed folder has OpenCode 1.18.33 start an instance for it,
        kept for that path, which a later teammate of the same name would get (see
        `release_worktree`). A worktree's sessions belong to the repository's OpenCode
        project, so OpenCode answers them (transcript, fork, abort, delete) through the
        repository. Never for a prompt: a turn's tools run in the folder the request names
        (see `prompt`)."""
        if os.path.isdir(directory):
            return str(directory)
        return str(self.repo_root)

    async def release_worktree(self, member: Member, worktree: Path) -> None:
        """Just before a teammate's worktree is removed (its turns over): move its sessions
        into the repository and have OpenCode drop its instance for the worktree.

        OpenCode 1.18.33 answers every request about a session in the session's own folder,
        whatever folder the request names: a transcript read after the removal started an
        instance for the missing folder, which it kept for that path, and a later teammate
        of the same name there had its session put in no project ("global"), which cannot
        be forked. Moved, the sessions are answered in the repository, transcripts whole.
        Best effort: a server without the move route keeps them where they were."""
        team = self.require_team()
        sessions = [member.session_id] if member.session_id is not None else []
        sessions += [
            earlier.session_id
            for earlier in self.store.earlier_sessions(team.id, member.name)
            if earlier.directory == worktree
        ]
        if sessions and await self.client.moves_sessions():
            for session_id in sessions:
                try:
                    # A pool keeps them on the worktree's server (it routes them from now on).
                    await self.client.move_session(
                        session_id, str(self.repo_root), origin=str(worktree)
                    )
                except OpenCodeError as error:
                    log.warning(
                        "kept %s's session %s in %s: %s", member.name, session_id, worktree, error
                    )
        await self.drop_instance(worktree)

    async def drop_instance(self, directory: Path) -> None:
        """Have OpenCode drop its instance for a folder ensemble-tui made sessions in, just
        before the folder is removed (its sessions already deleted or stopped).

        OpenCode 1.18.33 starts some services of a folder's instance (the folder's realPath,
        the file search) only with its first turn, and they go on after an abort; one that
        ran after the folder had gone failed and stayed failed for that path, so a later
        session in a folder made again there never had its turn answered. A dropped
        instance is also not kept for a removed folder for as long as the server runs.
        Best effort: an OpenCode that does not answer is logged and the folder goes all
        the same. Never for a folder already gone (the request would have OpenCode start
        an instance for a missing folder)."""
        if not await asyncio.to_thread(directory.is_dir):
            return
        try:
            await self.client.dispose_instance(str(directory))
        except OpenCodeError as error:
            log.warning("OpenCode kept its instance for %s: %s", directory, error)

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
        return next((s for s in self._sessions.values() if s.member == LEAD_NAME), None)

    def session_of(self, member: str) -> SessionState | None:
        return next((s for s in self._sessions.values() if s.member == member), None)

    async def prompt(self, state: SessionState, text: str, *, system: str | None = None) -> None:
        """Send a user message to a member's session, pinning its agent and model."""
        if state.member == LEAD_NAME:
            system = "\n\n".join(part for part in (LEAD_SYSTEM, self.digest(), system) if part)
        elif state.needs_context and (reminder := self.teammate_reminder(state.member)):
            text = f"{reminder}\n\n{text}"
        if not await asyncio.to_thread(os.path.isdir, state.directory):
            # Naming a removed folder leaves OpenCode an instance for it (`session_folder`),
            # and a merged teammate's session, moved to the repository, would work there.
            raise OpenCodeError(
                "POST prompt_async",
                f"{state.member}'s folder {state.directory} is gone (merged or removed); "
                "it takes no more prompts",
            )
        state.needs_context = False
        state.prompt_sent()
        self._changed.set()
        self._record_prompted_status(state)
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
            self._record_prompted_status(state)
            raise

    def _record_prompted_status(self, state: SessionState) -> None:
        """Store the status a prompt gives (working) before OpenCode hears of it: OpenCode's
        busy event changes nothing in memory once a prompt is sent, so the store kept
        "idle" through every turn after the first, and a resume after a crash did not know
        the turn had been cut. A teammate still starting stays starting until its turn ends."""
        if self._team is None:
            return
        standing = self.store.member_standing(self._team.id, state.member)
        if standing is not None and standing.status is not MemberStatus.STARTING:
            self.record_status_change(state, state.status(), standing)

    def teammate_reminder(self, name: str) -> str | None:
        """Who a compacted teammate is, to put before its next prompt (None if unknown)."""
        member = self.member(name)
        if member is None or self._team is None:
            return None
        names = [m.name for m in self.members()]
        return compaction_reminder(teammate_context(member, self._team.name, names))

    def digest(self) -> str:
        if self._team is None:
            return lead_digest(None, [], [], 0)
        members = self.store.list_members(self._team.id)
        tasks = self.board.list_tasks(self._team.id)
        unread = len(self.store.list_undelivered(self._team.id, LEAD_NAME))
        return lead_digest(self._team.name, members, tasks, unread)

    # Ending a member

    async def commit_member_work(self, member: Member, reason: str) -> str | None:
        """Commit a teammate's uncommitted changes to its branch (None if there were none)."""
        path = member.worktree_path
        if path is None or member.branch is None or not path.exists():
            return None
        message = wip_message(member.name, reason)
        return await asyncio.to_thread(commit_work_in_progress, path, message)

    def end_member(
        self, member: Member, status: MemberStatus, error: str | None = None
    ) -> list[str]:
        """Mark a teammate ended: its tasks go back to the board, its late messages are
        dropped, its token stops working. Returns the ids of the released tasks."""
        team = self.require_team()
        self.delivery.drop_undeliverable(member.name)
        released = self.board.release_member_tasks(team.id, member.name)
        for task in released:
            self.record(TaskReleased(member=member.name, task=task.id, text=task.content))
        update = MemberUpdate(status=status, shutdown_requested=False, error=error)
        self.store.update_member(team.id, member.name, update)
        self.tokens.revoke_member(member.name)
        return [task.id for task in released]

    async def finish_shutdown(self, member: Member, reason: str) -> None:
        """Mark a stopped teammate shut down: commit its work, release its tasks."""
        try:
            await self.commit_member_work(member, reason)
        except GitError as error:
            log.warning("could not commit %s's work: %s", member.name, error)
        released = self.end_member(member, MemberStatus.SHUT_DOWN)
        self.record(MemberShutDown(member=member.name, text=reason, released=released))

    # What the reactions to events change

    def record_status(self, state: SessionState) -> None:
        """Store the status a session's state stands for, if it changed."""
        if self._team is not None:
            standing = self.store.member_standing(self._team.id, state.member)
            self.record_status_change(state, state.status(), standing)

    def record_status_change(
        self, state: SessionState, status: MemberStatus, standing: MemberStanding | None
    ) -> None:
        """Store *status* for *state*'s member, whose *standing* was read just before, if
        it changed and the member has not ended."""
        if standing is None or self._team is None or standing.status.ended:
            return
        if standing.status != status:
            error = state.error if state.error else None
            self.store.set_member_status(self._team.id, state.member, status, error)
            self.record(MemberStatusChanged(member=state.member, text=status.value))

    # Settling

    def note_change(self) -> None:
        """Something that `settled()` reads may have changed: look again."""
        self._changed.set()

    def settled(self) -> bool:
        """True when every session is idle, nothing is being done, and nothing waits."""
        if self._operations_in_flight or self._waiting_actions or self.reviews.running:
            return False
        if not all(state.idle for state in self._sessions.values()):
            return False
        if self._team is None or self.paused is not None:
            # A paused team's messages wait for the pause to be lifted.
            return True
        waiting = self.store.count_undelivered(self._team.id)
        return waiting == 0 and not self.store.undelivered_notices(self._team.id)

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
                    for s in self._sessions.values()
                    if s.awaiting_turn and time.monotonic() - s.sent_at > STALE_IDLE_GRACE * 2
                ]
                if stale:
                    await self.resync()
                self._changed.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(2.0):
                        await self._changed.wait()
