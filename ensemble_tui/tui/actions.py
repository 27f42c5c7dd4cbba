"""The team actions of the screen: answering requests, diff, merge, shut down, clean up.

Each action runs one `TeamControl` call in a worker (`_act`), which posts what it got
back; the handlers here show it. A confirmation says what will happen first.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from textual import work
from textual.app import App, SuspendNotSupported
from textual.message import Message

from ensemble_tui.composition import RunOptions
from ensemble_tui.core.git.merge import MergeResult, MergeStatus
from ensemble_tui.core.git.worktrees import BranchDiff
from ensemble_tui.core.models import MemberStatus
from ensemble_tui.core.store.checks import CheckResult
from ensemble_tui.core.team.control import TeamControl
from ensemble_tui.core.team.read_model import MemberRow, PendingRequest
from ensemble_tui.errors import EnsembleError
from ensemble_tui.opencode.models import PermissionReply
from ensemble_tui.tui import texts
from ensemble_tui.tui.keys import KeyHints
from ensemble_tui.tui.runtime import attach_command, run_attached
from ensemble_tui.tui.screens.confirm import ConfirmScreen, QuestionScreen, TextScreen
from ensemble_tui.tui.screens.diff import DiffScreen
from ensemble_tui.tui.screens.help import HelpScreen
from ensemble_tui.tui.screens.main import MainScreen

NEEDS_A_TEAM = {"diff", "merge", "shutdown", "cleanup"}


class TeamActions(App[None]):
    """The actions on the team, and the state they read; `EnsembleApp` builds on it."""

    options: RunOptions
    control: TeamControl | None
    shown: str
    selected: str | None
    rows: list[MemberRow]
    pending: list[PendingRequest]
    main: MainScreen
    hints: KeyHints

    @dataclass
    class ActionFinished(Message):
        """A worker's action on the team ended: what happened, or why nothing did."""

        title: str
        text: str
        refused: bool = False
        show: bool = False
        unsent: str | None = None
        """Text the human typed that did not reach its session (put back in the prompt)."""

    # Running actions

    def _act(
        self,
        title: str,
        action: Callable[[TeamControl], Awaitable[str]],
        *,
        show: bool = False,
        quiet: bool = False,
        unsent: str | None = None,
    ) -> None:
        """Run one TeamControl action in a worker and report what it said."""
        control = self.control
        if control is None:
            return

        async def act() -> None:
            try:
                text = await action(control)
            except EnsembleError as refusal:
                refused = self.ActionFinished(title, str(refusal), True, show, unsent)
                self.post_message(refused)
                return
            if not quiet:
                self.post_message(self.ActionFinished(title, text, show=show))

        self.run_worker(act(), group="actions", exit_on_error=False)

    def on_team_actions_action_finished(self, message: ActionFinished) -> None:
        if message.unsent and not self.main.prompt.text.strip():
            self.main.prompt.text = message.unsent
        if message.show:
            self.push_screen(ConfirmScreen(message.title, message.text))
        elif message.refused:
            self.notify(message.text, title=message.title, severity="error")
        else:
            self.notify(message.text)
        self.refresh_team()
        self.refresh_bindings()

    # Actions: the keys and the command palette reach these

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        control = self.control
        if control is None:
            return action in {"quit", "help", "focus_prompt", "leave_prompt", "command_palette"}
        selected = self._row(self.selected)
        first = self.pending[0] if self.pending else None
        if action in NEEDS_A_TEAM and not control.has_team:
            return False
        checks = {
            "show_selected": selected is not None and selected.has_session,
            "allow_once": first is not None,
            "allow_always": first is not None and first.permission is not None,
            "reject": first is not None and first.permission is not None,
            "next_attention": any(row.needs_human for row in self.rows),
            "diff": selected is not None and selected.has_branch,
            "merge": selected is not None
            and selected.has_branch
            and selected.status is not MemberStatus.MERGED,
            "shutdown": selected is not None and not selected.is_lead and not selected.ended,
            "abort": control.is_working(self.shown),
            "open_in_opencode": control.session_id(self.shown) is not None,
        }
        return checks.get(action, True)

    def action_next_attention(self) -> None:
        waiting = [row.name for row in self.rows if row.needs_human]
        if not waiting:
            return
        after = waiting.index(self.shown) + 1 if self.shown in waiting else 0
        name = waiting[after % len(waiting)]
        self.main.teammates.select(name)
        self.show_member(name)

    def action_allow_once(self) -> None:
        request = self.pending[0] if self.pending else None
        if request is None:
            return
        if request.question is not None:
            self.push_screen(
                QuestionScreen(request.member, request.question), self._answered(request)
            )
            return
        self._reply(request, "once")

    def action_allow_always(self) -> None:
        if self.pending:
            self._reply(self.pending[0], "always")

    def action_reject(self) -> None:
        if not self.pending:
            return
        request = self.pending[0]

        def rejected(reason: str | None) -> None:
            if reason is not None:
                self._reply(request, "reject", reason.strip() or None)

        prompt = f"Reject: {request.describe()}. Why? (the agent reads this; may be empty)"
        self.push_screen(TextScreen("Reject", prompt, "a reason, or just enter"), rejected)

    def _reply(
        self, request: PendingRequest, reply: PermissionReply, reason: str | None = None
    ) -> None:
        self.pending = [p for p in self.pending if p.id != request.id]
        self.main.attention.show(self.pending)
        self._act(
            f"{request.member}'s request", lambda c: c.answer_permission(request, reply, reason)
        )

    def _answered(self, request: PendingRequest) -> Callable[[list[list[str]] | None], None]:
        def answered(answers: list[list[str]] | None) -> None:
            if answers is not None:
                self._act(
                    f"{request.member}'s question", lambda c: c.answer_question(request, answers)
                )

        return answered

    def action_diff(self) -> None:
        name = self.selected
        if name is not None:
            self._fetch_diff(name)

    @work(exclusive=True, group="diff", exit_on_error=False)
    async def _fetch_diff(self, name: str) -> None:
        assert self.control is not None
        try:
            diff = await self.control.diff(name)
        except EnsembleError as refusal:
            self.post_message(self.ActionFinished(f"No diff for {name}", str(refusal), True))
            return
        self.post_message(self.DiffReady(name, diff))

    @dataclass
    class DiffReady(Message):
        member: str
        diff: BranchDiff

    def on_team_actions_diff_ready(self, message: DiffReady) -> None:
        self.push_screen(DiffScreen(message.member, message.diff))

    def action_merge(self) -> None:
        if self.selected is not None:
            self._preview_merge(self.selected)

    @work(exclusive=True, group="merge", exit_on_error=False)
    async def _preview_merge(self, name: str) -> None:
        control = self.control
        assert control is not None
        try:
            result = await control.preview_merge(name)
            check = None
            command = control.check_command
            if command is not None and result.status is not MergeStatus.CONFLICT:
                said = f"Checking {name}'s branch first ({command})…"
                self.post_message(self.ActionFinished("Merge", said))
                check = await control.check(name)
        except EnsembleError as refusal:
            self.post_message(
                self.ActionFinished(f"Cannot merge {name}", str(refusal), True, show=True)
            )
            return
        self.post_message(self.MergePreviewed(name, result, check))

    @dataclass
    class MergePreviewed(Message):
        member: str
        result: MergeResult
        check: CheckResult | None = None

    def on_team_actions_merge_previewed(self, message: MergePreviewed) -> None:
        name = message.member
        check = message.check
        if (
            check is not None
            and not check.passed
            and message.result.status is not (MergeStatus.CONFLICT)
        ):
            title, body = texts.check_refusal(name, check)

            def overridden(yes: bool | None) -> None:
                if yes:
                    self._act(f"Merge of {name}", lambda c: c.merge(name, override=True), show=True)

            self.push_screen(ConfirmScreen(title, body, "Merge anyway"), overridden)
            return
        title, body, can_merge = texts.merge_preview(name, message.result, self._row(name))

        def confirmed(yes: bool | None) -> None:
            if yes:
                self._act(f"Merge of {name}", lambda c: c.merge(name), show=True)

        self.push_screen(ConfirmScreen(title, body, "Merge" if can_merge else None), confirmed)

    def action_shutdown(self) -> None:
        row = self._row(self.selected)
        if row is None or row.is_lead:
            return
        title, body = texts.shutdown_preview(row)

        def confirmed(yes: bool | None) -> None:
            if yes:
                self._act(f"Shut down {row.name}", lambda c: c.shutdown(row.name))

        self.push_screen(ConfirmScreen(title, body, "Shut down"), confirmed)

    def action_cleanup(self) -> None:
        def confirmed(yes: bool | None) -> None:
            if yes:
                self.notify("Cleaning up: shutting teammates down, then merging…")
                self._act("Clean-up", lambda c: c.cleanup(), show=True)

        self.push_screen(
            ConfirmScreen("Clean up the team?", texts.CLEANUP_BODY, "Clean up"), confirmed
        )

    def action_abort(self) -> None:
        name = self.shown
        self._act(f"Stop {name}", lambda c: c.abort(name))

    async def action_open_in_opencode(self) -> None:
        target = self.control.attach_target(self.shown) if self.control else None
        if target is None:
            return
        url, session_id, directory = target
        command = attach_command(
            url,
            session_id,
            directory,
            password=self.control.server_password if self.control else None,
            binary=self.options.opencode_bin,
        )
        try:
            # Batching first: nothing may be drawn while the terminal is OpenCode's.
            with self.batch_update(), self.suspend():
                await run_attached(command)
        except SuspendNotSupported:
            self.notify("This terminal cannot hand over to OpenCode.", severity="error")
            return
        self.show_member(self.shown)

    def action_help(self) -> None:
        self.push_screen(HelpScreen(self.hints))

    def show_member(self, name: str) -> None:
        """Switch the session pane to *name* (the app does it)."""
        raise NotImplementedError

    def refresh_team(self) -> None:
        """Read the team again after an action (the app does it)."""
        raise NotImplementedError

    def _row(self, name: str | None) -> MemberRow | None:
        return next((row for row in self.rows if row.name == name), None)
