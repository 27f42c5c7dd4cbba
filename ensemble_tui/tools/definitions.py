"""The eighteen team tools: names, descriptions written for agents, and their arguments.

Each tool is one strict argument model whose `description` tells an
agent what the tool does, when to use it and what it returns, and whose `call` hands
the validated arguments to the matching `TeamOperations` method.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from ensemble_tui.core.team.identity import Caller
from ensemble_tui.core.team.spawn import SpawnRequest
from ensemble_tui.core.team.task_specs import TaskSpec
from ensemble_tui.tools.api import NewTask, TeamOperations
from ensemble_tui.tools.arguments import (
    MAX_SPAWNS_PER_CALL,
    MAX_TASKS_PER_CALL,
    LongText,
    ShortText,
    ToolArguments,
)

_MEMBER = "A member's name as team_status shows it (e.g. 'alice')."


class TeamCreate(ToolArguments):
    tool_name: ClassVar[str] = "team_create"
    description: ClassVar[str] = (
        "Lead only. Create the team you lead; do this once, before team_spawn. "
        "Returns the team's name and id, or an error if you already lead an active team."
    )
    name: ShortText = Field(
        description="A short label for the work, unique in this repository (e.g. 'auth-refactor')."
    )

    async def call(self, operations: TeamOperations, caller: Caller) -> str:
        return await operations.team_create(caller, self.name)


class SpawnItem(BaseModel):
    """One more teammate of a team_spawn call."""

    model_config = ConfigDict(extra="forbid", strict=True)

    name: ShortText = Field(description="The teammate's name, as for team_spawn.")
    prompt: LongText = Field(description="Its first instructions, complete.")
    agent: ShortText = Field(default="build", description="Its OpenCode agent.")
    model: ShortText | None = Field(default=None, description="Its model, provider/model.")
    worktree: bool = Field(default=True, description="Its own worktree and branch.")
    plan_approval: bool = Field(default=False, description="Plan first, then wait for a go.")


class TeamSpawn(ToolArguments):
    tool_name: ClassVar[str] = "team_spawn"
    description: ClassVar[str] = (
        "Lead only. Start a teammate: a new agent with its own session and (by default) its "
        "own git worktree on branch ensemble/<team>/<name>; it starts on `prompt` at once. "
        "It sees nothing of your conversation, so make the prompt self-contained: the goal, "
        "the files involved, the task ids to claim, and to report back with team_message "
        "to 'lead' or team_tasks_complete. Create the team (team_create) and the tasks "
        "(team_tasks_add) first. Returns the member's name, branch and session id. To "
        "start several teammates, give the others in `more`: they start together."
    )
    name: ShortText = Field(
        description=(
            "The teammate's name: lowercase letters, digits and '-', starting with a letter, "
            "at most 31 characters (e.g. 'alice', 'api-tests'). It names its branch too."
        )
    )
    prompt: LongText = Field(description="The teammate's first instructions, complete.")
    agent: ShortText = Field(
        default="build",
        description="The OpenCode agent it runs as: 'build' (edits files) or 'plan' (read-only).",
    )
    model: ShortText | None = Field(
        default=None,
        description="A model written provider/model; omit it to use the team's default model.",
    )
    worktree: bool = Field(
        default=True,
        description=(
            "true: work in its own worktree and branch (merge it later with team_merge). "
            "false: work in the main directory; only for read-only work such as reviews."
        ),
    )
    plan_approval: bool = Field(
        default=False,
        description=(
            "true: it must send you its plan and wait for your go-ahead (team_message) "
            "before changing any file."
        ),
    )
    more: list[SpawnItem] = Field(
        default_factory=list,
        max_length=MAX_SPAWNS_PER_CALL - 1,
        description=(
            "More teammates to start with this one, all at the same time (much faster than "
            "one call each): each {name, prompt, agent, model, worktree, plan_approval}, "
            "the fields as above."
        ),
    )

    async def call(self, operations: TeamOperations, caller: Caller) -> str:
        more = [
            SpawnRequest(m.name, m.prompt, m.agent, m.model, m.worktree, m.plan_approval)
            for m in self.more
        ]
        return await operations.team_spawn(
            caller,
            self.name,
            self.prompt,
            self.agent,
            self.model,
            self.worktree,
            self.plan_approval,
            more,
        )


class TeamFork(ToolArguments):
    tool_name: ClassVar[str] = "team_fork"
    description: ClassVar[str] = (
        "Start a teammate that keeps your whole conversation so far: a fork of your "
        "session, moved into its own git worktree and branch (from the user's current "
        "commit), which then works on `prompt`. Fork several ways to try alternatives "
        "(one call each, same turn: they form a group you compare and pick from with "
        "team_choose). The lead may always fork; a teammate only if the user allows it. "
        "Returns the new member's name and branch."
    )
    name: ShortText = Field(
        description="The fork's name: lowercase letters, digits and '-', e.g. 'try-sqlite'."
    )
    prompt: LongText = Field(description="What this fork should do differently, complete.")
    agent: ShortText | None = Field(
        default=None, description="The OpenCode agent it runs as; omit it to keep yours."
    )
    model: ShortText | None = Field(
        default=None, description="A model written provider/model; omit it to keep yours."
    )
    from_message: ShortText | None = Field(
        default=None,
        description="A message id ('msg...'): copy only the conversation before it.",
    )

    async def call(self, operations: TeamOperations, caller: Caller) -> str:
        return await operations.team_fork(
            caller, self.name, self.prompt, self.agent, self.model, self.from_message
        )


class TeamChoose(ToolArguments):
    tool_name: ClassVar[str] = "team_choose"
    description: ClassVar[str] = (
        "Lead only. Keep one fork of a group: merge its branch into the user's working "
        "directory (as team_merge does) and shut the other forks of its group down, "
        "their branches kept. On a conflict nothing changes. Returns what was merged and "
        "the branches kept."
    )
    member: ShortText = Field(description="The fork to keep, e.g. 'try-sqlite'.")

    async def call(self, operations: TeamOperations, caller: Caller) -> str:
        return await operations.team_choose(caller, self.member)


class TeamHandoff(ToolArguments):
    tool_name: ClassVar[str] = "team_handoff"
    description: ClassVar[str] = (
        "Pass the work on, after your current turn ends (the call returns at once). "
        "mode 'message': the same conversation goes on with another agent (`agent`), "
        "prompted with `text`. mode 'new': a fresh session in the same worktree starts "
        "with `text` as its hand-off note (write everything the next phase needs); the "
        "old session is kept. mode 'compact': the conversation is summarized, then goes "
        "on with `text` (and `agent` if given). `member` hands off someone else (lead only)."
    )
    mode: Literal["message", "new", "compact"] = Field(
        description="'message', 'new' or 'compact' (see above)."
    )
    text: LongText = Field(description="The prompt (or hand-off note) the next turn starts with.")
    agent: ShortText | None = Field(
        default=None,
        description="The agent to go on with (needed for 'message'); omit it to keep the same.",
    )
    member: ShortText | None = Field(
        default=None, description="Whom to hand off; omit it for yourself."
    )

    async def call(self, operations: TeamOperations, caller: Caller) -> str:
        return await operations.team_handoff(caller, self.mode, self.text, self.agent, self.member)


class TeamShutdown(ToolArguments):
    tool_name: ClassVar[str] = "team_shutdown"
    description: ClassVar[str] = (
        "Lead only. Stop a teammate whose work is done or no longer needed. Its uncommitted "
        "work is committed to its branch first and its unfinished tasks go back to the "
        "board. Merge its work afterwards with team_merge. Returns what happened."
    )
    member: ShortText = Field(description=_MEMBER)
    force: bool = Field(
        default=False,
        description="true: stop it even in the middle of a turn; false: only once it is idle.",
    )

    async def call(self, operations: TeamOperations, caller: Caller) -> str:
        return await operations.team_shutdown(caller, self.member, self.force)


class TeamMerge(ToolArguments):
    tool_name: ClassVar[str] = "team_merge"
    description: ClassVar[str] = (
        "Lead only. Bring a teammate's work into the user's working directory: its branch "
        "is squash-merged as unstaged changes for the user to review. On a conflict nothing "
        "is touched: you get an error naming the files, and the branch is kept. Returns "
        "the files changed."
    )
    member: ShortText = Field(description=_MEMBER)

    async def call(self, operations: TeamOperations, caller: Caller) -> str:
        return await operations.team_merge(caller, self.member)


class TeamCleanup(ToolArguments):
    tool_name: ClassVar[str] = "team_cleanup"
    description: ClassVar[str] = (
        "Lead only. End the team once its work is merged: stops the teammates still "
        "running, removes their worktrees and the branches already merged (unmerged "
        "branches are kept and named). Use it last. Returns a summary."
    )

    async def call(self, operations: TeamOperations, caller: Caller) -> str:
        return await operations.team_cleanup(caller)


class TeamView(ToolArguments):
    tool_name: ClassVar[str] = "team_view"
    description: ClassVar[str] = (
        "Lead only. Show a member's session to the human on the ensemble-tui screen, e.g. "
        "when you want them to look at its work or answer its question. Returns a "
        "confirmation."
    )
    member: ShortText = Field(description=f"{_MEMBER} 'lead' shows your own session.")

    async def call(self, operations: TeamOperations, caller: Caller) -> str:
        return await operations.team_view(caller, self.member)


class TeamStatus(ToolArguments):
    tool_name: ClassVar[str] = "team_status"
    description: ClassVar[str] = (
        "The team at a glance: each member with its status (working, idle, "
        "needs-permission, ...), current task and branch, and the task counts. Use it to "
        "decide what to do next. Returns a short text table."
    )

    async def call(self, operations: TeamOperations, caller: Caller) -> str:
        return await operations.team_status(caller)


class TeamMessage(ToolArguments):
    tool_name: ClassVar[str] = "team_message"
    description: ClassVar[str] = (
        "Send a message to one member; the lead is 'lead'. It arrives in their session "
        "as a user message naming you as the sender, and wakes them if they are idle. Use "
        "it to hand over results, ask or answer a question. Returns the message id."
    )
    to: ShortText = Field(description="The member to write to, e.g. 'alice' or 'lead'.")
    text: LongText = Field(description="The message, at most 10 KiB of UTF-8 text.")

    async def call(self, operations: TeamOperations, caller: Caller) -> str:
        return await operations.team_message(caller, self.to, self.text)


class TeamBroadcast(ToolArguments):
    tool_name: ClassVar[str] = "team_broadcast"
    description: ClassVar[str] = (
        "Send one message to every other member of the team, the lead included. Each of "
        "them is woken to read it, so use it sparingly. Returns the message id."
    )
    text: LongText = Field(description="The message, at most 10 KiB of UTF-8 text.")

    async def call(self, operations: TeamOperations, caller: Caller) -> str:
        return await operations.team_broadcast(caller, self.text)


class TeamResults(ToolArguments):
    tool_name: ClassVar[str] = "team_results"
    description: ClassVar[str] = (
        "Your inbox: the messages sent to you, and broadcasts, with sender, id and time, "
        "oldest first. Use it to collect teammates' results and replies. Returns the "
        "messages as text."
    )

    async def call(self, operations: TeamOperations, caller: Caller) -> str:
        return await operations.team_results(caller)


class TeamTasksList(ToolArguments):
    tool_name: ClassVar[str] = "team_tasks_list"
    description: ClassVar[str] = (
        "The team's task board: every task with its id, status (pending, blocked, "
        "in_progress, completed, cancelled), priority, assignee and dependencies. Use it "
        "to find a pending task to claim or to follow progress."
    )

    async def call(self, operations: TeamOperations, caller: Caller) -> str:
        return await operations.team_tasks_list(caller)


class TaskItem(NewTask):
    """One task: what to do, how urgent it is, and the ids of the tasks it waits for."""

    model_config = ConfigDict(extra="forbid", strict=True)

    content: LongText = Field(description="What to do, in one or two sentences.")


class TeamTasksAdd(ToolArguments):
    tool_name: ClassVar[str] = "team_tasks_add"
    description: ClassVar[str] = (
        "Add tasks to the team's board. A task whose dependencies are not all completed "
        "is blocked until they are; unknown ids and cycles are refused. Returns the new "
        f"task ids, in order. At most {MAX_TASKS_PER_CALL} tasks per call."
    )
    usage: ClassVar[str] = (
        'team_tasks_add(tasks=[{"content": "...", "priority": "medium", "depends_on": []}])'
    )
    tasks: list[TaskItem] = Field(
        min_length=1,
        max_length=MAX_TASKS_PER_CALL,
        description="The tasks: each {content, priority ('medium' if omitted), depends_on}.",
    )

    async def call(self, operations: TeamOperations, caller: Caller) -> str:
        specs = [
            TaskSpec(content=t.content, priority=t.priority, depends_on=t.depends_on)
            for t in self.tasks
        ]
        return await operations.team_tasks_add(caller, specs)


class TeamTasksComplete(ToolArguments):
    tool_name: ClassVar[str] = "team_tasks_complete"
    description: ClassVar[str] = (
        "Mark a task you claimed as completed, with a short result. Tasks that depended "
        "on it are unblocked. Returns the task and the tasks it unblocked."
    )
    task_id: ShortText = Field(description="The task's id, e.g. 't3'.")
    result: LongText | None = Field(
        default=None,
        description="What was done and where (files, commits), for the lead; optional.",
    )

    async def call(self, operations: TeamOperations, caller: Caller) -> str:
        return await operations.team_tasks_complete(caller, self.task_id, self.result)


class TeamClaim(ToolArguments):
    tool_name: ClassVar[str] = "team_claim"
    description: ClassVar[str] = (
        "Claim a pending task to work on it: it becomes in_progress, assigned to you. "
        "Claims are atomic: if someone got it first, or it is blocked, you get an error "
        "and should pick another. Returns the task's content."
    )
    task_id: ShortText = Field(description="The task's id, e.g. 't3'.")

    async def call(self, operations: TeamOperations, caller: Caller) -> str:
        return await operations.team_claim(caller, self.task_id)


class TeamReview(ToolArguments):
    tool_name: ClassVar[str] = "team_review"
    description: ClassVar[str] = (
        "Reviewer only. Give your verdict on the branch you were asked to review: 'approve' "
        "if it can be merged as it is, or 'request_changes' with reasons that say exactly "
        "what must change (they are sent to the teammate, who fixes and completes again). "
        "Call it once, then end your turn. Returns a confirmation."
    )
    verdict: Literal["approve", "request_changes"] = Field(
        description="'approve' or 'request_changes'."
    )
    reasons: LongText | None = Field(
        default=None,
        description="Why: what is right, or what must change (needed for request_changes).",
    )

    async def call(self, operations: TeamOperations, caller: Caller) -> str:
        return await operations.team_review(caller, self.verdict, self.reasons or "")


TOOLS: dict[str, type[ToolArguments]] = {
    model.tool_name: model
    for model in (
        TeamCreate,
        TeamSpawn,
        TeamFork,
        TeamShutdown,
        TeamMerge,
        TeamChoose,
        TeamHandoff,
        TeamCleanup,
        TeamView,
        TeamStatus,
        TeamMessage,
        TeamBroadcast,
        TeamResults,
        TeamTasksList,
        TeamTasksAdd,
        TeamTasksComplete,
        TeamClaim,
        TeamReview,
    )
}
"""Every team tool by name, in the order they are listed to agents."""
