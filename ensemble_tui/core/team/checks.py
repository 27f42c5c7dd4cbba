"""Checks before merge: the `check` command run in a teammate's worktree, and its verdict.

The check runs when a teammate's turn ends with all its tasks completed, and again before
any merge (a result for the same commit and command is reused); a pass sends that commit
to review when a `review_agent` is set (`review.py`). Its work is committed
first, so every result belongs to a commit. A check that does not pass is stored, told
to the feed, and sent to the teammate; a merge of such a branch is refused with the
reason, unless the human overrides it on the screen.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ensemble_tui.core.errors import Refused
from ensemble_tui.core.git.commands import GitError, open_repo, resolve_commit
from ensemble_tui.core.models import LEAD_NAME, Member, TaskStatus, Team
from ensemble_tui.core.store.checks import CheckOutcome, CheckResult
from ensemble_tui.core.team.events import CheckFailed, CheckPassed, CheckStarted, MergeBlocked
from ensemble_tui.core.team.sessions import SessionState

if TYPE_CHECKING:
    from ensemble_tui.core.team.coordinator import Coordinator

log = logging.getLogger(__name__)

OUTPUT_LINES = 40
OUTPUT_CHARS = 4000


@dataclass(frozen=True)
class CommandRun:
    """How one run of a shell command ended."""

    outcome: CheckOutcome
    exit_code: int | None
    output: str
    seconds: float


def output_tail(raw: bytes) -> str:
    """The last lines of a command's output, as text (at most OUTPUT_CHARS)."""
    text = raw.decode("utf-8", errors="replace").rstrip()
    tail = "\n".join(text.splitlines()[-OUTPUT_LINES:])
    return tail[-OUTPUT_CHARS:]


async def run_check_command(command: str, cwd: Path, limit: float) -> CommandRun:
    """Run *command* with the shell in *cwd*; past *limit* seconds its whole process group is
    killed (a `make test` leaves no test runner behind)."""
    started = time.monotonic()
    try:
        process = await asyncio.create_subprocess_shell(
            command,
            cwd=cwd,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
    except OSError as error:
        return CommandRun(CheckOutcome.NOT_RUN, None, str(error), 0.0)
    try:
        async with asyncio.timeout(limit):
            raw, _ = await process.communicate()
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        await process.wait()
        said = f"(stopped after {limit:g}s)"
        return CommandRun(CheckOutcome.TIMED_OUT, None, said, time.monotonic() - started)
    except asyncio.CancelledError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        raise
    seconds = time.monotonic() - started
    code = process.returncode
    outcome = CheckOutcome.PASSED if code == 0 else CheckOutcome.FAILED
    return CommandRun(outcome, code, output_tail(raw), seconds)


def _head(path: Path) -> str:
    return resolve_commit(open_repo(path), "HEAD", "HEAD")


def failure_text(result: CheckResult) -> str:
    """What a check that did not pass says: the command, how it ended, its last output."""
    on = f" on {result.commit_sha[:8]}" if result.commit_sha else ""
    output = f"\n\n{result.output}" if result.output else ""
    return f"the check `{result.command}` {result.describe()}{on}{output}"


class Checks:
    """Runs the team's `check` command on teammates' branches; one run per member at once."""

    def __init__(self, coordinator: Coordinator) -> None:
        self._coordinator = coordinator
        self._locks: dict[str, asyncio.Lock] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.running: set[str] = set()
        """The members whose check runs now (the screen shows it)."""

    @property
    def command(self) -> str | None:
        """The check command, or None when no check is set."""
        return self._coordinator.settings.check

    def latest(self, team: Team) -> dict[str, CheckResult]:
        """The newest result per member."""
        return self._coordinator.store.checks.latest_checks(team.id)

    async def check(self, team: Team, member: Member, *, reason: str) -> CheckResult | None:
        """Run the check on *member*'s branch (its work committed first), or reuse the
        result for the same commit and command; None when no check is set."""
        command = self.command
        if command is None or member.branch is None:
            return None
        lock = self._locks.setdefault(member.name, asyncio.Lock())
        async with lock:
            return await self._check(team, member, command, reason)

    async def _check(self, team: Team, member: Member, command: str, reason: str) -> CheckResult:
        coordinator = self._coordinator
        store = coordinator.store
        path = member.worktree_path
        head: str | None = None
        run: CommandRun | None = None
        if path is None or not path.exists():
            run = CommandRun(CheckOutcome.NOT_RUN, None, "its worktree is gone", 0.0)
        else:
            try:
                await coordinator.commit_member_work(member, f"check before {reason}")
                head = await asyncio.to_thread(_head, path)
            except GitError as error:
                run = CommandRun(CheckOutcome.NOT_RUN, None, str(error), 0.0)
        latest = store.checks.latest_check(team.id, member.name)
        reusable = latest is not None and latest.commit_sha == head and latest.command == command
        if run is None and head is not None and reusable and latest is not None:
            return latest
        if run is None and path is not None:
            self.running.add(member.name)
            coordinator.record(CheckStarted(member=member.name, command=command, commit=head))
            try:
                run = await run_check_command(command, path, coordinator.settings.check_timeout)
            finally:
                self.running.discard(member.name)
        assert run is not None
        result = store.checks.add_check(
            team.id,
            member.name,
            command,
            run.outcome,
            commit_sha=head,
            exit_code=run.exit_code,
            output=run.output,
            seconds=run.seconds,
        )
        self._tell(result)
        if not result.passed:
            await self._send_failure(team, result)
        elif head is not None:
            coordinator.reviews.request(team, member, head)
        return result

    async def _send_failure(self, team: Team, result: CheckResult) -> None:
        """Tell a teammate that is still at work that its check failed (an ended one has
        no one to tell: its branch is kept and the refusal names the failure)."""
        coordinator = self._coordinator
        member = coordinator.store.get_member(team.id, result.member)
        if member is None or member.status.ended:
            return
        coordinator.delivery.notify(
            result.member,
            f"Your check failed: {failure_text(result)}\n\nFix it, commit, and complete "
            "your task again (or tell the lead what is wrong); your branch is not merged "
            "until the check passes.",
        )
        state = coordinator.session_of(result.member)
        if state is not None:
            await coordinator.delivery.deliver_pending(state)

    def _tell(self, result: CheckResult) -> None:
        coordinator = self._coordinator
        seconds = round(result.seconds, 1)
        if result.passed:
            coordinator.record(
                CheckPassed(
                    member=result.member,
                    command=result.command,
                    commit=result.commit_sha,
                    seconds=seconds,
                )
            )
            return
        coordinator.record(
            CheckFailed(
                member=result.member,
                text=result.output,
                command=result.command,
                commit=result.commit_sha,
                outcome=result.outcome.value,
                exit_code=result.exit_code,
                seconds=seconds,
            )
        )

    async def gate_merge(self, team: Team, member: Member, *, override: bool) -> CheckResult | None:
        """Check *member*'s branch before a merge; refuse (Refused) unless it passed or the
        human overrides."""
        result = await self.check(team, member, reason="merge")
        if result is None or result.passed or override:
            return result
        reason = (
            f"The merge of {member.name} is refused because {failure_text(result)}\n\n"
            f"The branch {member.branch} is kept; {member.name} was told. It merges once "
            "the check passes (the human can merge it anyway from the screen)."
        )
        self._coordinator.record(MergeBlocked(member=member.name, text=failure_text(result)))
        raise Refused(reason)

    def after_turn(self, state: SessionState) -> None:
        """A member's turn ended: check its branch if it has completed all its tasks."""
        coordinator = self._coordinator
        team = coordinator.team
        reviewing = coordinator.reviews.agent is not None
        if self.command is None and not reviewing:
            return
        if team is None or state.member == LEAD_NAME or not state.idle:
            return
        member = coordinator.store.get_member(team.id, state.member)
        if member is None or member.branch is None or member.status.ended:
            return
        held = [t for t in coordinator.board.list_tasks(team.id) if t.assignee == member.name]
        if any(t.status is TaskStatus.IN_PROGRESS for t in held):
            return
        if not any(t.status is TaskStatus.COMPLETED for t in held):
            return
        task = asyncio.create_task(self._after_turn(team, member), name=f"check-{member.name}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _after_turn(self, team: Team, member: Member) -> None:
        coordinator = self._coordinator
        async with coordinator.operation():
            try:
                checked = await self.check(team, member, reason="the end of its turn")
                if checked is None:
                    # No check is set: the review follows the completion itself.
                    await coordinator.reviews.request_current(team, member)
            except Exception:
                log.exception("the check of %s failed to run", member.name)

    async def close(self) -> None:
        """Stop the checks that still run (the team's machinery is stopping)."""
        for task in list(self._tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
