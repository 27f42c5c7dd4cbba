"""The words the coordinator says to agents: first prompts, digests, deliveries.

Kept in one place so they read consistently and tests can check them. Agents see
the team tools as `ensemble_<tool>`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ensemble_tui.core.models import Member, Message, Task, TaskStatus
from ensemble_tui.core.store.notices import Notice

TOOL_PREFIX = "ensemble_"

LEAD_SYSTEM = f"""\
You are the lead of a team of coding agents run by ensemble-tui. You plan the work and
coordinate; teammates do it in parallel, each in its own git worktree and branch.
Team tools ({TOOL_PREFIX}*): team_create a team, team_tasks_add tasks (with depends_on
for order), team_spawn teammates (each with a clear prompt naming its task ids),
team_status, team_message / team_broadcast, team_results for your inbox, team_merge a
finished teammate's branch into the user's working tree, team_shutdown, team_cleanup
when everything is done. Teammates report to you with messages; you are woken when one
arrives. A teammate spawned with plan_approval=true sends you its plan first: reply
"approved" (with any advice after it) to give it write access, or say what to change.
Keep messages short; do not reply to acknowledgements."""


def teammate_context(member: Member, team_name: str, teammates: Sequence[str]) -> str:
    """Who a teammate is: its team, its place, its tools and the protocol it follows."""
    others = ", ".join(name for name in teammates if name != member.name) or "none yet"
    if member.plan_approval and not member.read_only:
        place = (
            f"You work in your own git worktree ({member.worktree_path}) on branch "
            f"{member.branch}, but you start in plan mode: you cannot edit files or run "
            "commands yet. First send your plan to the lead with team_message, then wait: "
            "you get write access when the lead approves it."
        )
        commit = "Once approved, commit your work on your branch (git add -A && git commit -m ...)"
    elif member.read_only:
        place = (
            "You are read-only: you cannot edit files or run commands. Read, think, and "
            "report what you find."
        )
        commit = "Report your findings"
    else:
        place = (
            f"You work in your own git worktree ({member.worktree_path}) on branch "
            f"{member.branch}. Edit and run commands only there; the user's checkout is "
            "not yours."
        )
        commit = "Commit your work on your branch (git add -A && git commit -m ...)"
    return f"""\
You are {member.name}, a teammate in team {team_name} (run by ensemble-tui).
The lead is `lead`; your teammates: {others}.
{place}

Team tools ({TOOL_PREFIX}*): team_tasks_list, team_claim a task, team_tasks_complete it,
team_message someone (the lead is `lead`), team_broadcast, team_results to read your
inbox, team_status.

Protocol:
1. Claim your task with team_claim (if it is blocked, wait: you will be told when it is free).
2. Do it.
3. {commit}.
4. Complete the task with team_tasks_complete and a one-line result.
5. Report once to the lead with team_message: a short result. Then stop.
Do not reply to thanks or acknowledgements."""


def teammate_first_prompt(
    member: Member, team_name: str, teammates: Sequence[str], task_prompt: str
) -> str:
    """The first prompt of a teammate: who it is, its team, its task, tools and protocol."""
    context = teammate_context(member, team_name, teammates)
    return f"{context}\n\nYour task from the lead:\n{task_prompt}"


def fork_first_prompt(
    member: Member, source: str, team_name: str, teammates: Sequence[str], task_prompt: str
) -> str:
    """The first prompt of a fork: the conversation above was *source*'s; now it is its own."""
    context = teammate_context(member, team_name, teammates)
    return f"""\
[ensemble] This session is a fork: everything above happened in {source}'s conversation,
which goes on without you. From here on you are a new member of the team, with a worktree
and branch of your own, started from the user's current commit ({member.base_commit});
changes {source} made that are not in that commit are not in your worktree. Tools that only
the lead may call are not yours, even if you see them used above.

{context}

Your task:
{task_prompt}"""


def compaction_reminder(context: str) -> str:
    """What a member's next prompt starts with after its conversation was summarized."""
    return (
        "[ensemble] Your conversation was summarized, so here again is who you are and "
        f"how the team works:\n\n{context}"
    )


def handoff_note(sender: str, note: str) -> str:
    """The first words of a fresh session after a `new` hand-off."""
    return (
        f"[ensemble] This is a fresh session: {sender} handed the work over to you with "
        f"this note.\n\n{note}"
    )


def lead_digest(
    team_name: str | None, members: Sequence[Member], tasks: Sequence[Task], unread: int
) -> str:
    """A short state of the team, sent as `system` with every prompt to the lead."""
    if team_name is None:
        return "ensemble: no team yet (create one with team_create)."
    people = ", ".join(f"{m.name} {m.status.value}" for m in members if m.name != "lead")
    counts: dict[str, int] = {}
    for task in tasks:
        counts[task.status.value] = counts.get(task.status.value, 0) + 1
    board = ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "no tasks"
    return (
        f"ensemble team {team_name}: teammates: {people or 'none'}; tasks: {board}; "
        f"unread messages for you: {unread}."
    )


_MARKER = re.compile(r"\[ensemble delivery ([mn0-9 ]+)\]")


def delivery_text(messages: Sequence[Message], notices: Sequence[Notice]) -> str:
    """One user message carrying every waiting message (full text) and notice.

    It ends with a marker naming what it carries, so that after a crash the
    coordinator can tell which deliveries reached the session and not send them twice.
    """
    blocks = [f"[ensemble] {notice.text}" for notice in notices]
    for message in messages:
        audience = "everyone" if message.recipient is None else "you"
        blocks.append(f"Message from {message.sender} to {audience}:\n{message.text}")
    tokens = [f"m{m.id}" for m in messages] + [f"n{n.id}" for n in notices]
    blocks.append(f"[ensemble delivery {' '.join(tokens)}]")
    return "\n\n".join(blocks)


def without_delivery_marker(text: str) -> str:
    """The text as a person reads it: the delivery marker is for the coordinator."""
    return _MARKER.sub("", text).rstrip()


def delivered_tokens(text: str) -> set[str]:
    """The delivery tokens (`m12`, `n4`) named by markers in a session's message text."""
    return {token for match in _MARKER.finditer(text) for token in match.group(1).split()}


def task_line(task: Task) -> str:
    """One task as an agent reads it: id, status, priority, who holds it, what it waits on."""
    holder = f" (held by {task.assignee})" if task.assignee else ""
    waits = f" after {', '.join(task.depends_on)}" if task.depends_on else ""
    return f"{task.id} [{task.status.value}, {task.priority.value}]{holder}{waits}: {task.content}"


def board_text(tasks: Sequence[Task]) -> str:
    if not tasks:
        return "The task board is empty."
    return "\n".join(task_line(task) for task in tasks)


def open_task_count(tasks: Sequence[Task]) -> int:
    return sum(task.status not in (TaskStatus.COMPLETED, TaskStatus.CANCELLED) for task in tasks)
