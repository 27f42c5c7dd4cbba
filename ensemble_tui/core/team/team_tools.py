"""The team tools as the coordinator answers them (`TeamOperations` for the MCP server).

Every answer is short text with ids an agent can act on; every refusal is a
`Refused` with a sentence that says what was wrong and what is allowed, raised
before anything changes.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Collection, Sequence

from ensemble_tui.core.errors import Refused
from ensemble_tui.core.models import LEAD_NAME, Member, TaskStatus, Team, TeamStatus
from ensemble_tui.core.store.reviews import Verdict
from ensemble_tui.core.store.store import StoreError
from ensemble_tui.core.team.coordinator import Coordinator
from ensemble_tui.core.team.events import (
    MemberViewed,
    MessageParked,
    MessageSent,
    TaskAdded,
    TaskClaimed,
    TaskCompleted,
    TaskUnblocked,
    TeamCreated,
)
from ensemble_tui.core.team.finishing import cleanup_team, merge_member, shutdown_member
from ensemble_tui.core.team.forking import ForkRequest, choose_fork, fork_member
from ensemble_tui.core.team.handoff import Handoff, HandoffMode, hand_off
from ensemble_tui.core.team.identity import Caller
from ensemble_tui.core.team.prompts import board_text, open_task_count
from ensemble_tui.core.team.spawn import (
    SpawnRequest,
    approve_plan,
    is_plan_approval,
    spawn_teammate,
)
from ensemble_tui.core.team.task_specs import TaskSpec

# Short thanks and acknowledgements never wake anyone: two polite agents could loop.
# Only a message made of nothing but these phrases is one; any other word is content.
_POLITE_PHRASES = re.compile(
    r"thanks?( you)?( (so|very) much| a lot| again)?|thank you|thx|ty|ok(ay)?|k|got it|"
    r"great( work| job| stuff)?|good( work| job)|nice( work| job| one)?|well done|perfect|"
    r"noted|ack(nowledged)?|cheers|sounds good|will do|roger( that)?|understood|received|"
    r"excellent|awesome|appreciated|much appreciated|no problem|np|you too|"
    r"(hi|hello|hey|dear)|all|everyone|team|folks|lead",
    re.IGNORECASE,
)
_WORDS = re.compile(r"[a-z][a-z0-9'-]*", re.IGNORECASE)
PAIR_WAKE_LIMIT = 4


def is_acknowledgement(text: str, names: Collection[str] = ()) -> bool:
    """A message that is nothing but a polite phrase ("Thanks!", "OK, got it, bob.").

    Such a message is parked rather than delivered. *names* are member names that may be
    addressed in it; a message with any other word ("OK, t1 is finished") is a report.
    """
    if len(text) > 120 or "?" in text:
        return False
    words = " ".join(_WORDS.findall(text)).lower()
    if not words:
        return False
    addressed = "|".join(re.escape(name.lower()) for name in names if name)
    allowed = _POLITE_PHRASES.pattern + (f"|{addressed}" if addressed else "")
    return re.fullmatch(rf"(({allowed})( |$))+", words + " ", re.IGNORECASE) is not None


_REPORTS = " They report to you with team_message when done."


class TeamTools:
    """Answers the agents' team tool calls for one coordinator."""

    def __init__(self, coordinator: Coordinator) -> None:
        self.coordinator = coordinator
        self.store = coordinator.store
        self.board = coordinator.board
        self._pair_wakes: dict[tuple[str, str], list[float]] = {}

    def identify(self, token: str) -> Caller | None:
        return self.coordinator.identify(token)

    def _team(self, caller: Caller) -> Team:
        team = self.coordinator.team
        if team is None or caller.team_id is None:
            hint = "create one with team_create" if caller.is_lead else "ask the lead"
            ended = [
                t
                for t in self.store.list_teams(TeamStatus.ARCHIVED)
                if t.lead_session_id == caller.session_id
            ]
            if ended:
                last = max(ended, key=lambda t: t.created)
                raise Refused(f"Team {last.name} was already cleaned up; {hint} for new work.")
            raise Refused(f"There is no team yet; {hint}.")
        return team

    def _member(self, team: Team, name: str) -> Member:
        member = self.store.get_member(team.id, name)
        if member is None:
            names = ", ".join(m.name for m in self.store.list_members(team.id))
            raise Refused(f"There is no member {name!r} in team {team.name}; members: {names}.")
        return member

    # Lead only

    async def team_create(self, caller: Caller, name: str) -> str:
        if self.coordinator.team is not None:
            raise Refused(
                f"You already lead team {self.coordinator.team.name}; one team at a time."
            )
        lead = self.coordinator.lead
        model = str(lead.model) if lead is not None and lead.model is not None else None
        try:
            team = self.store.create_team(
                name, self.coordinator.repo_root, caller.session_id, lead_model=model
            )
        except StoreError as error:
            raise Refused(str(error)) from None
        self.coordinator.set_team(team)
        self.coordinator.record(TeamCreated(member=LEAD_NAME, text=name))
        return (
            f"Team {name} created. Next: add tasks with team_tasks_add, then team_spawn "
            "teammates (one per independent piece of work)."
        )

    async def team_spawn(
        self,
        caller: Caller,
        name: str,
        prompt: str,
        agent: str,
        model: str | None,
        worktree: bool,
        plan_approval: bool,
        more: Sequence[SpawnRequest] = (),
    ) -> str:
        team = self._team(caller)
        if self.coordinator.paused is not None:
            raise Refused(
                f"The team is paused ({self.coordinator.paused.reason}); no teammate can be "
                "spawned until the human lifts the pause."
            )
        requests = [SpawnRequest(name, prompt, agent, model, worktree, plan_approval), *more]
        for request in requests:
            if not request.prompt.strip():
                raise Refused(f"team_spawn needs a prompt for {request.name}: tell it what to do.")
        names = [request.name for request in requests]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise Refused(f"team_spawn names {', '.join(twice)} more than once; nothing spawned.")
        if len(requests) == 1:
            spawned = await self._spawn_one(team, requests[0])
            return f"{spawned} It reports to you with team_message when done."
        # All at once: each spawn waits on OpenCode (a new folder's instance), not on
        # the others, so ten teammates start in about the time of one; past
        # `max_starting`, a spawn waits for one of those starting to have started.
        outcomes = await asyncio.gather(
            *(self._spawn_one(team, r, position) for position, r in enumerate(requests)),
            return_exceptions=True,
        )
        lines = []
        for outcome in outcomes:
            if isinstance(outcome, Refused):
                lines.append(f"Not spawned: {outcome}")
            elif isinstance(outcome, BaseException):
                raise outcome
            else:
                lines.append(outcome)
        if not any(isinstance(outcome, str) for outcome in outcomes):
            raise Refused("\n".join(lines))
        return "\n".join(lines) + _REPORTS

    async def _spawn_one(self, team: Team, request: SpawnRequest, position: int = 0) -> str:
        try:
            member = await spawn_teammate(self.coordinator, team, request, position=position)
        except ValueError as error:
            raise Refused(str(error)) from None
        where = f"branch {member.branch}" if member.branch else "read-only"
        return f"Spawned {request.name} ({where})."

    async def team_fork(
        self,
        caller: Caller,
        name: str,
        prompt: str,
        agent: str | None,
        model: str | None,
        from_message: str | None,
    ) -> str:
        team = self._team(caller)
        if not caller.is_lead and not self.coordinator.settings.teammates_may_fork:
            raise Refused(
                "Only the lead may fork: the user has not allowed teammates to fork themselves "
                "(setting teammates_may_fork). Ask the lead with team_message instead."
            )
        request = ForkRequest(name, prompt, caller.member, agent, model, from_message)
        member = await fork_member(self.coordinator, team, request)
        return (
            f"Forked your conversation into {name} (branch {member.branch}); it works on its "
            "prompt now and reports to the lead with team_message when done."
        )

    async def team_choose(self, caller: Caller, member: str) -> str:
        team = self._team(caller)
        return await choose_fork(self.coordinator, team, self._member(team, member).name)

    async def team_handoff(
        self, caller: Caller, mode: str, text: str, agent: str | None, member: str | None
    ) -> str:
        team = self._team(caller)
        target = self._member(team, member).name if member is not None else caller.member
        if target != caller.member and not caller.is_lead:
            raise Refused("Only the lead hands off another member; omit member for yourself.")
        try:
            chosen = HandoffMode(mode)
        except ValueError:
            raise Refused(f"Unknown mode {mode!r}: use 'message', 'new' or 'compact'.") from None
        sender = caller.member
        return await hand_off(
            self.coordinator, team, Handoff(target, chosen, text, agent, sender=sender)
        )

    async def team_shutdown(self, caller: Caller, member: str, force: bool) -> str:
        team = self._team(caller)
        return await shutdown_member(
            self.coordinator, team, self._member(team, member), force=force
        )

    async def team_merge(self, caller: Caller, member: str) -> str:
        team = self._team(caller)
        return await merge_member(self.coordinator, team, self._member(team, member))

    async def team_cleanup(self, caller: Caller) -> str:
        return await cleanup_team(self.coordinator, self._team(caller))

    async def team_view(self, caller: Caller, member: str) -> str:
        team = self._team(caller)
        self._member(team, member)
        self.coordinator.record(MemberViewed(member=member))
        return f"The ensemble screen now shows {member}'s session."

    # Everyone

    async def team_status(self, caller: Caller) -> str:
        team = self._team(caller)
        lines = [f"Team {team.name}:"]
        for m in self.store.list_members(team.id):
            task = f", on {m.current_task_id}" if m.current_task_id else ""
            where = f", branch {m.branch}" if m.branch else ""
            lines.append(f"- {m.name}: {m.status.value}{task}{where}")
        tasks = self.board.list_tasks(team.id)
        done = sum(t.status is TaskStatus.COMPLETED for t in tasks)
        lines.append(f"Tasks: {done} completed, {open_task_count(tasks)} open.")
        return "\n".join(lines)

    async def team_message(self, caller: Caller, to: str, text: str) -> str:
        team = self._team(caller)
        recipient = self._member(team, to)
        if caller.is_lead and recipient.plan_approval and is_plan_approval(text):
            # Write access first, so the approval arrives with the means to act on it.
            await approve_plan(self.coordinator, team, recipient)
        try:
            message = self.store.add_message(team.id, caller.member, to, text)
        except StoreError as error:
            raise Refused(str(error)) from None
        self.coordinator.record(
            MessageSent(sender=caller.member, recipient=to, text=text, message=message.id)
        )
        if self._should_park(caller.member, to, text):
            self.store.mark_delivered(message.id, to)
            self.coordinator.record(
                MessageParked(sender=caller.member, recipient=to, message=message.id)
            )
            return f"Message {message.id} saved for {to} (it will not be woken for it)."
        await self._deliver_to(to)
        return f"Message {message.id} sent to {to}."

    async def team_broadcast(self, caller: Caller, text: str) -> str:
        team = self._team(caller)
        try:
            message = self.store.add_message(team.id, caller.member, None, text)
        except StoreError as error:
            raise Refused(str(error)) from None
        self.coordinator.record(MessageSent(sender=caller.member, text=text, message=message.id))
        for member in self.store.list_members(team.id):
            if member.name != caller.member:
                await self._deliver_to(member.name)
        return f"Message {message.id} broadcast to the team."

    async def team_results(self, caller: Caller) -> str:
        team = self._team(caller)
        messages = self.store.take_unread(team.id, caller.member)
        if not messages:
            return "No unread messages."
        return "\n\n".join(f"[{m.id}] from {m.sender}: {m.text}" for m in messages)

    async def team_tasks_list(self, caller: Caller) -> str:
        return board_text(self.board.list_tasks(self._team(caller).id))

    async def team_tasks_add(self, caller: Caller, specs: list[TaskSpec]) -> str:
        team = self._team(caller)
        try:
            added = self.board.add_tasks(team.id, specs, created_by=caller.member)
        except StoreError as error:
            raise Refused(str(error)) from None
        for task in added:
            self.coordinator.record(
                TaskAdded(
                    member=caller.member,
                    task=task.id,
                    text=task.content,
                    depends_on=task.depends_on,
                    status=task.status.value,
                )
            )
        return "Added:\n" + board_text(added)

    async def team_claim(self, caller: Caller, task_id: str) -> str:
        team = self._team(caller)
        try:
            task = self.board.claim(team.id, task_id, caller.member)
        except StoreError as error:
            current = self.board.get_task(team.id, task_id.strip().lower())
            if current is not None and current.status is TaskStatus.BLOCKED:
                self.store.add_waiter(team.id, current.id, caller.member)
                raise Refused(f"{error} You will be told when it can be claimed.") from None
            raise Refused(str(error)) from None
        self.coordinator.record(TaskClaimed(member=caller.member, task=task.id))
        return f"You hold {task.id}: {task.content}"

    async def team_tasks_complete(self, caller: Caller, task_id: str, result: str | None) -> str:
        team = self._team(caller)
        try:
            done = self.board.complete(team.id, task_id, caller.member, result)
        except StoreError as error:
            raise Refused(str(error)) from None
        self.coordinator.record(TaskCompleted(member=caller.member, task=done.task.id, text=result))
        freed = []
        for task in done.unblocked:
            freed.append(task.id)
            self.coordinator.record(TaskUnblocked(task=task.id, text=task.content))
            notice = f"Task {task.id} can now be claimed: {task.content}"
            for waiter in self.store.notify_waiters(team.id, task.id, notice):
                await self._deliver_to(waiter)
        tail = f" Now claimable: {', '.join(freed)}." if freed else ""
        return f"Completed {done.task.id}.{tail}"

    # The reviewer

    async def team_review(self, caller: Caller, verdict: str, reasons: str) -> str:
        if caller.reviews is None:
            raise Refused("team_review is for the reviewer of a branch only.")
        self._team(caller)
        chosen = Verdict.APPROVED if verdict == "approve" else Verdict.CHANGES_REQUESTED
        return await self.coordinator.reviews.answer(caller, chosen, reasons.strip())

    # Delivery helpers

    def _should_park(self, sender: str, recipient: str, text: str) -> bool:
        if is_acknowledgement(text, (sender, recipient)):
            return True
        now = time.monotonic()
        window = self.coordinator.settings.ack_cooldown
        wakes = [t for t in self._pair_wakes.get((sender, recipient), []) if now - t < window]
        back = [t for t in self._pair_wakes.get((recipient, sender), []) if now - t < window]
        wakes.append(now)
        self._pair_wakes[(sender, recipient)] = wakes
        # A pair that keeps waking each other within the cooldown is talking in circles.
        return len(wakes) + len(back) > PAIR_WAKE_LIMIT * 2

    async def _deliver_to(self, name: str) -> None:
        state = self.coordinator.session_of(name)
        if state is not None:
            await self.coordinator.delivery.deliver_pending(state)
