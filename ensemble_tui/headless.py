"""`ensemble-tui run`: a team with no screen, its feed printed as it happens.

It starts OpenCode (or attaches to one), the team tool server and a lead, sends the
prompt, and returns once the lead and every teammate are idle with nothing waiting
for delivery.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from typing import NoReturn, TextIO

from ensemble_tui.composition import opencode_client, running_coordinator
from ensemble_tui.core.models import LEAD_NAME, TaskStatus, TeamStatus
from ensemble_tui.core.team.continuation import NO_PROGRESS_CAUSE, Outcome
from ensemble_tui.core.team.coordinator import Coordinator
from ensemble_tui.core.team.events import PromptSent, RunFailure, RunFinished, TeamEvent
from ensemble_tui.core.team.recovery import resume_team
from ensemble_tui.core.team.report import write_report
from ensemble_tui.errors import EnsembleError
from ensemble_tui.options import RunOptions


class RunFailed(EnsembleError):
    """The headless run could not finish; the message says why."""


# `run`'s exit statuses beyond 0 (done), 1 (an error, a timeout) and 2 (a bad argument).
EXIT_NO_PROGRESS = 3
EXIT_BUDGET = 4


class RunStopped(EnsembleError):
    """The team was paused before its work was done (no progress, a budget)."""

    def __init__(self, reason: str, exit_code: int) -> None:
        super().__init__(reason)
        self.exit_code = exit_code


def feed_printer(out: TextIO, *, as_json: bool) -> Callable[[TeamEvent], None]:
    """A feed subscriber that writes each event as a line (or a JSON object) to *out*."""

    def show(event: TeamEvent) -> None:
        out.write((event.to_json() if as_json else event.to_line()) + "\n")
        out.flush()

    return show


def fail(coordinator: Coordinator, reason: str) -> NoReturn:
    """End the run in error: `run.failed` is the last event, the reason the last line."""
    coordinator.record(RunFailure(text=reason))
    raise RunFailed(reason)


def member_in_error(coordinator: Coordinator) -> str | None:
    """The first member whose last turn ended in error and that is not over, said in full."""
    for state in coordinator.sessions:
        if not state.error or not state.idle:
            continue
        member = coordinator.member(state.member)
        if member is not None and member.status.ended:
            continue
        return f"{state.member} ended its turn in error: {state.error}"
    return None


def unfinished_work(coordinator: Coordinator) -> str | None:
    """Why a quiet team is not done: it is still active with tasks not completed."""
    team = coordinator.team
    if team is None:
        return None
    open_tasks = [
        task
        for task in coordinator.board.list_tasks(team.id)
        if task.status not in (TaskStatus.COMPLETED, TaskStatus.CANCELLED)
    ]
    if not open_tasks:
        return None
    listed = ", ".join(
        f"{task.id} {task.status.value}" + (f" by {task.assignee}" if task.assignee else "")
        for task in open_tasks[:10]
    )
    more = f" and {len(open_tasks) - 10} more" if len(open_tasks) > 10 else ""
    count = f"{len(open_tasks)} unfinished task{'s' if len(open_tasks) != 1 else ''}"
    return (
        f"everyone went quiet, but team {team.name} is still active with {count} "
        f"({listed}{more}) and nobody working on them; its branches are kept. Look at the "
        "feed above for who stopped and why, then run `ensemble-tui run --resume` or open "
        "the screen to carry on"
    )


async def settle(coordinator: Coordinator, limit: float, late: str) -> None:
    """Wait until the team is idle with nothing waiting, then end the run: in error if a
    member's turn failed, the limit passed, or the team stopped with tasks not done;
    stopped (RunStopped) if the team was paused by a budget or for lack of progress; else
    with `run.finished`.

    In until-done mode a quiet team with work open is continued (by the coordinator's
    one owner of continuation) and waited for again."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while True:
        try:
            await coordinator.wait_until_settled(limit=max(0.1, deadline - loop.time()))
        except TimeoutError:
            fail(coordinator, late)
        continuation = coordinator.continuation
        if coordinator.paused is not None or continuation is None:
            break
        if await continuation.step() not in (Outcome.CONTINUED, Outcome.BUSY):
            break
    pause = coordinator.paused
    if pause is not None:
        await finish_run(coordinator, f"paused: {pause.reason}")
        code = EXIT_NO_PROGRESS if pause.cause == NO_PROGRESS_CAUSE else EXIT_BUDGET
        raise RunStopped(f"the team was paused: {pause.reason}", code)
    error = member_in_error(coordinator) or unfinished_work(coordinator)
    if error is not None:
        fail(coordinator, error)
    if coordinator.until_done and coordinator.team is not None:
        await finish_run(coordinator, "until done: every task is done")
    else:
        await finish_run(coordinator, "the run ended: the lead and every teammate are idle")


async def finish_run(coordinator: Coordinator, reason: str) -> None:
    """Say the run is over, then give the team's report as the last event: the report
    written when the team ended, or one written now (for *reason*) for a team still open."""
    report = coordinator.report
    team = coordinator.team
    if team is not None:
        report = await write_report(coordinator, team, reason)
    coordinator.record(RunFinished(text="the lead and every teammate are idle"))
    if report is not None:
        coordinator.record(report)


async def drive_team(coordinator: Coordinator, prompt: str, limit: float) -> None:
    """Give a new lead *prompt* and wait until the whole team is idle (RunFailed if not,
    or if a member ended in error, or if the lead's model cannot be used)."""
    lead = await coordinator.start_lead()
    checked = await coordinator.check_model()
    if checked is not None and not checked.usable:
        fail(coordinator, checked.describe())
    coordinator.record(PromptSent(member=LEAD_NAME, text=prompt))
    await coordinator.prompt(lead, prompt)
    late = (
        f"the team did not finish within {limit:.0f}s "
        "(raise --timeout, or look at the feed above for who is stuck)"
    )
    await settle(coordinator, limit, late)


async def resume_and_wait(coordinator: Coordinator, limit: float) -> None:
    """Pick up the repository's unfinished team and wait until it is idle (no new prompt)."""
    active = coordinator.store.list_teams(TeamStatus.ACTIVE)
    if not active:
        raise RunFailed("there is no unfinished team in this repository to resume")
    team = max(active, key=lambda found: found.created)
    await resume_team(coordinator, team)
    await settle(coordinator, limit, f"the resumed team did not finish within {limit:.0f}s")


async def run_headless(options: RunOptions, out: TextIO = sys.stdout) -> None:
    """Run the team to quiescence, printing its feed; raises RunFailed on timeout."""
    async with opencode_client(options) as client, running_coordinator(options, client) as coord:
        coord.feed.subscribe(feed_printer(out, as_json=options.json_output), replay=True)
        if options.resume:
            await resume_and_wait(coord, options.timeout)
        else:
            await drive_team(coord, options.prompt, options.timeout)
