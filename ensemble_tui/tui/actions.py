"""What the human's keys do to the team: answer requests, diff, merge, shut down, clean up.

`TeamActions` is a collaborator of the main screen (which owns the keys and asks it what
can run now). It reads the app's picture of the team through `TeamView`, asks first where
an action cannot be undone, runs one `TeamControl` call in a worker, and posts what came
back to the screen, which shows it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from textual.app import SuspendNotSupported
from textual.message import Message
from textual.screen import Screen

from ensemble_tui.core.states import LEAD_NAME, MemberStatus
from ensemble_tui.errors import EnsembleError
from ensemble_tui.tui import texts
from ensemble_tui.tui.runtime import attach_command, run_attached
from ensemble_tui.tui.screens.confirm import ConfirmScreen, QuestionScreen, TextScreen
from ensemble_tui.tui.screens.detail import DetailScreen
from ensemble_tui.tui.widgets.attention import AttentionBar
from ensemble_tui.tui.widgets.transcript import Transcript

# The results' types (git, checks, forks, OpenCode's models) come with the team, after
# the first frame, and the fork dialogs' when one is opened; they are only named here.
if TYPE_CHECKING:
    from ensemble_tui.core.git.merge import MergeResult
    from ensemble_tui.core.git.worktrees import BranchDiff
    from ensemble_tui.core.store.checks import CheckResult
    from ensemble_tui.core.team.control import TeamControl
    from ensemble_tui.core.team.forking import ForkView
    from ensemble_tui.core.team.read_model import MemberRow, PendingRequest, TeamSnapshot
    from ensemble_tui.opencode.models import PermissionReply
    from ensemble_tui.options import RunOptions
    from ensemble_tui.tui.screens.forks import ForkAsked, HandoffAsked

NEEDS_A_TEAM = {
    "diff",
    "merge",
    "shutdown",
    "cleanup",
    "fork",
    "fork_many",
    "compare_forks",
    "handoff",
}

_Found = TypeVar("_Found")


class TeamView(Protocol):
    """The app's picture of the team, which the actions read (the app keeps it current)."""

    options: RunOptions
    control: TeamControl | None
    shown: str
    """Whose session the session pane shows."""
    selected: str | None
    """The member highlighted in the team list."""
    rows: list[MemberRow]
    pending: list[PendingRequest]
    snapshot: TeamSnapshot | None
    """The team as last shown."""

    def show_member(self, name: str) -> None: ...

    def refresh_team(self) -> None: ...


class TeamActions:
    """The team's operations as the human asks for them, one `TeamControl` call each."""

    @dataclass
    class Finished(Message):
        """A worker's action on the team ended: what happened, or why nothing did."""

        title: str
        text: str
        refused: bool = False
        show: bool = False
        unsent: str | None = None
        """Text the human typed that did not reach its session (put back in the prompt)."""

    @dataclass
    class DiffReady(Message):
        member: str
        diff: BranchDiff

    @dataclass
    class ForksCompared(Message):
        member: str
        views: list[ForkView]

    @dataclass
    class MergePreviewed(Message):
        member: str
        result: MergeResult
        check: CheckResult | None = None
        """The check of the branch as it is (None: no `check` is set)."""
        review: str | None = None
        """Why its review does not let it merge (None: approved, or no `review_agent`)."""

    def __init__(self, screen: Screen[Any], team: TeamView) -> None:
        self.screen = screen
        """Where the workers run and their results are posted."""
        self.team = team

    # What can run now

    def can(self, action: str) -> bool | None:
        """Whether *action* can do something now (False hides its key and palette entry)."""
        team = self.team
        control = team.control
        if control is None:
            return False
        selected = self.row(team.selected)
        first = team.pending[0] if team.pending else None
        if action in NEEDS_A_TEAM and not control.has_team:
            return False
        checks = {
            "allow_once": first is not None,
            "allow_always": first is not None and first.permission is not None,
            "reject": first is not None and first.permission is not None,
            "next_attention": any(row.needs_human for row in team.rows),
            "diff": selected is not None and selected.has_branch,
            "merge": selected is not None
            and selected.has_branch
            and selected.status is not MemberStatus.MERGED,
            "shutdown": selected is not None and not selected.is_lead and not selected.ended,
            "abort": control.is_working(team.shown),
            "fork": self._workable(self.fork_source()),
            "fork_many": self._workable(self.fork_source()),
            "handoff": self._workable(self.fork_source()),
            "compare_forks": selected is not None and bool(selected.fork_group),
            "earlier_sessions": (shown := self.row(team.shown)) is not None
            and shown.earlier_sessions > 0,
            "open_in_opencode": control.session_id(team.shown) is not None,
            "report": team.snapshot is not None and team.snapshot.report is not None,
            "pause": control.has_team or control.paused is not None,
        }
        return checks.get(action, True)

    def fork_source(self) -> str:
        """Whom `f`, `F` and `H` act on: the selected member, the lead if none is."""
        return self.team.selected or LEAD_NAME

    def _workable(self, name: str) -> bool:
        row = self.row(name)
        return row is not None and row.has_session and not row.ended

    def row(self, name: str | None) -> MemberRow | None:
        """The team list's row of *name*, if it has one."""
        return next((row for row in self.team.rows if row.name == name), None)

    # Running them

    def run(
        self,
        title: str,
        action: Callable[[TeamControl], Awaitable[str]],
        *,
        show: bool = False,
        quiet: bool = False,
        unsent: str | None = None,
    ) -> None:
        """Run one TeamControl action in a worker and report what it said."""
        control = self.team.control
        if control is None:
            return
        screen = self.screen

        async def act() -> None:
            try:
                text = await action(control)
            except EnsembleError as refusal:
                screen.post_message(self.Finished(title, str(refusal), True, show, unsent))
                return
            if not quiet:
                screen.post_message(self.Finished(title, text, show=show))

        screen.run_worker(act(), group="actions", exit_on_error=False)

    def allow_once(self) -> None:
        """Allow the oldest waiting permission once, or answer its question."""
        pending = self.team.pending
        request = pending[0] if pending else None
        if request is None:
            return
        if request.question is not None:
            self.screen.app.push_screen(
                QuestionScreen(request.member, request.question), self._answered(request)
            )
            return
        self._reply(request, "once")

    def allow_always(self) -> None:
        if self.team.pending:
            self._reply(self.team.pending[0], "always")

    def reject(self) -> None:
        """Reject the oldest waiting permission, with a reason the human may give."""
        if not self.team.pending:
            return
        request = self.team.pending[0]

        def rejected(reason: str | None) -> None:
            if reason is not None:
                self._reply(request, "reject", reason.strip() or None)

        prompt = f"Reject: {request.describe()}. Why? (the agent reads this; may be empty)"
        self.screen.app.push_screen(
            TextScreen("Reject", prompt, "a reason, or just enter"), rejected
        )

    def _reply(
        self, request: PendingRequest, reply: PermissionReply, reason: str | None = None
    ) -> None:
        team = self.team
        team.pending = [p for p in team.pending if p.id != request.id]
        self.screen.query_one(AttentionBar).show(team.pending)
        self.run(
            f"{request.member}'s request", lambda c: c.answer_permission(request, reply, reason)
        )

    def _answered(self, request: PendingRequest) -> Callable[[list[list[str]] | None], None]:
        def answered(answers: list[list[str]] | None) -> None:
            if answers is not None:
                self.run(
                    f"{request.member}'s question", lambda c: c.answer_question(request, answers)
                )

        return answered

    def _fetch(
        self,
        group: str,
        refused: str,
        get: Callable[[TeamControl], Awaitable[_Found]],
        ready: Callable[[_Found], Message],
    ) -> None:
        """Get something from the team in a worker (one per *group* at a time); post
        *ready* of it, or the refusal under the title *refused*."""
        control = self.team.control
        if control is None:
            return
        screen = self.screen

        async def fetch() -> None:
            try:
                found = await get(control)
            except EnsembleError as refusal:
                screen.post_message(self.Finished(refused, str(refusal), True))
                return
            screen.post_message(ready(found))

        screen.run_worker(fetch(), group=group, exclusive=True, exit_on_error=False)

    def diff(self, name: str) -> None:
        """Fetch *name*'s diff in a worker; the screen shows it when it is ready."""
        self._fetch(
            "diff",
            f"No diff for {name}",
            lambda control: control.diff(name),
            lambda diff: self.DiffReady(name, diff),
        )

    def preview_merge(self, name: str) -> None:
        """Try *name*'s merge in a worker; the screen asks to confirm what it would do."""
        control = self.team.control
        if control is None:
            return
        screen = self.screen

        async def preview() -> None:
            from ensemble_tui.core.git.merge import MergeStatus

            try:
                result = await control.preview_merge(name)
                check = None
                review = None
                command = control.check_command
                if command is not None and result.status is not MergeStatus.CONFLICT:
                    said = f"Checking {name}'s branch first ({command})…"
                    screen.post_message(self.Finished("Merge", said))
                    check = await control.check(name)
                passed = check is None or check.passed
                if passed and result.status is not MergeStatus.CONFLICT:
                    review = await control.review_blocker(name)
            except EnsembleError as refusal:
                refused = self.Finished(f"Cannot merge {name}", str(refusal), True, show=True)
                screen.post_message(refused)
                return
            screen.post_message(self.MergePreviewed(name, result, check, review))

        screen.run_worker(preview(), group="merge", exclusive=True, exit_on_error=False)

    def confirm_merge(
        self,
        name: str,
        result: MergeResult,
        check: CheckResult | None,
        review: str | None = None,
    ) -> None:
        """Say what the merge of *name* would do, and merge if the human says yes; a branch
        whose check did not pass, or that no review approved, is merged only if the human
        says "merge anyway"."""
        from ensemble_tui.core.git.merge import MergeStatus

        refused = None
        if result.status is not MergeStatus.CONFLICT:
            if check is not None and not check.passed:
                refused = texts.check_refusal(name, check)
            elif review is not None:
                refused = texts.review_refusal(name, review)
        if refused is not None:
            refusal_title, refusal = refused

            def overridden(yes: bool | None) -> None:
                if yes:
                    merging = f"Merge of {name}"
                    self.run(merging, lambda c: c.merge(name, override=True), show=True, quiet=True)

            self.screen.app.push_screen(
                ConfirmScreen(refusal_title, refusal, "Merge anyway"), overridden
            )
            return
        title, body, can_merge = texts.merge_preview(name, result, self.row(name))

        def confirmed(yes: bool | None) -> None:
            if yes:
                # Its toast (`member.merged`) says what came back; only a refusal needs a
                # dialog, so no dialog appears under the next keys the human types.
                self.run(f"Merge of {name}", lambda c: c.merge(name), show=True, quiet=True)

        self.screen.app.push_screen(
            ConfirmScreen(title, body, "Merge" if can_merge else None), confirmed
        )

    def shutdown(self, name: str | None) -> None:
        """Shut *name* down (its work committed first), once the human confirms."""
        row = self.row(name)
        if row is None or row.is_lead:
            return
        title, body = texts.shutdown_preview(row)

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.run(f"Shut down {row.name}", lambda c: c.shutdown(row.name))

        self.screen.app.push_screen(ConfirmScreen(title, body, "Shut down"), confirmed)

    def cleanup(self) -> None:
        """Shut every teammate down, merge their work and end the team, once confirmed."""

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.screen.notify("Cleaning up: shutting teammates down, then merging…")
                self.run("Clean-up", lambda c: c.cleanup(), show=True)

        self.screen.app.push_screen(
            ConfirmScreen("Clean up the team?", texts.CLEANUP_BODY, "Clean up"), confirmed
        )

    def show_report(self) -> None:
        """Show the report of the last team that ended, whole."""
        snapshot = self.team.snapshot
        report = snapshot.report if snapshot is not None else None
        if report is not None:
            self.screen.app.push_screen(
                DetailScreen(f"Report: team {report.team}", report.text or "")
            )

    def fork(self, name: str, *, many: bool) -> None:
        """Ask for a name and prompt(s), then fork *name* once, or once per prompt."""
        from ensemble_tui.tui.screens.forks import ForkScreen  # its widgets: when asked

        def asked(answer: ForkAsked | None) -> None:
            if answer is None:
                return
            if many:
                self.run(f"Fork {name}", lambda c: c.fork_many(name, answer.name, answer.prompts))
            else:
                self.run(f"Fork {name}", lambda c: c.fork(name, answer.name, answer.prompts[0]))

        self.screen.app.push_screen(ForkScreen(name, many=many), asked)

    def handoff(self, name: str) -> None:
        """Ask how to hand *name*'s work on, then do it (or queue it behind its turn)."""
        from ensemble_tui.tui.screens.forks import HandoffScreen

        def asked(answer: HandoffAsked | None) -> None:
            if answer is not None:
                self.run(
                    f"Hand-off of {name}",
                    lambda c: c.handoff(name, answer.mode, answer.text, answer.agent),
                )

        self.screen.app.push_screen(HandoffScreen(name), asked)

    def compare_forks(self, name: str) -> None:
        """Show *name*'s fork group side by side; keep the one chosen, once confirmed."""
        self._fetch(
            "compare",
            f"No forks of {name}",
            lambda control: control.compare_forks(name),
            lambda views: self.ForksCompared(name, views),
        )

    def choose_fork(self, views: list[ForkView], selected: str) -> None:
        """Side by side; the fork kept is merged and the others shut down, once confirmed."""
        from ensemble_tui.tui.screens.forks import CompareScreen

        def chosen(name: str | None) -> None:
            if name is None:
                return
            title, body = texts.choose_preview(name, views)

            def confirmed(yes: bool | None) -> None:
                if yes:
                    self.run(f"Keep {name}", lambda c: c.choose_fork(name), show=True)

            self.screen.app.push_screen(ConfirmScreen(title, body, "Keep it"), confirmed)

        self.screen.app.push_screen(CompareScreen(views, selected), chosen)

    def earlier_sessions(self, name: str) -> None:
        """Show the sessions *name* worked in before its current one."""
        control = self.team.control
        if control is None:
            return
        screen = self.screen

        async def fetch() -> None:
            parts = []
            for earlier in control.earlier_sessions(name):
                try:
                    messages = await control.earlier_transcript(earlier)
                except EnsembleError as refusal:
                    messages, note = [], f"\n\n(could not read it: {refusal})"
                else:
                    note = ""
                parts.append(texts.earlier_session(earlier, messages) + note)
            body = "\n\n".join(parts) or "No earlier sessions."
            screen.post_message(self.Finished(f"{name}'s earlier sessions", body, show=True))

        screen.run_worker(fetch(), group="earlier", exclusive=True, exit_on_error=False)

    def abort(self, name: str) -> None:
        self.run(f"Stop {name}", lambda c: c.abort(name))

    async def open_in_opencode(self, name: str) -> None:
        """Hand the terminal to `opencode attach` on *name*'s session until it exits."""
        control = self.team.control
        target = control.attach_target(name) if control else None
        if control is None or target is None:
            return
        url, session_id, directory = target
        command = attach_command(
            url,
            session_id,
            directory,
            password=control.server_password,
            binary=self.team.options.opencode_bin,
        )
        app = self.screen.app
        transcript = self.screen.query_one(Transcript)
        opened = transcript.open_parts()
        try:
            # Batching first: nothing may be drawn while the terminal is OpenCode's.
            with app.batch_update(), app.suspend():
                await run_attached(command)
        except SuspendNotSupported:
            self.screen.notify("This terminal cannot hand over to OpenCode.", severity="error")
            return
        # The session is read again (OpenCode may have added to it), its open folds kept.
        transcript.keep_open = opened
        self.team.show_member(name)
