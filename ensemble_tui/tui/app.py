"""The ensemble screen: the session pane, the team, its tasks and messages, one app.

The app owns UI state in its message handlers; workers only talk to `TeamControl`
(the one way the screen acts on the team) and post what they got back.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from textual import events, work
from textual.app import App
from textual.binding import Binding, BindingType
from textual.css.query import NoMatches
from textual.message import Message
from textual.timer import Timer
from textual.worker import Worker

from ensemble_tui.core.states import LEAD_NAME
from ensemble_tui.errors import EnsembleError
from ensemble_tui.options import RunOptions
from ensemble_tui.settings_files import SettingsError
from ensemble_tui.tui.keys import KeyHints, check_keymap
from ensemble_tui.tui.screens.main import MainScreen
from ensemble_tui.tui.views import Clock, Connection, default_clock

# What the first frame does not need is imported where it is used (the team's events,
# OpenCode's models, the bridge, the panes' widgets, the other screens), so the screen
# shows at once; tests/tui/test_first_frame.py keeps it so.
if TYPE_CHECKING:
    from textual.command import Provider

    from ensemble_tui.core.team.control import TeamControl
    from ensemble_tui.core.team.coordinator import Coordinator
    from ensemble_tui.core.team.read_model import MemberRow, PendingRequest, TeamSnapshot
    from ensemble_tui.opencode.events import Event
    from ensemble_tui.opencode.models import MessageWithParts
    from ensemble_tui.tui.bridge import Bridge
    from ensemble_tui.tui.notices import EndedTurns
    from ensemble_tui.tui.widgets.feed import MessageFeed
    from ensemble_tui.tui.widgets.session import PromptBox
    from ensemble_tui.tui.widgets.taskboard import TaskBoard
    from ensemble_tui.tui.widgets.teammates import TeammateList

WELCOME = (
    "Tell the lead what to build. It plans the work, makes a team and spawns teammates, "
    "each in its own git worktree; they appear above as they start, their tasks and "
    "messages on the right. Their work comes back to your tree when you merge it (m)."
)
STARTUP_ERRORS = (EnsembleError, OSError)
# What the human does that must not wait behind the stream (not mouse moves: those come
# in floods and answer nothing).
INPUT_EVENTS = (events.Key, events.MouseDown, events.MouseScrollDown, events.MouseScrollUp)
# What the human types while the first frame shows the panes' outlines: held, and handled
# in order once the panes are there (a key is never lost, a prompt typed early is kept).
HELD_UNTIL_READY = (events.Key, events.Paste)


# How long a quit waits for the running team's machinery to stop before it exits anyway.
STOP_GRACE: float | None = 15.0


class StartFailedError(EnsembleError):
    """The team could not start (a setting refused, OpenCode missing...), so the screen
    closed; the message says why, and the command line says it as it says any refusal."""


def _team_commands() -> type[Provider]:
    from ensemble_tui.tui.commands import TeamCommands  # When the palette first opens.

    return TeamCommands


class EnsembleApp(App[None]):
    """Mission control for one team: see every member, talk to any, act on their work."""

    CSS_PATH = "app.tcss"
    TITLE = "ensemble"
    COMMANDS = App.COMMANDS | {_team_commands}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+q", "quit", "Quit", priority=True, id="app.quit"),
        Binding("i", "focus_prompt", "Prompt", id="app.prompt"),
        Binding("question_mark", "help", "Keys", id="app.help"),
    ]

    @dataclass
    class TeamStarted(Message):
        """OpenCode, the tool server and the coordinator (with its lead) are running."""

        coordinator: Coordinator

    @dataclass
    class StartFailed(Message):
        reason: str

    @dataclass
    class TranscriptLoaded(Message):
        session_id: str
        messages: list[MessageWithParts]

    def __init__(
        self,
        options: RunOptions,
        *,
        coordinator: Coordinator | None = None,
        clock: Clock = default_clock,
        keymap: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__()
        self.hints = KeyHints(self, keymap or {})
        """How each binding's key is shown, under the user's keymap (for every key hint)."""
        self.options = options
        self.clock = clock
        self.control: TeamControl | None = None
        self.snapshot: TeamSnapshot | None = None
        self.bridge: Bridge | None = None
        self.given = coordinator
        self.shown = LEAD_NAME
        self.selected: str | None = None
        self.rows: list[MemberRow] = []
        self.pending: list[PendingRequest] = []
        self.connection = Connection(options.url, "starting")
        self.loading: list[Event] | None = None
        self.stop_team = asyncio.Event()
        self.ready = asyncio.Event()
        """Set once the team is running and shown (for scripts and tests to await)."""
        self.team_worker: Worker[None] | None = None
        # True once the running team reached the screen (its worker then waits for the stop).
        self.team_shown = False
        self.main = MainScreen(self, self.on_panes_mounted, id="main-screen")
        self.ended_turns: EndedTurns | None = None
        """Members whose turn ended, not told yet (one toast for many); made with the
        first batch of the team's events."""
        self.ended_turns_timer: Timer | None = None
        self.queued: list[tuple[str, str]] = []
        """(member, text) sent from the prompt before the team was running: sent once it is."""
        self.failure: StartFailedError | None = None
        """Why the team could not start, once the screen closed for it."""
        self.held: list[Message] | None = []
        """Keys (and pastes) pressed before the panes were mounted; None once they are."""

    def get_default_screen(self) -> MainScreen:
        return self.main

    def post_message(self, message: Message) -> bool:
        if (
            self.held is not None
            and isinstance(message, HELD_UNTIL_READY)
            and not message.is_forwarded
        ):
            self.held.append(message)
            return True
        # Keys first: the bridge holds its next batch while a key is answered, and lets it
        # go once the answer is drawn. A key no widget stopped bubbles back up here: it is
        # the same key (forwarded), not another.
        if (
            isinstance(message, INPUT_EVENTS)
            and not message.is_forwarded
            and self.bridge is not None
        ):
            arrived = self.bridge.input_arrived()
            posted = super().post_message(message)
            self.call_later(self._input_handled, arrived, isinstance(message, events.Key))
            return posted
        return super().post_message(message)

    def _input_handled(self, arrived: float, key: bool) -> None:
        """Run after the app has handled an input (a key went on to the focused widget, a
        click to the screen): once that has handled it too and the screen is drawn, the
        bridge may post again."""
        if self.bridge is not None:
            target = self.focused if key and self.focused is not None else self.screen
            target.call_after_refresh(self.bridge.input_answered, arrived)

    def _label_keys(self) -> None:
        """The key hints of the panes' borders and the prompt, from the active keymap."""
        hints = self.hints
        enter = self.get_key_display(Binding("enter", ""))
        self.main.teammates.border_subtitle = f"{enter} show · " + hints.hint(
            ("app.diff", "diff"), ("app.merge", "merge"), ("app.shutdown", "stop")
        )
        self.main.session.prompt_keys = f"{enter} send · " + hints.hint(
            ("prompt.newline", "new line"), ("prompt.leave", "team list")
        )

    def on_panes_mounted(self) -> None:
        """Fill the panes just mounted (before they are first drawn), start the team."""
        self._label_keys()
        self.main.prompt.focus()
        self.main.session.show(LEAD_NAME, None, "starting OpenCode…")
        self.main.status.show(self.connection, None)
        self.call_after_refresh(self._collect_again)
        if self.given is not None:
            self.post_message(self.TeamStarted(self.given))
        else:
            # Once the first frame is drawn: the worker's thread (the settings' check, the
            # team's imports) would otherwise hold the GIL while the screen is laid out.
            self.call_after_refresh(self._start_team)
        self.set_interval(1.0, self._tick)
        # What was typed while the panes loaded goes to them now (the prompt has focus).
        held, self.held = self.held or [], None
        for message in held:
            self.post_message(message)

    @staticmethod
    def _collect_again() -> None:
        """Once the panes are drawn: the collector back on if the command line turned it
        off for the start-up, leaving out of its passes what lives as long as the app."""
        if not gc.isenabled():
            gc.freeze()
            gc.enable()

    def _start_team(self) -> None:
        self.team_worker = self.run_worker(self._run_team(), group="team", exit_on_error=False)

    async def _run_team(self) -> None:
        from ensemble_tui.tui.runtime import run_team

        try:
            await run_team(self.options, self._team_started, self.stop_team)
        except STARTUP_ERRORS as error:
            self.post_message(self.StartFailed(str(error)))

    def _team_started(self, coordinator: Coordinator) -> None:
        self.post_message(self.TeamStarted(coordinator))

    # Reacting to the team

    def on_ensemble_app_team_started(self, message: TeamStarted) -> None:
        coordinator = message.coordinator
        self.team_shown = True
        from ensemble_tui.core.team.control import TeamControl  # loaded by now: no cost
        from ensemble_tui.tui.bridge import Bridge

        self.control = TeamControl(coordinator)
        self.connection = Connection(coordinator.client.base_url, "connected")
        self.main.attach_glance(coordinator)
        self.bridge = Bridge(coordinator, self)
        self.bridge.attach()
        # What is alive now (the modules, the team's machinery, the panes) lives as long
        # as the app: the collector's full passes leave it out from here on, so they walk
        # what the stream makes, not the whole heap (a pass over the whole of it held
        # the loop, and a key pressed meanwhile, for 60 ms to hundreds under load).
        gc.freeze()
        self.show_member(LEAD_NAME)
        # run_team has sent the options' prompt (if any) to the lead already.
        queued, self.queued = self.queued, []
        for member, text in queued:
            self._send(member, text)
        self.ready.set()

    def on_ensemble_app_start_failed(self, message: StartFailed) -> None:
        # Said by the caller once the terminal is back, whole and on one line.
        self.failure = StartFailedError(message.reason)
        self.exit(return_code=1)

    def on_bridge_team_changed(self, message: Bridge.TeamChanged) -> None:
        if self.control is None or not self.main.is_attached:
            return
        # While the app closes its panes go one by one; a late batch draws nothing then.
        with contextlib.suppress(NoMatches), self.batch_update():
            self._show_team(message)

    def _show_team(self, message: Bridge.TeamChanged) -> None:
        from ensemble_tui.core.team.events import MemberViewed
        from ensemble_tui.tui.notices import EndedTurns, notice_for

        ended = self.ended_turns = self.ended_turns or EndedTurns()
        snapshot = self.snapshot = message.snapshot
        # The charts' counts: at the clock's tick.
        self.refresh_team(counts=message.replayed)
        if snapshot.tasks != self.main.tasks.last or message.replayed:
            self.main.tasks.show(snapshot.tasks)
        self.main.messages.add(snapshot.messages)
        self.pending = snapshot.pending
        self.main.attention.show_problem(snapshot.model_problem)
        self.main.attention.show(self.pending)
        state = "connected" if snapshot.connected else "reconnecting"
        self.connection = Connection(snapshot.server_url, state)
        self.main.status.show(
            self.connection,
            snapshot.totals,
            paused=snapshot.paused,
            until_done=snapshot.until_done,
        )
        for event in message.events:
            if isinstance(event, MemberViewed) and event.member:
                self.show_member(event.member)
            if not message.replayed and (notice := notice_for(event)) is not None:
                if notice.finished is not None:
                    ended.add(notice.finished)
                else:
                    self.notify(notice.text, title=notice.title, severity=notice.severity)
        self._tell_ended_turns()
        self.refresh_bindings()

    def _tell_ended_turns(self) -> None:
        """One toast for the turns that ended, now or when the last one is old enough."""
        if self.ended_turns is None:
            return
        wait = self.ended_turns.wait()
        if wait is None:
            return
        if wait > 0:
            if self.ended_turns_timer is None:
                self.ended_turns_timer = self.set_timer(wait, self._ended_turns_due)
            return
        notice = self.ended_turns.take()
        if notice is not None:
            self.notify(notice.text, title=notice.title, severity=notice.severity)

    def _ended_turns_due(self) -> None:
        self.ended_turns_timer = None
        self._tell_ended_turns()

    def refresh_team(self, *, counts: bool = True) -> None:
        """Show the team's rows (and, with *counts*, the activity and spend charts)."""
        if self.snapshot is None:
            return
        self.rows = self.snapshot.rows
        checked = self.snapshot.check_command is not None or self.snapshot.review_agent is not None
        self.main.teammates.show_check_column(checked)
        self.main.teammates.show(self.rows, self.clock())
        self.main.show_glance(self.rows, self.clock(), counts=counts)
        row = self.main.actions.row(self.shown)
        if row is not None and row.ended and not row.has_session:
            where = f"ended · {row.branch}" if row.branch else "ended"
        elif row is None or not row.has_session:
            where = "no session yet"
        else:
            where = row.branch or "your working tree"
            if row.checking:
                where += " · check running…"
            elif row.check is not None:
                where += f" · check {row.check.describe()}"
            if row.review is not None:
                where += f" · review {row.review.label}"
            if row.model:
                where = f"{where} · {row.model}"
            if row.forked_from:
                where = f"{where} · forked from {row.forked_from}"
            if row.earlier_sessions:
                count = row.earlier_sessions
                sessions = "session" if count == 1 else "sessions"
                where += f" · {count} earlier {sessions} ({self.hints.key('app.earlier')})"
        self.main.session.show(self.shown, row.status if row else None, where)

    def on_unmount(self) -> None:
        if self.bridge is not None:
            self.bridge.detach()
        # Given back to the collector: what the app leaves behind (in tests, where apps
        # come and go in one process) is collected as usual.
        gc.unfreeze()

    def _tick(self) -> None:
        if self.snapshot is not None and self.main.is_attached:
            with contextlib.suppress(NoMatches):
                self.refresh_team()

    def member_names(self) -> list[str]:
        return [row.name for row in self.rows]

    # The session pane

    def show_member(self, name: str) -> None:
        """Switch the session pane (and the prompt) to *name*'s session."""
        self.call_later(self._switch, name)

    async def _switch(self, name: str) -> None:
        control = self.control
        if control is None or self.bridge is None:
            return
        target = control.attach_target(name)
        self.shown = name
        self.main.teammates.mark_shown(name)
        self.bridge.follow(target[1] if target else None)
        self.refresh_team()
        transcript = self.main.transcript
        if target is None:
            self.loading = None
            await transcript.reset(None, f"{name} has no session yet.")
            return
        _, session_id, directory = target
        self.loading = []
        await transcript.reset(directory, f"Loading {name}'s session…")
        self._load_transcript(name, session_id)
        self.refresh_bindings()

    @work(exclusive=True, group="transcript", exit_on_error=False)
    async def _load_transcript(self, name: str, session_id: str) -> None:
        assert self.control is not None
        try:
            messages = await self.control.transcript(name)
        except EnsembleError as refusal:
            from ensemble_tui.tui.actions import TeamActions

            self.main.post_message(
                TeamActions.Finished(f"Could not load {name}'s session", str(refusal), True)
            )
            messages = []
        self.post_message(self.TranscriptLoaded(session_id, messages))

    async def on_ensemble_app_transcript_loaded(self, message: TranscriptLoaded) -> None:
        if self.bridge is None or message.session_id != self.bridge.followed:
            return
        transcript = self.main.transcript
        await transcript.load(
            message.messages, WELCOME if self.shown == LEAD_NAME else "Nothing said yet."
        )
        early, self.loading = self.loading or [], None
        await transcript.apply(early)

    async def on_bridge_session_events_arrived(self, message: Bridge.SessionEventsArrived) -> None:
        if self.bridge is None or message.session_id != self.bridge.followed:
            return
        if not self.main.is_attached:
            return
        if self.loading is not None:
            self.loading.extend(message.events)
        else:
            # Drawn once when all is applied, not at each part mounted on the way; while
            # the app closes its panes go one by one, and a late batch draws nothing.
            with contextlib.suppress(NoMatches), self.batch_update():
                await self.main.transcript.apply(message.events)

    def on_prompt_box_submitted(self, message: PromptBox.Submitted) -> None:
        self._send(self.shown, message.text)

    def _send(self, member: str, text: str) -> None:
        if self.control is None:
            # Still connecting: the text is kept and goes as soon as the team runs.
            self.queued.append((member, text))
            self.notify(
                f"Still connecting to OpenCode: this goes to {member} as soon as it is connected.",
                title="Queued",
            )
            return

        async def send(control: TeamControl) -> str:
            return await control.send(member, text)

        self.main.actions.run(f"Not sent to {member}", send, quiet=True, unsent=text)

    # The app's own keys: they work before the team has started

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if self.control is None:
            return action in {"quit", "help", "focus_prompt", "leave_prompt", "command_palette"}
        if action == "show_selected":
            row = self.main.actions.row(self.selected)
            return row is not None and row.has_session
        return True

    def action_help(self) -> None:
        from ensemble_tui.tui.screens.help import HelpScreen

        self.push_screen(HelpScreen(self.hints))

    def action_focus_prompt(self) -> None:
        self.main.prompt.focus()

    def action_leave_prompt(self) -> None:
        self.main.teammates.focus()

    def action_show_lead(self) -> None:
        self.main.teammates.select(LEAD_NAME)
        self.show_member(LEAD_NAME)

    def action_show_selected(self) -> None:
        if self.selected is not None:
            self.show_member(self.selected)

    def on_teammate_list_member_highlighted(self, message: TeammateList.MemberHighlighted) -> None:
        if message.name != self.selected:
            self.selected = message.name
            self.refresh_bindings()

    def on_teammate_list_member_chosen(self, message: TeammateList.MemberChosen) -> None:
        self.selected = message.name
        self.show_member(message.name)

    def on_task_board_task_chosen(self, message: TaskBoard.TaskChosen) -> None:
        from ensemble_tui.tui.screens.detail import task_detail

        self.push_screen(task_detail(message.task))

    def on_message_feed_message_chosen(self, message: MessageFeed.MessageChosen) -> None:
        from ensemble_tui.tui.screens.detail import message_detail

        self.push_screen(message_detail(message.message))

    async def action_quit(self) -> None:
        """Stop the team's machinery (OpenCode sessions and branches are kept), then exit."""
        if self.bridge is not None:
            self.bridge.detach()
            self.bridge = None
        # Nothing may read the store once the team's machinery is closing.
        self.control = None
        self.stop_team.set()
        if self.team_worker is not None:
            if not self.team_shown:
                # Still starting (the settings' check, OpenCode's version, its server, the
                # team): nothing there waits for the stop, so the start is cut short; the
                # server it may have started is stopped on the way out.
                self.team_worker.cancel()
            try:
                async with asyncio.timeout(STOP_GRACE):
                    await self.team_worker.wait()
            except Exception:
                pass
        self.exit()


def make_app(
    options: RunOptions,
    *,
    coordinator: Coordinator | None = None,
    clock: Clock = default_clock,
    keys: Mapping[str, str] | None = None,
) -> EnsembleApp:
    """The app, for the CLI and the tests alike; give *coordinator* to show one already
    running, and *keys* (binding id -> key) to rebind keys."""
    problems = check_keymap(keys or {})
    if problems:
        raise SettingsError("; ".join(problems))
    app = EnsembleApp(options, coordinator=coordinator, clock=clock, keymap=keys or {})
    if keys:
        app.set_keymap(dict(keys))
    return app
