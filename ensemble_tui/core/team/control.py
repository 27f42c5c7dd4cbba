"""What the human can do to the team: the screen's (and the palette's) one entry point.

Each method does one action through the coordinator and returns a short sentence of
what happened, or raises `Refused` whose message says why nothing was done.
"""

from __future__ import annotations

import asyncio

from ensemble_tui.core.errors import Refused
from ensemble_tui.core.git.merge import MergeResult, preview_merge
from ensemble_tui.core.git.worktrees import BranchDiff, branch_diff
from ensemble_tui.core.models import LEAD_NAME, EarlierSession, Member, Team, TeamStatus
from ensemble_tui.core.store.checks import CheckResult
from ensemble_tui.core.team.coordinator import Coordinator
from ensemble_tui.core.team.events import (
    PermissionAnswered,
    QuestionAnswered,
    UntilDoneChanged,
)
from ensemble_tui.core.team.finishing import cleanup_team, merge_member, shutdown_member
from ensemble_tui.core.team.forking import (
    ForkRequest,
    ForkView,
    choose_fork,
    compare_forks,
    fork_member,
)
from ensemble_tui.core.team.handoff import Handoff, HandoffMode, hand_off
from ensemble_tui.core.team.read_model import (
    PendingRequest,
    TeamSnapshot,
    pending_requests,
    snapshot,
)
from ensemble_tui.core.team.sessions import SessionState
from ensemble_tui.core.team.spawn import approve_plan
from ensemble_tui.opencode.client import OpenCodeError
from ensemble_tui.opencode.models import (
    MessageWithParts,
    PermissionReply,
)


class TeamControl:
    """The human's actions on one coordinator."""

    def __init__(self, coordinator: Coordinator) -> None:
        self.coordinator = coordinator

    def _state(self, member: str) -> SessionState:
        state = self.coordinator.session_of(member)
        if state is None:
            raise Refused(f"{member} has no session (yet).")
        return state

    def _member(self, name: str) -> Member:
        return self.coordinator.require_member(name)

    def members(self) -> list[Member]:
        """The team's members, the lead first (empty before the lead makes a team)."""
        return self.coordinator.members()

    async def send(self, member: str, text: str) -> str:
        """Send the human's text to a member's session as a user message."""
        if not text.strip():
            raise Refused("Type something to send first.")
        try:
            await self.coordinator.prompt(self._state(member), text)
        except OpenCodeError as error:
            raise Refused(str(error)) from None
        return f"Sent to {member}."

    async def transcript(self, member: str) -> list[MessageWithParts]:
        """The member's whole session so far."""
        state = self._state(member)
        try:
            folder = self.coordinator.session_folder(state.directory)
            return await self.coordinator.client.messages(state.session_id, folder)
        except OpenCodeError as error:
            raise Refused(str(error)) from None

    def pending(self) -> list[PendingRequest]:
        """Every permission and question waiting for an answer, the lead's first."""
        return pending_requests(self.coordinator)

    def snapshot(self, *, messages_after: int = 0) -> TeamSnapshot:
        """The team as the screen shows it (see `read_model`)."""
        return snapshot(self.coordinator, messages_after=messages_after)

    def session_id(self, member: str) -> str | None:
        """The OpenCode session the member works in (None before it has one)."""
        state = self.coordinator.session_of(member)
        return state.session_id if state is not None else None

    def is_working(self, member: str) -> bool:
        state = self.coordinator.session_of(member)
        return state is not None and not state.idle

    @property
    def has_team(self) -> bool:
        return self.coordinator.team is not None

    def attach_target(self, member: str) -> tuple[str, str, str] | None:
        """(server URL, session id, directory) to open the member in OpenCode's own TUI."""
        state = self.coordinator.session_of(member)
        if state is None:
            return None
        folder = self.coordinator.session_folder(state.directory)
        server = self.coordinator.client.server_for_session(state.session_id, folder)
        return server.base_url, state.session_id, folder

    @property
    def server_password(self) -> str | None:
        """The OpenCode server's password, for the `opencode attach` that opens a member
        (the servers ensemble-tui starts share one)."""
        return self.coordinator.client.password

    async def answer_permission(
        self, request: PendingRequest, reply: PermissionReply, message: str | None = None
    ) -> str:
        """Allow once, allow always, or reject (with an optional reason)."""
        if request.permission is None:
            raise Refused("That request is a question, not a permission.")
        state = self._state(request.member)
        try:
            await self.coordinator.client.reply_permission(
                request.id, state.directory, reply, message
            )
        except OpenCodeError as error:
            raise Refused(str(error)) from None
        state.permissions.pop(request.id, None)
        self.coordinator.record(
            PermissionAnswered(member=request.member, text=reply, request=request.id)
        )
        return {"once": "Allowed once.", "always": "Allowed always.", "reject": "Rejected."}[reply]

    async def answer_question(self, request: PendingRequest, answers: list[list[str]]) -> str:
        """Answer a question: one list of chosen labels (or free text) per question."""
        if request.question is None:
            raise Refused("That request is a permission, not a question.")
        state = self._state(request.member)
        try:
            await self.coordinator.client.reply_question(request.id, state.directory, answers)
        except OpenCodeError as error:
            raise Refused(str(error)) from None
        state.questions.pop(request.id, None)
        self.coordinator.record(QuestionAnswered(member=request.member))
        return "Answered."

    async def diff(self, member: str) -> BranchDiff:
        """The teammate's work against its base: committed and uncommitted."""
        found = self._member(member)
        if found.branch is None or found.base_commit is None:
            raise Refused(f"{member} has no branch (read-only teammates change nothing).")
        repo = self.coordinator.repo_root
        return await asyncio.to_thread(branch_diff, repo, found.branch, found.base_commit)

    async def preview_merge(self, member: str) -> MergeResult:
        """What merging the teammate would do, without touching your tree (its uncommitted
        work is first committed to its own branch, so the preview sees all of it)."""
        found = self._member(member)
        if found.branch is None:
            raise Refused(f"{member} has no branch to merge.")
        await self.coordinator.commit_member_work(found, "preview")
        return await asyncio.to_thread(preview_merge, self.coordinator.repo_root, found.branch)

    def _active_team(self) -> Team:
        """The team, or a refusal that says it ended already (the lead may have cleaned up
        while a confirmation was open)."""
        team = self.coordinator.team
        if team is not None:
            return team
        ended = self.coordinator.store.list_teams(TeamStatus.ARCHIVED)
        if ended:
            last = max(ended, key=lambda found: found.created)
            raise Refused(f"Team {last.name} was already cleaned up; there is nothing left to do.")
        raise Refused("There is no team yet.")

    @property
    def check_command(self) -> str | None:
        """The `check` setting: run on a branch before it is merged (None: no check)."""
        return self.coordinator.checks.command

    async def check(self, member: str) -> CheckResult | None:
        """The check of the teammate's branch as it is now (run if this commit was not
        checked yet); None when no `check` is set."""
        team = self.coordinator.require_team()
        return await self.coordinator.checks.check(team, self._member(member), reason="merge")

    async def review_blocker(self, member: str) -> str | None:
        """Why the teammate's branch may not merge for want of an approving review (an
        unreviewed commit is sent to review now); None when it may, or no review is set."""
        team = self.coordinator.require_team()
        return await self.coordinator.reviews.merge_blocker(team, self._member(member))

    async def merge(self, member: str, *, override: bool = False) -> str:
        """Merge the teammate's branch; *override* merges it although its check did not
        pass or no review approved it (the screen asks the human first)."""
        team = self._active_team()
        return await merge_member(self.coordinator, team, self._member(member), override=override)

    async def fork(self, member: str, name: str, prompt: str) -> str:
        """Fork *member*'s conversation into a new teammate *name* that works on *prompt*."""
        team = self.coordinator.require_team()
        forked = await fork_member(self.coordinator, team, ForkRequest(name, prompt, member))
        return f"Forked {member} into {name} (branch {forked.branch})."

    async def fork_many(self, member: str, name: str, prompts: list[str]) -> str:
        """Fork *member* once per prompt, as one group: *name*-1, *name*-2, ..."""
        team = self.coordinator.require_team()
        prompts = [prompt.strip() for prompt in prompts if prompt.strip()]
        if not prompts:
            raise Refused("Write one prompt per line: one fork each.")
        names = [f"{name}-{number}" for number in range(1, len(prompts) + 1)]
        first = await fork_member(self.coordinator, team, ForkRequest(names[0], prompts[0], member))
        for fork_name, prompt in zip(names[1:], prompts[1:], strict=True):
            request = ForkRequest(fork_name, prompt, member, group=first.fork_group)
            await fork_member(self.coordinator, team, request)
        return f"Forked {member} {len(names)} ways: {', '.join(names)}."

    async def compare_forks(self, member: str) -> list[ForkView]:
        """The forks of *member*'s group side by side (see `forking.compare_forks`)."""
        return await compare_forks(self.coordinator, self.coordinator.require_team(), member)

    async def choose_fork(self, member: str) -> str:
        """Merge the fork *member*; shut the others of its group down, branches kept."""
        return await choose_fork(self.coordinator, self.coordinator.require_team(), member)

    async def handoff(self, member: str, mode: str, text: str, agent: str | None = None) -> str:
        """Hand *member*'s work on (message, new or compact), now or after its turn."""
        try:
            chosen = HandoffMode(mode)
        except ValueError:
            raise Refused(f"Unknown mode {mode!r}: use message, new or compact.") from None
        team = self.coordinator.require_team()
        return await hand_off(self.coordinator, team, Handoff(member, chosen, text, agent or None))

    def earlier_sessions(self, member: str) -> list[EarlierSession]:
        """The sessions *member* worked in before its current one, oldest first."""
        team = self.coordinator.team
        return self.coordinator.store.earlier_sessions(team.id, member) if team else []

    async def earlier_transcript(self, earlier: EarlierSession) -> list[MessageWithParts]:
        """The messages of one of a member's earlier sessions (it is kept in OpenCode)."""
        try:
            folder = self.coordinator.session_folder(earlier.directory)
            return await self.coordinator.client.messages(earlier.session_id, folder)
        except OpenCodeError as error:
            raise Refused(str(error)) from None

    async def shutdown(self, member: str, *, force: bool = False) -> str:
        if member == LEAD_NAME:
            raise Refused("Only teammates can be shut down.")
        team = self._active_team()
        return await shutdown_member(self.coordinator, team, self._member(member), force=force)

    async def cleanup(self) -> str:
        return await cleanup_team(self.coordinator, self._active_team())

    async def approve_plan(self, member: str) -> str:
        """Approve a plan-approval teammate's plan: it gets write access and goes on."""
        team = self.coordinator.team
        if team is None:
            raise Refused("There is no team yet.")
        said = await approve_plan(self.coordinator, team, self._member(member))
        await self.coordinator.delivery.deliver_pending(self._state(member))
        return said

    @property
    def paused(self) -> str | None:
        """Why the team is paused (None: it runs)."""
        pause = self.coordinator.paused
        return pause.reason if pause is not None else None

    async def toggle_pause(self) -> str:
        """Pause the team (no new prompts: deliveries, nudges, continuation wait), or lift
        the pause, whoever set it, and deliver what waited."""
        if self.coordinator.paused is not None:
            await self.coordinator.unpause()
            return "The team runs again; what waited is delivered."
        if self.coordinator.team is None:
            raise Refused("There is no team to pause.")
        self.coordinator.pause("paused by you", "human")
        return "Paused: no new prompts go to the team (what you type still does)."

    def toggle_until_done(self) -> str:
        """Turn until-done on or off: whether the lead is continued while work is open."""
        self.coordinator.until_done = not self.coordinator.until_done
        self.coordinator.record(UntilDoneChanged(enabled=self.coordinator.until_done))
        if self.coordinator.until_done:
            return "Until done: the lead is told what remains whenever the team stops early."
        return "Until done is off: the team stops when the lead does."

    async def abort(self, member: str) -> str:
        """Stop the member's current turn (its session stays; send it something to resume)."""
        state = self._state(member)
        if state.idle:
            raise Refused(f"{member} is not working; there is no turn to stop.")
        state.stop_requested = True
        try:
            folder = self.coordinator.session_folder(state.directory)
            await self.coordinator.client.abort(state.session_id, folder)
        except OpenCodeError as error:
            raise Refused(str(error)) from None
        return f"Stopped {member}'s current turn."
