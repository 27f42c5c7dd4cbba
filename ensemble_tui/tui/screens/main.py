"""The main screen: the panes, the keys that act on the team, and typed accessors.

The app reaches its panes through this screen rather than through `App.query_one`,
which searches whichever screen is on top (a diff, a confirmation) and would miss them.
The team's keys are the screen's; what each does is its collaborator `TeamActions`.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, ClassVar

from textual import getters, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen

from ensemble_tui.core.states import MemberStatus
from ensemble_tui.tui.actions import TeamActions, TeamView
from ensemble_tui.tui.widgets.activity import ActivityColumn, ActivityLine, SpendChart
from ensemble_tui.tui.widgets.attention import AttentionBar
from ensemble_tui.tui.widgets.feed import MessageFeed
from ensemble_tui.tui.widgets.session import PromptBox, SessionPane
from ensemble_tui.tui.widgets.statusbar import StatusBar
from ensemble_tui.tui.widgets.taskboard import TaskBoard
from ensemble_tui.tui.widgets.teammates import TeammateList
from ensemble_tui.tui.widgets.timeline import Timeline, event_detail
from ensemble_tui.tui.widgets.transcript import Transcript

# The counting behind the glance and the dialogs come with the team, after the first frame.
if TYPE_CHECKING:
    from ensemble_tui.core.team.activity import GlanceSource, TeamGlance
    from ensemble_tui.core.team.read_model import MemberRow


class MainScreen(Screen[None]):
    """The team list (with each member's activity) on top, the timeline and the spend
    chart under it; the
    session pane beside the tasks and messages; the attention line and the status bar at
    the bottom."""

    # The team's keys keep their `app.` ids, which the users' keymaps name.
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("n", "next_attention", "Next waiting", id="app.next"),
        Binding("a", "allow_once", "Allow once", id="app.allow_once"),
        Binding("A", "allow_always", "Allow always", id="app.allow_always"),
        Binding("r", "reject", "Reject", id="app.reject"),
        Binding("d", "diff", "Diff", id="app.diff"),
        Binding("m", "merge", "Merge", id="app.merge"),
        Binding("x", "shutdown", "Shut down", id="app.shutdown"),
        Binding("S", "abort", "Stop turn", id="app.abort"),
        Binding("C", "cleanup", "Clean up", id="app.cleanup"),
        Binding("o", "open_in_opencode", "Open in OpenCode", id="app.open"),
        Binding("R", "report", "Report", id="app.report"),
        Binding("p", "pause", "Pause", id="app.pause"),
        Binding("u", "until_done", "Until done", id="app.until_done"),
        Binding("f", "fork", "Fork", id="app.fork"),
        Binding("F", "fork_many", "Fork N ways", id="app.fork_many"),
        Binding("K", "compare_forks", "Compare forks, keep one", id="app.compare"),
        Binding("H", "handoff", "Hand off", id="app.handoff"),
        Binding("P", "earlier_sessions", "Earlier sessions", id="app.earlier"),
        Binding("t", "toggle_timeline", "Timeline", id="main.timeline"),
    ]

    teammates = getters.query_one(TeammateList)
    activity = getters.query_one(ActivityColumn)
    timeline = getters.query_one(Timeline)
    spend = getters.query_one(SpendChart)
    session = getters.query_one(SessionPane)
    transcript = getters.query_one(Transcript)
    prompt = getters.query_one(PromptBox)
    tasks = getters.query_one(TaskBoard)
    messages = getters.query_one(MessageFeed)
    attention = getters.query_one(AttentionBar)
    status = getters.query_one(StatusBar)

    class Ready(Message):
        """The panes are mounted: the app can fill them."""

    def __init__(self, team: TeamView, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.team = team
        self.actions = TeamActions(self, team)
        """What the team's keys do."""
        self.glance: TeamGlance | None = None
        """What the sparklines draw; made for the first coordinator shown (a test may
        give one that has counted already)."""

    def compose(self) -> ComposeResult:
        with Horizontal(id="team"):
            yield TeammateList(id="teammates")
            yield ActivityColumn(id="activity")
        with Horizontal(id="glance"):
            yield Timeline(id="timeline")
            yield SpendChart(id="spend")
        with Horizontal(id="main"):
            yield SessionPane(id="session")
            with Vertical(id="side"):
                yield TaskBoard(id="tasks")
                yield MessageFeed(id="messages")
        yield AttentionBar(id="attention")
        yield StatusBar(id="status")

    def on_mount(self) -> None:
        self.post_message(self.Ready())

    def on_unmount(self) -> None:
        if self.glance is not None:
            self.glance.close()

    def attach_glance(self, coordinator: GlanceSource) -> None:
        """Start counting the activity and following the events of *coordinator*."""
        from ensemble_tui.core.team.activity import TeamGlance

        if self.glance is None or self.glance.coordinator is not coordinator:
            if self.glance is not None:
                self.glance.close()
            self.glance = TeamGlance(coordinator)

    def show_glance(self, rows: list[MemberRow], now: datetime, *, counts: bool = True) -> None:
        """Refresh the activity sparklines, the timeline and the spend chart. Without
        *counts* (at each batch of the stream), the timeline only, and the sparklines
        only if other members are beside the list: their counts (per 5 s) drawn at each
        batch would redraw them all many times a second for nothing the eye can tell
        (the clock's tick draws them every second)."""
        from ensemble_tui.core.team.activity import QUIET_AFTER_SECONDS

        glance = self.glance
        if glance is None:
            return
        beside = rows[round(self.teammates.scroll_y) :]
        if not counts and [row.name for row in beside] == self.activity.names:
            self.timeline.show(glance.events)
            return
        tokens, cost = sum(row.tokens for row in rows), sum(row.cost for row in rows)
        glance.spend.note(tokens, cost, now)
        lines = []
        for row in rows:
            quiet_for = glance.activity.quiet_for(row.name, now)
            quiet = (
                row.status is MemberStatus.WORKING
                and quiet_for is not None
                and quiet_for >= QUIET_AFTER_SECONDS
            )
            lines.append(ActivityLine(row.name, glance.activity.series(row.name, now), quiet))
        # Row for row with the list, also when the list has scrolled.
        self.activity.show(lines[round(self.teammates.scroll_y) :])
        self.timeline.show(glance.events)
        self.spend.show(glance.spend.tokens(now), tokens, cost)

    # The team's keys

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "toggle_timeline":
            return True
        return self.actions.can(action)

    def action_next_attention(self) -> None:
        """Show the next member with a request waiting for the human."""
        team = self.team
        waiting = [row.name for row in team.rows if row.needs_human]
        if not waiting:
            return
        after = waiting.index(team.shown) + 1 if team.shown in waiting else 0
        name = waiting[after % len(waiting)]
        self.teammates.select(name)
        team.show_member(name)

    def action_allow_once(self) -> None:
        self.actions.allow_once()

    def action_allow_always(self) -> None:
        self.actions.allow_always()

    def action_reject(self) -> None:
        self.actions.reject()

    def action_diff(self) -> None:
        if self.team.selected is not None:
            self.actions.diff(self.team.selected)

    def action_merge(self) -> None:
        if self.team.selected is not None:
            self.actions.preview_merge(self.team.selected)

    def action_shutdown(self) -> None:
        self.actions.shutdown(self.team.selected)

    def action_cleanup(self) -> None:
        self.actions.cleanup()

    def action_abort(self) -> None:
        self.actions.abort(self.team.shown)

    def action_fork(self) -> None:
        self.actions.fork(self.actions.fork_source(), many=False)

    def action_fork_many(self) -> None:
        self.actions.fork(self.actions.fork_source(), many=True)

    def action_handoff(self) -> None:
        self.actions.handoff(self.actions.fork_source())

    def action_compare_forks(self) -> None:
        if self.team.selected is not None:
            self.actions.compare_forks(self.team.selected)

    def action_earlier_sessions(self) -> None:
        self.actions.earlier_sessions(self.team.shown)

    async def action_open_in_opencode(self) -> None:
        await self.actions.open_in_opencode(self.team.shown)

    def action_pause(self) -> None:
        """Pause the team (no new prompts), or lift the pause."""
        self.actions.run("Pause", lambda c: c.toggle_pause())

    def action_until_done(self) -> None:
        """Turn until-done mode on or off."""
        self.actions.run("Until done", lambda c: _said(c.toggle_until_done()))

    def action_report(self) -> None:
        """Show the report of the last team that ended."""
        self.actions.show_report()

    @on(TeamActions.Finished)
    def _action_finished(self, message: TeamActions.Finished) -> None:
        from ensemble_tui.tui.screens.confirm import ConfirmScreen

        if message.unsent and not self.prompt.text.strip():
            self.prompt.text = message.unsent
        if message.show:
            self.app.push_screen(ConfirmScreen(message.title, message.text))
        elif message.refused:
            self.notify(message.text, title=message.title, severity="error")
        else:
            self.notify(message.text)
        self.team.refresh_team()
        self.refresh_bindings()

    @on(TeamActions.DiffReady)
    def _diff_ready(self, message: TeamActions.DiffReady) -> None:
        from ensemble_tui.tui.screens.diff import DiffScreen

        self.app.push_screen(DiffScreen(message.member, message.diff))

    @on(TeamActions.ForksCompared)
    def _forks_compared(self, message: TeamActions.ForksCompared) -> None:
        self.actions.choose_fork(message.views, message.member)

    @on(TeamActions.MergePreviewed)
    def _merge_previewed(self, message: TeamActions.MergePreviewed) -> None:
        self.actions.confirm_merge(message.member, message.result, message.check, message.review)

    def action_toggle_timeline(self) -> None:
        """Show or hide the timeline strip (and the spend chart beside it)."""
        strip = self.query_one("#glance")
        strip.display = not strip.display
        if not strip.display and self.timeline.has_focus:
            self.teammates.focus()

    @on(Timeline.EventChosen)
    def _event_chosen(self, message: Timeline.EventChosen) -> None:
        self.app.push_screen(event_detail(message.event))


async def _said(text: str) -> str:
    """A sentence already known, as the awaitable an action runs."""
    return text
